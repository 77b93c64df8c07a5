"""The account-store contract, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libbatchat import StoreError, hash_password, verify_password
from libbatchat._accounts import AccountStore
from libbatchat.adapters.sqlite import SqliteStore
from tests.services import PostgresServer
from tests.store_harness import create_at_once

LOW = {"n": 2**4, "r": 8, "p": 1}
Opener = Callable[[], AccountStore]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores on one database (a fresh one per test)."""
    opened: list[AccountStore] = []
    if request.param == "sqlite":
        path = str(tmp_path / "a.db")

        def open_one() -> AccountStore:
            store = SqliteStore(path)
            opened.append(store)
            return store
    else:
        from libbatchat.adapters.postgres import PostgresStore

        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.url

        def open_one() -> AccountStore:
            store = PostgresStore(url)
            opened.append(store)
            return store

        open_one()._run(  # type: ignore[attr-defined]
            lambda conn: conn.execute("TRUNCATE batchat_accounts"), "reset"
        )
    yield open_one
    for store in opened:
        store.close()


def test_create_and_get(opener: Opener) -> None:
    store = opener()
    assert store.get("ana") is None
    assert store.create("Ana", "rec")
    assert not store.create("ANA", "other")
    assert store.get("aNA") == ("Ana", "rec")


def test_a_second_store_sees_a_commit_at_once(opener: Opener) -> None:
    a, b = opener(), opener()
    assert a.create("Ana", "1")
    assert not b.create("ana", "2")
    assert b.get("ANA") == ("Ana", "1")


def test_concurrent_creates_of_one_name(opener: Opener) -> None:
    stores = [opener() for _ in range(4)]
    results = create_at_once(stores, ["bOB", "Bob"])
    assert results.count(True) == 1


def test_passwords_are_scrypt_records(opener: Opener) -> None:
    store = opener()
    password = "very-distinctive-passphrase-42"
    assert store.create("Ana", hash_password(password, **LOW))
    got = store.get("ana")
    assert got is not None
    assert got[1].startswith("scrypt$") and password not in got[1]
    assert verify_password(password, got[1])
    assert not verify_password("wrong", got[1])


def test_administration(opener: Opener) -> None:
    store = opener()
    assert store.create("Bea", "1") and store.create("ana", "2")
    assert store.names() == ["ana", "Bea"]  # type: ignore[attr-defined]
    assert store.replace("BEA", "3")  # type: ignore[attr-defined]
    assert not store.replace("nobody", "3")  # type: ignore[attr-defined]
    assert store.get("bea") == ("Bea", "3")
    assert store.delete("ANA")  # type: ignore[attr-defined]
    assert not store.delete("ana")  # type: ignore[attr-defined]
    assert store.names() == ["Bea"]  # type: ignore[attr-defined]


def test_errors_after_close_are_store_errors(opener: Opener) -> None:
    store = opener()
    store.close()
    with pytest.raises(StoreError):
        store.get("ana")
    with pytest.raises(StoreError):
        store.create("ana", "x")
