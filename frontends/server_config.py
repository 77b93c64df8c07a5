"""batchat-server's settings: its flags, limits, account store and TLS context.

Every server limit (``libbatchat._config.Limits``) is a flag and a
``BATCHAT_*`` environment variable, generated from ``_config.describe()`` so
a new limit needs no change here. A flag beats the environment, which beats
the default.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import resource
import ssl
import stat
from collections.abc import Mapping
from pathlib import Path

from libbatchat import AccountStore, Limits, MemoryStore, StoreError, __version__
from libbatchat._config import describe
from libbatchat._dialects import DIALECTS
from libbatchat.adapters._common import Listen, is_postgres_url
from libbatchat.adapters.sqlite import SqliteStore

PROG = "batchat-server"

# The core hands each delivery to the adapter as a (session, line) pair: a
# message to a room of 1,000 is 1,000 pairs, alive together until the adapter
# has queued them. At CPython's default (a young collection every 700 net
# allocations) one broadcast meets several collections, each promotes the
# pairs still alive, and the promoted ones soon set off full collections that
# walk the whole heap. Measured in the benchmark's fanout-1000-flat: 27 full
# collections of about 55 ms each, and with the young ones 1.76 s of the
# server's 3.72 s of CPU (docs/performance.md). With a young generation
# this size the pairs die by reference count before any collection looks at
# them.
GC_YOUNG_THRESHOLD = 20_000
ENV_PREFIX = "BATCHAT_"
MEMORY = ":memory:"

log = logging.getLogger("batchat.server")


class UsageError(Exception):
    """A bad setting: one line on stderr, exit 2."""


class StartError(Exception):
    """The server cannot start (port taken, database unusable): exit 1."""


def default_db(environ: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/batchat/accounts.db``, else under ``~/.local/share``."""
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "batchat" / "accounts.db"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper()


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a BatChat (protocol 2) chat server.",
        epilog=(
            "Every limit may also be set by its environment variable "
            "(BATCHAT_MAX_LINE=2048 ...); a flag beats the environment, "
            "which beats the default. SIGINT or SIGTERM shuts down cleanly."
        ),
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=(
            "address to listen on (default 127.0.0.1: this machine only; "
            "use --host 0.0.0.0 to accept clients from your LAN)"
        ),
    )
    parser.add_argument(
        "--port", type=int, default=50000, help="TCP port (default 50000; 0: any)"
    )
    parser.add_argument(
        "--listen",
        action="append",
        default=[],
        type=_listen,
        metavar="DIALECT@HOST:PORT",
        help=(
            "also serve a classroom dialect on HOST:PORT, to the same users "
            f"and rooms (repeatable; dialects: {', '.join(DIALECTS)}; "
            "see docs/dialects.md)"
        ),
    )
    parser.add_argument(
        "--db",
        default=None,
        help=(
            f"account database, a SQLite file (default {default_db(environ)}, "
            f"its directory created); {MEMORY} keeps accounts in memory only; "
            "postgresql://USER@HOST/DB keeps them in PostgreSQL (for a cluster)"
        ),
    )
    parser.add_argument(
        "--tls-cert",
        metavar="FILE",
        help=(
            "serve TLS on --port with this certificate (PEM, chain included); "
            "needs --tls-key. Clients then connect with TLS (batchat-conformance "
            "--tls, Client.connect(..., tls=True))"
        ),
    )
    parser.add_argument(
        "--tls-key", metavar="FILE", help="the certificate's private key (PEM)"
    )
    parser.add_argument(
        "--adapter",
        choices=("asyncio", "threaded"),
        default="asyncio",
        help="I/O adapter (default asyncio)",
    )
    parser.add_argument(
        "--cluster",
        metavar="URL",
        # From the environment too: a URL with a password does not belong on
        # a command line, which every local user can read (ps).
        default=environ.get("BATCHAT_CLUSTER") or None,
        help=(
            "join the nodes sharing this Redis (redis://HOST:PORT/DB) as one "
            "chat; asyncio adapter only (see docs/cluster.md). Default "
            "$BATCHAT_CLUSTER: the place for a URL with a password"
        ),
    )
    parser.add_argument(
        "--cluster-heartbeat",
        type=float,
        default=1.0,
        metavar="X",
        help="seconds between this node's liveness stamps in Redis (default 1)",
    )
    parser.add_argument(
        "--cluster-ttl",
        type=float,
        default=3.0,
        metavar="X",
        help=(
            "seconds a stamp lasts: a node silent that long is gone, its users "
            "offline everywhere within ttl + heartbeat (default 3)"
        ),
    )
    parser.add_argument(
        "--uvloop",
        action="store_true",
        help="run the asyncio adapter on uvloop, if it is installed",
    )
    parser.add_argument(
        "--monitor",
        action="store_true",
        help=(
            "open the monitor window (live log, sessions, rooms, counters, "
            "stop/start listening); closing it shuts the server down"
        ),
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper,
        help="log level (default INFO); logs go to stderr",
    )
    group = parser.add_argument_group(
        "limits", "server limits; each also read from the environment variable shown"
    )
    for name, default, text in describe():
        help_text = f"{text} (default {default}; env {_env(name)})"
        if isinstance(default, bool):
            group.add_argument(
                _flag(name),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            group.add_argument(
                _flag(name),
                dest=name,
                type=type(default),
                default=None,
                metavar="N" if isinstance(default, int) else "X",
                help=help_text,
            )
    return parser


def _listen(text: str) -> Listen:
    try:
        return Listen.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _from_env(name: str, default: object, raw: str) -> object:
    try:
        if isinstance(default, bool):
            word = raw.strip().lower()
            if word not in _TRUE | _FALSE:
                raise ValueError(raw)
            return word in _TRUE
        if isinstance(default, int):
            return int(raw)
        return float(raw)
    except ValueError:
        kind = type(default).__name__
        raise UsageError(f"{_env(name)}={raw!r} is not a valid {kind}") from None


def limits_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Limits:
    """The limits: each from its flag, else its environment variable, else default."""
    values: dict[str, object] = {}
    for name, default, _text in describe():
        flag = getattr(args, name)
        if flag is not None:
            values[name] = flag
        elif _env(name) in environ:
            values[name] = _from_env(name, default, environ[_env(name)])
    try:
        return Limits(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise UsageError(f"invalid limits: {exc}") from None


def _private_dir(path: Path, ours: bool) -> None:
    """Create ``path`` 0700; tighten it if it is batchat's own and was looser.

    A directory the user chose (``--db /srv/x/accounts.db``) may be shared on
    purpose, so it is only warned about; the files inside are 0600 anyway.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    if ours:
        path.chmod(0o700)
        log.warning("%s was mode %04o; now 0700", path, mode)
    else:
        log.warning("%s is mode %04o: others can list it", path, mode)


def open_store(db: str | None, environ: Mapping[str, str]) -> AccountStore:
    if db == MEMORY:
        return MemoryStore()
    if db is not None and is_postgres_url(db):
        return _open_postgres(db)
    path = Path(db) if db is not None else default_db(environ)
    try:
        _private_dir(path.parent, ours=db is None)
        return SqliteStore(str(path))
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists()), None)
        why = (
            f"{str(blocker)!r} is not a directory"
            if blocker is not None and not blocker.is_dir()
            else exc.strerror or str(exc)
        )
        raise StartError(f"cannot create a database at {str(path)!r}: {why}") from exc
    except StoreError as exc:
        raise StartError(str(exc)) from exc


def _open_postgres(url: str) -> AccountStore:
    try:
        # Imported only for a postgresql:// --db: psycopg is an optional extra.
        from libbatchat.adapters.postgres import PostgresStore  # noqa: PLC0415
    except ImportError as exc:
        raise StartError(
            "a postgresql:// --db needs psycopg: pip install 'libbatchat[cluster]'"
        ) from exc
    try:
        return PostgresStore(url)
    except StoreError as exc:
        raise StartError(str(exc)) from exc


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context from --tls-cert/--tls-key, if given."""
    if args.tls_cert is None and args.tls_key is None:
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise UsageError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise StartError(f"cannot load the TLS certificate or key: {why}") from exc
    return context


def raise_file_limit() -> None:
    """Raise the soft descriptor limit to the hard one: a connection is a file.

    The soft limit (often 1024) is a default for programs that never asked;
    a server that holds a socket per client asks, as most servers do.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as exc:
            log.debug("cannot raise the file limit from %d: %s", soft, exc)


def tune_gc() -> None:
    """Collect less often, and never again look at what startup made.

    What exists once the server is set up (modules, the protocol table, the
    store) lives as long as the process: frozen, no full collection walks it.
    Reference cycles are still collected, only less often.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
