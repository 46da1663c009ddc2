"""``python -m flywheel.cli`` with the loop's commands registered (until flywheel/cli.py
registers them itself), for the tests that run the loop in a child process."""

from __future__ import annotations

import sys

from flywheel.cli import cli, main
from flywheel.loop.cli import COMMANDS

for command in COMMANDS:
    if command.name not in cli.commands:
        cli.add_command(command)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
