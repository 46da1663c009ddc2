"""The submit package's public surface is what its __init__ re-exports; this pins it."""

from __future__ import annotations

import flywheel.submit
from flywheel.errors import FlywheelError
from flywheel.submit import errors


def test_public_api_is_pinned() -> None:
    assert sorted(flywheel.submit.__all__) == [
        "JobFailedError",
        "JobsApiError",
        "JobsAuthError",
        "JobsClient",
        "JobsTarget",
        "JobsUnreachableError",
        "entrypoint",
        "find_checkout",
        "find_token",
        "runtime_env",
    ]
    for name in flywheel.submit.__all__:
        assert getattr(flywheel.submit, name) is not None


def test_every_submit_error_is_a_flywheel_error_and_a_stdlib_error() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, FlywheelError)
        stdlib = [
            b
            for b in cls.__mro__
            if b.__module__ == "builtins" and b not in (Exception, BaseException, object)
        ]
        assert stdlib, cls
