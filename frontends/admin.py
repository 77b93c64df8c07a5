"""batchat-admin: list, delete and reset accounts in batchat-server's database.

It opens the same SQLite file the server uses (``--db``, default as the
server's), so it works while the server runs: a deleted account cannot log in
again and a new password counts from the next login (a session already
logged in stays until it ends). A password is never a flag, where other
users could read it in the process list: it comes from ``BATCHAT_PASSWORD``
or is typed twice at a prompt that does not echo.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from libbatchat import Limits, StoreError
from libbatchat._accounts import hash_password
from libbatchat.adapters.sqlite import SqliteStore

from .server_config import StartError, default_db, open_store

PROG = "batchat-admin"
PASSWORD_ENV = "BATCHAT_PASSWORD"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Failed(Exception):
    """One line on stderr, exit 1."""


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Manage the accounts of a batchat-server database.",
        epilog=(
            f"reset-password reads the new password from {PASSWORD_ENV}, else "
            "prompts for it twice. Exit status: 0 done, 1 no such account or "
            "database error, 2 bad usage."
        ),
    )
    parser.add_argument(
        "--db",
        default=None,
        help=f"the account database (default {default_db(environ)})",
    )
    parser.add_argument(
        "--scrypt-n",
        type=int,
        default=Limits().scrypt_n,
        help="scrypt cost for a reset password (default %(default)s, as the server)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="print every account name, one a line")
    delete = commands.add_parser("delete", help="delete an account")
    delete.add_argument("name")
    reset = commands.add_parser("reset-password", help="set an account's password")
    reset.add_argument("name")
    return parser


def read_password(
    environ: Mapping[str, str], prompt: Callable[[str], str] = getpass.getpass
) -> str:
    password = environ.get(PASSWORD_ENV)
    if password is None:
        password = prompt("new password: ")
        if prompt("again: ") != password:
            raise Failed("the passwords differ; nothing changed")
    if not password or any(c in password for c in "\r\n\0"):
        raise Failed("a password must be one non-empty line")
    return password


def _open(db: str | None, environ: Mapping[str, str]) -> SqliteStore:
    path = Path(db) if db is not None else default_db(environ)
    if not path.exists():
        # Creating an empty database to find nothing in it helps no one.
        raise Failed(f"no account database at {str(path)!r}")
    store = open_store(str(path), environ)
    assert isinstance(store, SqliteStore)
    return store


def run(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    """Carry out the command; what to print."""
    if args.command == "reset-password":
        # Before opening anything: a mistyped password changes nothing.
        password = read_password(environ, prompt)
    store = _open(args.db, environ)
    try:
        if args.command == "list":
            names = store.names()
            return "".join(f"{name}\n" for name in names)
        if args.command == "delete":
            if not store.delete(args.name):
                raise Failed(f"no account {args.name!r}")
            return f"deleted {args.name}\n"
        limits = Limits()
        record = hash_password(
            password, n=args.scrypt_n, r=limits.scrypt_r, p=limits.scrypt_p
        )
        if not store.replace(args.name, record):
            raise Failed(f"no account {args.name!r}")
        return f"password of {args.name} changed\n"
    finally:
        store.close()


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> int:
    environ = os.environ if environ is None else environ
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    if args.scrypt_n < 2 or args.scrypt_n & (args.scrypt_n - 1):
        parser.error("--scrypt-n must be a power of 2")
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    try:
        sys.stdout.write(run(args, environ, prompt))
    except (Failed, StoreError, StartError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (EOFError, KeyboardInterrupt):
        print(f"{PROG}: cancelled", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
