"""The public surface is what __init__ re-exports; this pins it."""

import flywheel


def test_public_api_is_pinned() -> None:
    assert sorted(flywheel.__all__) == ["FlywheelError", "Lake", "Settings", "sql"]
    for name in flywheel.__all__:
        assert hasattr(flywheel, name)


def test_every_error_is_a_flywheel_error_and_a_stdlib_error() -> None:
    from flywheel import errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    for cls in classes:
        assert issubclass(cls, flywheel.FlywheelError)
        if cls is not flywheel.FlywheelError:
            assert any(b.__module__ == "builtins" and b is not Exception for b in cls.__mro__), cls
