"""Accounts in PostgreSQL (psycopg 3), shared by every node of a cluster.

The same contract as ``SqliteStore``: ``create`` returns only after its
COMMIT (PostgreSQL's default ``synchronous_commit = on`` has the commit on
disk by then), names are keyed by ``fold(name)`` with a primary key and their skeletons
(spec 3.5) are unique, so two nodes creating one name, or two names that
look alike, at once get one True. The store holds one
connection behind a lock; a connection lost (the database restarting) makes
the call in flight raise ``StoreError`` (its client gets ``ERRO-710``) and
the next call connects again.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from libbatchat._accounts import StoreError
from libbatchat._names import fold
from libbatchat._skeleton import skeleton

from ._common import redact

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batchat_accounts (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    record TEXT NOT NULL
);
ALTER TABLE batchat_accounts ADD COLUMN IF NOT EXISTS skeleton TEXT
"""
_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS batchat_accounts_skeleton"
    " ON batchat_accounts (skeleton)"
)


class PostgresStore:
    """An ``AccountStore`` in the table ``batchat_accounts`` of ``url``."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self.url = url
        self._timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        with self._lock:
            self._run(self._set_up, "cannot set up accounts")

    @staticmethod
    def _set_up(conn: psycopg.Connection[Any]) -> None:
        conn.execute(_SCHEMA)
        # Tables made before skeletons: give every account its own.
        rows = conn.execute(
            "SELECT key, name FROM batchat_accounts WHERE skeleton IS NULL"
        ).fetchall()
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE batchat_accounts SET skeleton = %s WHERE key = %s",
                [(skeleton(str(name)), key) for key, name in rows],
            )
        conn.execute(_INDEX)

    def _connect(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreError("the account store is closed")
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self._timeout))
            )
        return self._conn

    def _run(self, work: Any, what: str) -> Any:
        """``work(conn)`` in one transaction (call with the lock held)."""
        try:
            conn = self._connect()
            with conn.transaction():
                return work(conn)
        except psycopg.Error as exc:
            if self._conn is not None and (
                self._conn.closed or self._conn.broken
            ):  # lost: connect again next time
                self._conn.close()
                self._conn = None
            where = redact(self.url)
            raise StoreError(f"{what} in {where}: {exc.__class__.__name__}") from exc

    def create(self, name: str, record: str) -> bool:
        def work(conn: psycopg.Connection[Any]) -> bool:
            cur = conn.execute(
                "INSERT INTO batchat_accounts (key, name, record, skeleton)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (fold(name), name, record, skeleton(name)),
            )
            return bool(cur.rowcount == 1)

        with self._lock:
            # The transaction block commits before _run returns.
            return bool(self._run(work, "cannot store account"))

    def get(self, name: str) -> tuple[str, str] | None:
        def work(conn: psycopg.Connection[Any]) -> Any:
            return conn.execute(
                "SELECT name, record FROM batchat_accounts WHERE key = %s",
                (fold(name),),
            ).fetchone()

        with self._lock:
            row = self._run(work, "cannot read account")
        return None if row is None else (str(row[0]), str(row[1]))

    def similar(self, name: str) -> str | None:
        def work(conn: psycopg.Connection[Any]) -> Any:
            # The account of that very name first, then any look-alike.
            return conn.execute(
                "SELECT name FROM batchat_accounts WHERE skeleton = %s"
                " ORDER BY key = %s DESC, key LIMIT 1",
                (skeleton(name), fold(name)),
            ).fetchone()

        with self._lock:
            row = self._run(work, "cannot read account")
        return None if row is None else str(row[0])

    # -- administration (batchat-admin); the server needs only create/get -------

    def names(self) -> list[str]:
        def work(conn: psycopg.Connection[Any]) -> Any:
            return conn.execute(
                "SELECT name FROM batchat_accounts ORDER BY key"
            ).fetchall()

        with self._lock:
            rows = self._run(work, "cannot read accounts")
        return [str(row[0]) for row in rows]

    def _change(self, sql: str, args: tuple[str, ...]) -> bool:
        with self._lock:
            count = self._run(
                lambda conn: conn.execute(sql, args).rowcount, "cannot change account"
            )
        return bool(count == 1)

    def delete(self, name: str) -> bool:
        return self._change(
            "DELETE FROM batchat_accounts WHERE key = %s", (fold(name),)
        )

    def replace(self, name: str, record: str) -> bool:
        return self._change(
            "UPDATE batchat_accounts SET record = %s WHERE key = %s",
            (record, fold(name)),
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
