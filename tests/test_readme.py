"""The README's examples match the CLI exactly: every `flywheel ...` line of its bash
blocks parses against the real command line (each optional ``[...]`` both left out and
given), and the lines that need only an ingested lake run on the embedded defaults."""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import click
import pytest

from flywheel.cli import cli, main

README = Path(__file__).resolve().parents[1] / "README.md"
# Lines that run on a lake holding only ingested samples (no model, queue or server).
RUNNABLE = {"sql", "tables", "duckdb-init", "models", "status"}


def bash_blocks(section: str | None = None) -> list[str]:
    """The README's bash blocks, continuations joined: all of them, or those of the
    section whose heading starts with ``section`` (up to the next heading)."""
    text = README.read_text()
    if section is not None:
        found = re.search(
            rf"^#{{2,6}} {re.escape(section)}[^\n]*\n(.*?)(?=^#{{2,6}} |\Z)", text, re.S | re.M
        )
        assert found, f"README has no section {section!r}"
        text = found.group(1)
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [block.replace("\\\n", " ") for block in blocks]


def readme_commands(section: str | None = None) -> list[str]:
    """The `flywheel` command lines of the README's bash blocks (of one section)."""
    commands = []
    for block in bash_blocks(section):
        for line in block.splitlines():
            code = _strip_comment(line)
            found = re.search(r"(?:^|\$\()\s*(flywheel\s.*)", code)
            if found:
                commands.append(found.group(1).rstrip(") &"))
    return commands


def _strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a # inside quotes is kept)."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "'\"" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1] == " "):
            return line[:i]
    return line


def variants(command: str) -> list[list[str]]:
    """The command with its ``[...]`` options left out, and with each given (the first
    of ``a|b`` alternatives)."""
    bare = re.sub(r"\s*\[[^\]]*\]", "", command)
    full = re.sub(r"\[([^\]]*)\]", lambda m: m.group(1).split(" | ")[0], command)
    out = []
    for text in (bare, full):
        words = shlex.split(text)
        cut = next((i for i, w in enumerate(words) if w in (">", "|", "&&", "&")), len(words))
        # A choice written as a|b|c stands for its first value.
        words = [w.split("|")[0] if re.fullmatch(r"[\w-]+(\|[\w-]+)+", w) else w
                 for w in words[1:cut]]  # fmt: skip
        out.append(words)
    return out


def parse(args: list[str]) -> None:
    """Parse ``flywheel ARGS`` down to the verb's own options, running nothing."""
    ctx = cli.make_context("flywheel", list(args))
    command: click.Command = cli
    rest = _unparsed(ctx)
    while isinstance(command, click.Group) and rest:
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        command, rest = sub, _unparsed(ctx)
    if command.name != "submit":  # submit passes its verb's arguments through
        assert not rest, f"left over: {rest}"


def _unparsed(ctx: click.Context) -> list[str]:
    # Click 8.2 keeps a group's verb in protected_args (deprecated, going in Click 9).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*ctx.protected_args, *ctx.args]


def test_the_readme_has_the_commands_this_test_reads() -> None:
    commands = readme_commands()
    assert len(commands) > 25
    verbs = {shlex.split(c)[1] for c in commands}
    assert {"ingest", "sql", "train", "select", "queue", "loop", "duckdb-init"} <= verbs


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_parses(command: str) -> None:
    for args in variants(command):
        try:
            parse(args)
        except click.UsageError as err:
            pytest.fail(f"README: `flywheel {shlex.join(args)}`: {err.format_message()}")


def test_readme_commands_that_need_only_a_lake_run(
    filled_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = []
    for command in readme_commands():
        args = variants(command)[0]
        if args[0] not in RUNNABLE or "--as-of" in args:
            continue
        code = main(["--root", str(filled_root), *args])
        _, err = capsys.readouterr()
        assert code == 0, f"`flywheel {shlex.join(args)}`: {err}"
        ran.append(args[0])
    assert {"sql", "tables", "duckdb-init", "models", "status"} <= set(ran)
