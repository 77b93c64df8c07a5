"""The account database is readable by its owner only (issue 7, row 9)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from frontends.server import default_db, open_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_database_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    environ = {"XDG_DATA_HOME": str(tmp_path / "data")}
    store = open_store(None, environ)
    try:
        # A write makes SQLite create the -wal and -shm files.
        assert store.create("ana", "record")
        path = default_db(environ)
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)
        modes = {f.name: oct(mode(f)) for f in [path.parent, *files]}
    finally:
        store.close()
    print("modes:", modes)
    assert modes == {
        "batchat": "0o700",
        "accounts.db": "0o600",
        "accounts.db-wal": "0o600",
        "accounts.db-shm": "0o600",
    }


def test_existing_loose_files_are_tightened_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {"XDG_DATA_HOME": str(tmp_path)}
    path = default_db(environ)
    store = open_store(None, environ)
    store.create("ana", "record")
    store.close()
    # As an older server left them: 0644 files in a 0755 directory.
    os.chmod(path.parent, 0o755)
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists():
            os.chmod(name, 0o644)
    with caplog.at_level(logging.WARNING):
        store = open_store(None, environ)
    try:
        assert store.get("ana") == ("ana", "record")
    finally:
        store.close()
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{path} was mode 0644" in m and "now 0600" in m for m in messages)
    assert any(f"{path.parent} was mode 0755; now 0700" in m for m in messages)


def test_a_chosen_shared_directory_is_only_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "srv"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    with caplog.at_level(logging.WARNING):
        store = open_store(str(shared / "accounts.db"), {})
    store.close()
    assert mode(shared) == 0o755
    assert mode(shared / "accounts.db") == 0o600
    assert any("others can list it" in r.getMessage() for r in caplog.records)
