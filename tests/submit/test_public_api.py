"""The submit package's errors (its public names are pinned in tests/test_public_api.py)."""

from __future__ import annotations

from flywheel.errors import FlywheelError
from flywheel.submit import errors


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
