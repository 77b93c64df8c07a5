"""batchat-server: run a BatChat server on either adapter.

The flags and the rest of the settings are in ``server_config``. SIGINT and
SIGTERM shut down gracefully: every client is sent ``CLOSING shutdown``,
output is flushed, the database is closed, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from libbatchat._cluster import Cluster
from libbatchat.adapters import aio, threaded
from libbatchat.adapters._common import Listen, redact

from .server_config import (
    PROG,
    StartError,
    UsageError,
    build_parser,
    default_db,
    limits_from,
    open_store,
    raise_file_limit,
    tls_context,
    tune_gc,
)

# What other code imports from here, from before the settings had a module.
__all__ = [
    "PROG",
    "StartError",
    "UsageError",
    "build_parser",
    "default_db",
    "limits_from",
    "main",
    "open_store",
    "raise_file_limit",
    "tls_context",
]

log = logging.getLogger("batchat.server")


def _listen_error(args: argparse.Namespace, exc: OSError) -> StartError:
    # The loops word bind errors differently; the errno's own text is short
    # and the same for both adapters.
    why = os.strerror(exc.errno) if exc.errno else str(exc)
    # A dialect listener's failure names it; otherwise it was the canonical.
    where = exc.filename or f"{args.host}:{args.port}"
    return StartError(f"cannot listen on {where}: {why}")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _announce(
    adapter: str,
    host: str,
    port: int,
    db: str,
    tls: bool,
    *,
    listeners: Sequence[Listen] = (),
) -> None:
    # Tests (and scripts) run with --port 0 and read the port from this line,
    # and each dialect's from the lines printed before it.
    for spec in listeners:
        print(f"{PROG} listening on {spec} (dialect {spec.dialect})", flush=True)
    how = f"{adapter}, TLS" if tls else adapter
    print(f"{PROG} listening on {host}:{port} ({how}, db {db})", flush=True)


async def _join_cluster(args: argparse.Namespace, server: aio.Server) -> Any:
    # Imported only with --cluster: redis-py is an optional extra.
    from libbatchat.adapters.redis_bus import RedisBus  # noqa: PLC0415

    try:
        bus = RedisBus(
            args.cluster,
            server,
            heartbeat=args.cluster_heartbeat,
            ttl=args.cluster_ttl,
        )
        await bus.start()
    except (ValueError, ConnectionError) as exc:
        server.core.accounts.close()
        raise StartError(f"cannot join the cluster: {exc}") from exc
    return bus


async def _serve_asyncio(args: argparse.Namespace, server: aio.Server, db: str) -> None:
    bus = None if args.cluster is None else await _join_cluster(args, server)
    try:
        await server.start()
    except OSError as exc:
        server.core.accounts.close()
        if bus is not None:
            await bus.close()
        raise _listen_error(args, exc) from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    _announce(
        "asyncio", args.host, server.port, db, server.tls is not None,
        listeners=server.listeners[1:],
    )  # fmt: skip
    await stop.wait()
    log.info("signal received: shutting down")
    await server.close()
    if bus is not None:
        await bus.close()


def _serve_threaded(args: argparse.Namespace, server: threaded.Server, db: str) -> None:
    try:
        server.start()
    except OSError as exc:
        server.core.accounts.close()
        raise _listen_error(args, exc) from exc
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _announce(
        "threaded", args.host, server.port, db, server.tls is not None,
        listeners=server.listeners[1:],
    )  # fmt: skip
    # Event.wait in the main thread is woken by signal handlers, so the
    # handler runs and sets the event at once.
    stop.wait()
    log.info("signal received: shutting down")
    server.close()


def _cluster(args: argparse.Namespace) -> Cluster | None:
    if args.cluster is None:
        return None
    from libbatchat.adapters.redis_bus import node_id  # noqa: PLC0415

    return Cluster(node_id())


def _check_cluster(args: argparse.Namespace) -> str:
    """Why --cluster cannot be used as given; empty if it can."""
    if args.adapter != "asyncio":
        return "--cluster needs --adapter asyncio (the threaded adapter has no bus)"
    if not args.cluster.startswith(("redis://", "rediss://", "unix://")):
        return f"--cluster wants redis://HOST:PORT/DB, not {redact(args.cluster)!r}"
    if not args.cluster_ttl > args.cluster_heartbeat > 0:
        return "--cluster-ttl must exceed --cluster-heartbeat, both positive"
    try:
        importlib.import_module("redis.asyncio")
    except ImportError:
        return "--cluster needs redis-py: pip install 'libbatchat[cluster]'"
    return ""


def _serve_monitor(args: argparse.Namespace, server: aio.Server, db: str) -> None:
    # Tk is imported only here: a server without --monitor needs no display.
    import tkinter  # noqa: PLC0415

    from .gui.monitor import run_monitor  # noqa: PLC0415

    try:
        run_monitor(
            server,
            lambda port: _announce(
                "asyncio", args.host, port, db, server.tls is not None
            ),
        )
    except tkinter.TclError as exc:
        server.core.accounts.close()
        raise StartError(f"cannot open the monitor window: {exc}") from exc
    except OSError as exc:
        server.core.accounts.close()
        raise _listen_error(args, exc) from exc


def main(argv: Sequence[str] | None = None) -> int:
    environ = os.environ
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    try:
        limits = limits_from(args, environ)
    except UsageError as exc:
        parser.error(str(exc))
    if args.uvloop and args.adapter != "asyncio":
        parser.error("--uvloop needs --adapter asyncio")
    if args.cluster is not None:
        cluster_error = _check_cluster(args)
        if cluster_error:
            parser.error(cluster_error)
    if args.monitor and (args.adapter != "asyncio" or args.uvloop):
        parser.error("--monitor runs the asyncio adapter (without --uvloop)")
    if args.monitor and args.cluster is not None:
        parser.error("--monitor cannot be combined with --cluster")
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    db = args.db if args.db is not None else str(default_db(environ))
    db = redact(db)  # a postgresql:// URL may carry a password: never print it
    raise_file_limit()
    try:
        tls = tls_context(args)
    except UsageError as exc:
        parser.error(str(exc))
    except StartError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    if tls is None and not _is_loopback(args.host):
        log.warning(
            "listening on %s without TLS: passwords cross the network in clear"
            " (see --tls-cert)",
            args.host,
        )
    for spec in args.listen:
        if not _is_loopback(spec.host):
            # The classroom protocols have no TLS: BatChat's NOVO and ENTRAR
            # carry passwords as they are.
            log.warning("%s has no TLS: what its clients send crosses in clear", spec)
    try:
        store = open_store(args.db, environ)
        tune_gc()
        if args.adapter == "asyncio":
            aio_server = aio.Server(
                args.host,
                args.port,
                limits=limits,
                accounts=store,
                tls=tls,
                listen=args.listen,
                cluster=_cluster(args),
            )
            if args.monitor:
                _serve_monitor(args, aio_server, db)
                return 0
            aio.run(_serve_asyncio(args, aio_server, db), use_uvloop=args.uvloop)
        else:
            thr_server = threaded.Server(
                args.host,
                args.port,
                limits=limits,
                accounts=store,
                tls=tls,
                listen=args.listen,
            )
            _serve_threaded(args, thr_server, db)
    except StartError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
