"""Every ```python block of docs/client.md runs, as a program, against a server.

Each block gets a fresh server (so account names never collide between
blocks) and finds it through BATCHAT_HOST and BATCHAT_PORT, as documented.
The blocks of docs/server.md start servers of their own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from libbatchat.adapters import threaded
from tests.adapters_harness import FAST, HOST, WAIT

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
BLOCKS = BLOCK.findall((DOCS / "client.md").read_text(encoding="utf-8"))
SERVER_BLOCKS = BLOCK.findall((DOCS / "server.md").read_text(encoding="utf-8"))


def run_example(source: str, tmp_path: Path, env: dict[str, str]) -> None:
    script = tmp_path / "example.py"
    script.write_text(source, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        check=False,
        text=True,
        timeout=3 * WAIT,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_client_doc_example_runs(index: int, tmp_path: Path) -> None:
    with threaded.Server(HOST, 0, limits=FAST) as server:
        env = {**os.environ, "BATCHAT_HOST": HOST, "BATCHAT_PORT": str(server.port)}
        run_example(BLOCKS[index], tmp_path, env)


@pytest.mark.parametrize("index", range(len(SERVER_BLOCKS)))
def test_server_doc_example_runs(index: int, tmp_path: Path) -> None:
    run_example(SERVER_BLOCKS[index], tmp_path, dict(os.environ))


BOT_BLOCKS = BLOCK.findall((DOCS / "bots.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("index", range(len(BOT_BLOCKS)))
def test_bots_doc_example_runs(index: int, tmp_path: Path) -> None:
    # Bot blocks define a bot (and run nothing); the harness block runs a
    # whole test on its own in-process server.
    run_example(BOT_BLOCKS[index], tmp_path, dict(os.environ))
