"""The console scripts find the programs under their installed or tree name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from libbatchat import programs

ROOT = Path(__file__).resolve().parent.parent


def test_the_tree_name_is_used_when_the_installed_one_is_missing() -> None:
    module = programs.load("server", ("no_such_package_here", "frontends"))
    assert module.__name__ == "frontends.server"
    assert callable(module.main)


def test_the_installed_name_comes_first(tmp_path: Path, monkeypatch) -> None:
    # A package of that name (as the wheel installs it) wins over the tree.
    package = tmp_path / "batchat_frontends"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "server.py").write_text("def main():\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(programs, "PACKAGES", ("fake_frontends", "frontends"))
    package.rename(tmp_path / "fake_frontends")
    assert programs.server() == 42


def test_a_missing_program_or_dependency_is_not_hidden(
    tmp_path: Path, monkeypatch
) -> None:
    with pytest.raises(ModuleNotFoundError, match="none of a_pkg, b_pkg"):
        programs.load("server", ("a_pkg", "b_pkg"))
    package = tmp_path / "broken_frontends"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "server.py").write_text("import no_such_dependency_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_anywhere"):
        programs.load("server", ("broken_frontends",))


@pytest.mark.parametrize(
    ("name", "entry"), [("batchat-repl", programs.repl), ("batchat-gui", programs.gui)]
)
def test_the_entry_points_run_the_programs(capsys, monkeypatch, name, entry) -> None:
    monkeypatch.setattr(programs, "PACKAGES", ("no_such_package_here", "frontends"))
    monkeypatch.setattr(sys, "argv", [name, "--version"])
    with pytest.raises(SystemExit) as done:
        entry()
    assert done.value.code == 0
    assert capsys.readouterr().out.strip()


def test_the_bot_entry_point_runs_the_program(capsys, monkeypatch) -> None:
    monkeypatch.setattr(programs, "PACKAGES", ("no_such_package_here", "frontends"))
    monkeypatch.setattr(sys, "argv", ["batchat-bot", "--version"])
    with pytest.raises(SystemExit) as done:
        programs.bot()
    assert done.value.code == 0
    assert capsys.readouterr().out.strip()
