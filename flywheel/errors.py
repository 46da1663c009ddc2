"""One exception tree for flywheel.

Every error a user can cause is a ``FlywheelError``; each child also subclasses the
stdlib type that fits, so ``except ValueError`` keeps working for callers who do not
know about flywheel. The CLI maps the tree to one-line messages in one place
(``flywheel.cli``); the HTTP API maps it to 4xx in one place.
"""

from __future__ import annotations


class FlywheelError(Exception):
    """Base of every error flywheel raises on purpose. ``str(err)`` is one line."""

    exit_code = 1


class ConfigError(FlywheelError, ValueError):
    """A setting, flag or environment variable is invalid or contradicts another."""

    exit_code = 2


class TaxonomyError(ConfigError):
    """The taxonomy file is not valid YAML or not ``classes: {name: [tag, ...]}``."""


class SourceError(FlywheelError, FileNotFoundError):
    """An ingest source is missing, unreadable or of an unknown kind."""

    exit_code = 2


class StorageError(FlywheelError, OSError):
    """The data root, the catalog or object storage cannot be reached or written."""

    exit_code = 3


class CommitConflictError(StorageError):
    """Another writer committed to a table while this run was preparing its commit."""


class QueryError(FlywheelError, ValueError):
    """A SQL query is invalid, or tries to write."""

    exit_code = 2


class NotFoundError(FlywheelError, LookupError):
    """A named thing (table, model version, queue, task) does not exist."""

    exit_code = 2
