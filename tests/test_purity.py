"""The sans-IO core never touches sockets, threads, event loops or databases."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = [*sorted((ROOT / "libbatchat").glob("_*.py")), ROOT / "libbatchat/__init__.py"]
BANNED = {"socket", "asyncio", "threading", "selectors", "sqlite3", "subprocess"}
# Stdlib modules the core may use although they import a banned module
# themselves (logging keeps a module-level lock); preloading them keeps them
# out of the count, while the source scan below still catches direct imports.
ALLOWED_CARRIERS = ["logging"]

PROBE = """
import importlib, sys
for name in {carriers!r}:
    importlib.import_module(name)
before = set(sys.modules)
importlib.import_module({module!r})
print(" ".join(sorted({banned!r} & (set(sys.modules) - before))))
"""


def module_name(path: Path) -> str:
    return "libbatchat" if path.name == "__init__.py" else f"libbatchat.{path.stem}"


def test_the_core_is_all_there() -> None:
    names = {p.name for p in CORE}
    assert {"_connection.py", "_grammar.py", "_buffer.py", "__init__.py"} <= names


def probe(module: str) -> str:
    """The banned modules that importing ``module`` adds, space-separated."""
    code = PROBE.format(carriers=ALLOWED_CARRIERS, module=module, banned=BANNED)
    # -S: no site-packages .pth hooks, so only the module's own imports count;
    # the repository root is the working directory, so the package is found.
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_importing_the_module_imports_no_io(path: Path) -> None:
    assert probe(module_name(path)) == ""


def test_the_probe_sees_a_banned_import() -> None:
    assert probe("selectors") == "selectors"


def imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
            if node.module == "time":
                found |= {f"time.{alias.name}" for alias in node.names}
    return found


def sleeps(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "sleep"
        and isinstance(node.value, ast.Name)
        and node.value.id == "time"
        for node in ast.walk(tree)
    )


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_source_imports_no_io_and_never_sleeps(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = imports(tree)
    assert not found & BANNED
    assert "time.sleep" not in found
    assert not sleeps(tree)


def test_the_scanner_sees_what_it_must_refuse() -> None:
    bad = ast.parse(
        "import socket.x\nfrom asyncio import run\nfrom time import sleep\n"
        "from . import threading\nimport time\ntime.sleep(1)\n"
    )
    assert {"socket", "asyncio", "time.sleep"} <= imports(bad)
    assert "threading" not in imports(bad)  # a relative import is ours
    assert sleeps(bad)
    assert not sleeps(ast.parse("import time\ntime.monotonic()\nx.sleep()\n"))
