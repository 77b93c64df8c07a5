"""Accounts in a SQLite file: durable, safe to call from worker threads.

WAL with ``synchronous=FULL`` syncs every commit, and ``create`` returns only
after its COMMIT, so an acknowledged registration survives a crash of the
process (and a power loss if the disk honours fsync). Registrations are rare,
so the cost of FULL does not matter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading

from libbatchat._accounts import StoreError
from libbatchat._names import fold
from libbatchat._skeleton import DATA_VERSION, skeleton

log = logging.getLogger("libbatchat.adapters")

# The database holds password hashes: only its owner may read it. SQLite
# gives the -wal and -shm files it creates the main file's permissions.
_PRIVATE = 0o600
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _private(path: str) -> None:
    """Create ``path`` 0600 if missing; tighten it and its side files if looser."""
    if path == ":memory:" or path.startswith("file:") or not path:
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE))
    for suffix in _SIDE_FILES:
        name = path + suffix
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
        except OSError:
            continue
        if mode & 0o077:
            try:
                os.chmod(name, _PRIVATE)
            except OSError as exc:
                log.warning("%s is readable by others and stays so: %s", name, exc)
            else:
                log.warning(
                    "%s was mode %04o (others could read the password hashes);"
                    " now 0600",
                    name,
                    mode,
                )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    record TEXT NOT NULL
) WITHOUT ROWID
"""


class SqliteStore:
    """An ``AccountStore`` on one SQLite connection guarded by a lock."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            _private(path)
        except OSError as exc:
            raise StoreError(
                f"cannot open account database {path!r}: {exc.strerror or exc}"
            ) from exc
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a
            # writer takes the write lock up front instead of upgrading late.
            self._db = sqlite3.connect(
                path,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open account database {path!r}: {exc}") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(
                    f"account database {path!r} cannot use WAL (journal mode {mode})"
                )
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute(_SCHEMA)
            _migrate_skeletons(self._db)
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(
                f"cannot use account database {path!r}: {exc}"
                " (not a database, or not writable?)"
            ) from exc
        except StoreError:
            self._db.close()
            raise

    def create(self, name: str, record: str) -> bool:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    look = skeleton(name)
                    alike = self._db.execute(
                        "SELECT 1 FROM accounts WHERE skeleton = ?", (look,)
                    ).fetchone()
                    created = False
                    if alike is None:
                        cur = self._db.execute(
                            "INSERT OR IGNORE INTO accounts"
                            " (key, name, record, skeleton) VALUES (?, ?, ?, ?)",
                            (fold(name), name, record, look),
                        )
                        created = cur.rowcount == 1
                    self._db.execute("COMMIT")
                except BaseException:
                    # A no-op if SQLite already rolled back on its own.
                    self._db.rollback()
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"cannot store account: {exc}") from exc
            return created

    def get(self, name: str) -> tuple[str, str] | None:
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT name, record FROM accounts WHERE key = ?", (fold(name),)
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read account: {exc}") from exc
        return None if row is None else (str(row[0]), str(row[1]))

    def similar(self, name: str) -> str | None:
        with self._lock:
            try:
                # The account of that very name first, then any look-alike.
                row = self._db.execute(
                    "SELECT name FROM accounts WHERE skeleton = ?"
                    " ORDER BY key = ? DESC, key LIMIT 1",
                    (skeleton(name), fold(name)),
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read account: {exc}") from exc
        return None if row is None else str(row[0])

    # -- administration (batchat-admin); the server needs only create/get -------

    def names(self) -> list[str]:
        """Every account's name as registered, in folded order."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT name FROM accounts ORDER BY key"
                ).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read accounts: {exc}") from exc
        return [str(row[0]) for row in rows]

    def _change(self, sql: str, args: tuple[str, ...]) -> bool:
        with self._lock:
            try:
                cur = self._db.execute(sql, args)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot change account: {exc}") from exc
        return cur.rowcount == 1

    def delete(self, name: str) -> bool:
        """Remove the account ``fold(name)``; False if there is none."""
        return self._change("DELETE FROM accounts WHERE key = ?", (fold(name),))

    def replace(self, name: str, record: str) -> bool:
        """Give the account ``fold(name)`` a new record; False if there is none."""
        return self._change(
            "UPDATE accounts SET record = ? WHERE key = ?", (record, fold(name))
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _migrate_skeletons(db: sqlite3.Connection) -> None:
    """Give every account its skeleton (spec 3.5), once per Unicode data.

    Databases made before skeletons lack the column; a new version of the
    confusables data changes skeletons, so they are recomputed when the
    stored data version differs. Look-alike accounts made before this are
    kept (the index is not unique); only new ones are refused.
    """
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    row = db.execute("SELECT value FROM meta WHERE key = 'skeleton'").fetchone()
    if row is not None and row[0] == DATA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {r[1] for r in db.execute("PRAGMA table_info(accounts)")}
        if "skeleton" not in columns:
            db.execute("ALTER TABLE accounts ADD COLUMN skeleton TEXT")
        names = db.execute("SELECT key, name FROM accounts").fetchall()
        db.executemany(
            "UPDATE accounts SET skeleton = ? WHERE key = ?",
            [(skeleton(name), key) for key, name in names],
        )
        db.execute(
            "CREATE INDEX IF NOT EXISTS accounts_skeleton ON accounts (skeleton)"
        )
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('skeleton', ?)",
            (DATA_VERSION,),
        )
        db.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise
