from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from libbatchat import StoreError, hash_password, verify_password
from libbatchat.adapters.sqlite import SqliteStore
from tests.store_harness import create_at_once

LOW = {"n": 2**4, "r": 8, "p": 1}


def test_create_and_get(tmp_path: Path) -> None:
    with SqliteStore(str(tmp_path / "a.db")) as store:
        assert store.get("ana") is None
        assert store.create("Ana", "rec")
        assert not store.create("ANA", "other")
        assert store.get("aNA") == ("Ana", "rec")


def test_survives_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "a.db")
    with SqliteStore(path) as store:
        assert store.create("Ana", "rec")
    with SqliteStore(path) as store:
        assert store.get("ana") == ("Ana", "rec")
        assert not store.create("ana", "x")


def test_pragmas(tmp_path: Path) -> None:
    path = str(tmp_path / "a.db")
    with SqliteStore(path) as store:
        db = store._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # 2 = FULL
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    # WAL is persistent: a fresh connection sees it too.
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_committed_before_create_returns(tmp_path: Path) -> None:
    path = str(tmp_path / "a.db")
    store = SqliteStore(path)
    assert store.create("Ana", "rec")
    # Another connection sees it at once: nothing was left uncommitted.
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT name FROM accounts").fetchall() == [("Ana",)]
    raw.close()
    store.close()


def test_no_plaintext_password_in_file(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    password = "very-distinctive-passphrase-42"
    with SqliteStore(str(path)) as store:
        assert store.create("Ana", hash_password(password, **LOW))
        got = store.get("ana")
        assert got is not None
        assert verify_password(password, got[1])
    data = b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("a.db")
    )
    assert b"Ana" in data
    assert password.encode() not in data


def test_concurrent_creates_of_one_name(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "a.db"))
    results = create_at_once([store], ["bOB", "Bob"])
    assert results.count(True) == 1
    store.close()


def test_two_stores_on_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "a.db")
    a = SqliteStore(path)
    b = SqliteStore(path)
    assert a.create("Ana", "1")
    assert not b.create("ana", "2")
    assert b.get("ANA") == ("Ana", "1")
    a.close()
    b.close()


def test_unopenable_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open account database"):
        SqliteStore(str(tmp_path / "no" / "such" / "dir" / "a.db"))


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError, match="not a database"):
        SqliteStore(str(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_directory(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(StoreError):
            SqliteStore(str(d / "a.db"))
    finally:
        d.chmod(0o700)


def test_errors_after_close_are_store_errors(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "a.db"))
    store.close()
    with pytest.raises(StoreError):
        store.create("Ana", "rec")
    with pytest.raises(StoreError):
        store.get("Ana")


def test_failed_insert_rolls_back(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "a.db"))
    store._db.execute("DROP TABLE accounts")
    store._db.execute("CREATE TABLE accounts (key TEXT PRIMARY KEY, x CHECK(0))")
    with pytest.raises(StoreError):
        store.create("Ana", "rec")
    assert not store._db.in_transaction
    store.close()


def test_memory_database_is_refused() -> None:
    # Without WAL there is no durability promise to keep.
    with pytest.raises(StoreError, match="cannot use WAL"):
        SqliteStore(":memory:")
