"""batchat-gui's command line: what it refuses before opening any window."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from frontends.gui.app import build_parser, identity_from
from libbatchat.client import Account, Guest

WAIT = 30.0


def run(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 (the exit status is checked)
        [sys.executable, "-m", "frontends.gui", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nick", "a b"], "invalid nickname"),
        (["--nick", "ana", "--join", "geral"], "--join: "),
        (["host:99999"], "the port must be a number from 1 to 65535"),
        (["--nick", "ana", "--user", "ana"], "not allowed with argument"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_no_display_is_one_line_and_exit_1() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    done = run("--nick", "ana", env=env)
    assert done.returncode == 1
    assert "batchat-gui: error: cannot open a window" in done.stderr
    assert "Traceback" not in done.stderr


def test_identity_from_flags_and_environment() -> None:
    parse = build_parser().parse_args
    assert identity_from(parse(["--nick", "bia"]), {}) == (Guest("bia"), "guest")
    assert identity_from(parse(["--user", "bia"]), {"BATCHAT_PASSWORD": "pw"}) == (
        Account("bia", "pw"),
        "login",
    )
    registering = parse(["--user", "bia", "--register"])
    assert identity_from(registering, {"BATCHAT_PASSWORD": "pw"}) == (
        Account("bia", "pw", register=True),
        "register",
    )
    assert identity_from(registering, {}) == (None, "register")
    assert identity_from(parse([]), {"BATCHAT_PASSWORD": "pw"}) == (None, "login")
