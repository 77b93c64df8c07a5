"""The PostgreSQL account store against a real server: restarts and crashes."""

from __future__ import annotations

import asyncio
import signal

import pytest

from libbatchat import Login, Register, StoreError
from libbatchat.adapters import aio
from tests.adapters_harness import FAST
from tests.services import PostgresServer, postgres_server  # noqa: F401

psycopg = pytest.importorskip("psycopg")
from libbatchat.adapters.postgres import PostgresStore  # noqa: E402


def test_no_acknowledged_account_is_lost_in_a_crash(
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    store = PostgresStore(postgres_server.url)
    acknowledged = [f"user{i}" for i in range(50) if store.create(f"user{i}", "r")]
    assert len(acknowledged) == 50
    postgres_server.stop(signal.SIGKILL)
    with pytest.raises(StoreError, match="cannot read account"):
        store.get("user0")
    with pytest.raises(StoreError):
        store.create("late", "r")
    postgres_server.start()
    # The same store connects again, and every acknowledged account is there.
    assert store.names() == sorted(acknowledged)
    assert store.get("late") is None
    assert store.create("late", "r")
    store.close()


def test_password_in_url_is_not_in_errors(
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    url = postgres_server.url.replace("postgres@", "postgres:hunter2@")
    store = PostgresStore(url)
    postgres_server.stop()
    with pytest.raises(StoreError) as info:
        store.get("x")
    assert "hunter2" not in str(info.value)
    assert "***" in str(info.value)
    store.close()
    with pytest.raises(StoreError, match="cannot set up"):
        PostgresStore(url)


def test_logins_in_flight_get_an_error_reply(
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    async def main() -> None:
        store = PostgresStore(postgres_server.url)
        pw = "pw pw"
        async with (
            aio.Server("127.0.0.1", 0, limits=FAST, accounts=store) as server,
            aio.Client.connect("127.0.0.1", server.port) as c,
        ):
            assert (await c.request(Register(user="Ana", password=pw))).code == 213
            # A login held up in the database (its table locked) when the
            # database stops: it is answered, with ERRO-710.
            lock = await asyncio.to_thread(psycopg.connect, postgres_server.url)
            lock.execute("LOCK TABLE batchat_accounts IN ACCESS EXCLUSIVE MODE")
            in_flight = c.submit(Login(user="Ana", password=pw))
            await asyncio.to_thread(postgres_server.stop)
            assert (await in_flight).code == 710
            lock.close()
            assert (await c.request(Login(user="Ana", password=pw))).code == 710
            assert (await c.request(Register(user="Bo", password=pw))).code == 710
            postgres_server.start()
            assert (await c.request(Login(user="ana", password=pw))).code == 214

    asyncio.run(asyncio.wait_for(main(), 60))
