"""Until the lead registers ``submit`` and ``jobs`` in flywheel/cli.py, tests add them to
the CLI group themselves; once they are registered this does nothing."""

from __future__ import annotations

from flywheel.cli import cli
from flywheel.submit.cli import COMMANDS


def ensure_submit_commands() -> None:
    for command in COMMANDS:
        if command.name not in cli.commands:
            cli.add_command(command)
