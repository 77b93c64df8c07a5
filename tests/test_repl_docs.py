"""docs/repl.md lists every REPL command; README has the quick start."""

from __future__ import annotations

from pathlib import Path

from frontends.repl.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def test_every_command_and_alias_is_documented() -> None:
    doc = (ROOT / "docs" / "repl.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert f"`/{command.name}" in doc, command.name
        for alias in command.aliases:
            assert f"`/{alias}`" in doc, alias


def test_the_readme_starts_two_repls() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count("batchat-repl --") >= 2 and "docs/repl.md" in readme
