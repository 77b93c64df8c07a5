"""batchat-admin against a real database, with and without a running server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from frontends import admin
from libbatchat import Login, Register
from libbatchat.adapters import threaded
from libbatchat.adapters.sqlite import SqliteStore
from tests.adapters_harness import FAST, HOST, WAIT


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.db"
    store = SqliteStore(str(path))
    with threaded.Server(HOST, 0, limits=FAST, accounts=store) as server:
        c = threaded.Client.connect(HOST, server.port)
        try:
            for name in ("Zé", "ana", "bob"):
                assert c.request(Register(user=name, password="old pw")).ok
        finally:
            c.close()
    return path


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(
        db: Path,
        *args: str,
        env: dict[str, str] | None = None,
        typed: Sequence[str] = (),
    ) -> tuple[int, str, str]:
        answers = iter(typed)
        argv = ["--db", str(db), "--scrypt-n", "16", *args]
        status = admin.main(argv, env or {}, lambda _prompt: next(answers))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return go


def test_list_prints_every_name(db: Path, run: Run) -> None:
    assert run(db, "list") == (0, "ana\nbob\nZé\n", "")


def test_delete(db: Path, run: Run) -> None:
    assert run(db, "delete", "BOB") == (0, "deleted BOB\n", "")
    assert run(db, "list")[1] == "ana\nZé\n"
    status, _, err = run(db, "delete", "bob")
    assert status == 1 and "no account 'bob'" in err


def test_reset_password_from_the_environment_works_on_a_running_server(
    db: Path, run: Run
) -> None:
    with threaded.Server(HOST, 0, limits=FAST, accounts=SqliteStore(str(db))) as s:
        status, out, _ = run(
            db, "reset-password", "ana", env={"BATCHAT_PASSWORD": "new pw"}
        )
        assert (status, out) == (0, "password of ana changed\n")
        with threaded.Client.connect(HOST, s.port) as c:
            assert c.request(Login(user="ana", password="old pw")).code == 704
            assert c.request(Login(user="ana", password="new pw")).code == 214


def test_reset_password_prompts_twice(db: Path, run: Run) -> None:
    status, _, err = run(db, "reset-password", "ana", typed=["one", "two"])
    assert status == 1 and "differ" in err
    assert run(db, "reset-password", "ana", typed=["x y", "x y"])[0] == 0
    status, _, err = run(db, "reset-password", "nobody", typed=["x", "x"])
    assert status == 1 and "no account 'nobody'" in err
    status, _, err = run(db, "reset-password", "ana", typed=["", ""])
    assert status == 1 and "non-empty" in err


def test_missing_database_is_not_created(tmp_path: Path, run: Run) -> None:
    status, _, err = run(tmp_path / "none.db", "list")
    assert status == 1 and "no account database" in err
    assert not (tmp_path / "none.db").exists()


def test_the_password_is_never_a_flag() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "frontends.admin",
            "reset-password",
            "ana",
            "--password",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr
