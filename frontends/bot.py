"""batchat-bot: run the bot in a file (``path/to/bot.py``) or a module.

``batchat-bot examples/dice.py`` loads the file's ``Bot`` and runs it on a
client-layer ``Client`` (pacing from the server's limits, reconnect with
backoff, log in again, rejoin). Where and who come from flags, then
``BATCHAT_*`` variables, then the bot's own defaults: ``--server`` (or
``BATCHAT_HOST``/``BATCHAT_PORT``), ``--user`` with ``BATCHAT_PASSWORD``
(never a flag) or ``--nick``, ``--join #room``. SIGINT/SIGTERM say goodbye
(``SAIR``) and exit 0. Errors are one line on stderr and exit 1 (2 for
usage, including a file with no bot in it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import traceback
from collections.abc import Mapping, Sequence

from libbatchat import __version__
from libbatchat.bot import Bot, NoBot, load_bot
from libbatchat.client import (
    Account,
    Address,
    ConnectError,
    Guest,
    Identity,
    LoginError,
    add_tls_flags,
    parse_address,
)

__all__ = ["build_parser", "main"]

PROG = "batchat-bot"
log = logging.getLogger("batchat.bot")


class Fatal(Exception):
    """One line on stderr, exit 1."""


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    host = environ.get("BATCHAT_HOST", "127.0.0.1")
    port = environ.get("BATCHAT_PORT", "50000")
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a BatChat bot written with libbatchat.bot.",
        epilog=(
            "Variables: BATCHAT_HOST, BATCHAT_PORT, BATCHAT_USER, BATCHAT_PASSWORD "
            "(the only way to give a password), BATCHAT_NICK, BATCHAT_JOIN "
            "(rooms, comma-separated), BATCHAT_LOG_LEVEL. See docs/bots.md."
        ),
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "bot", metavar="FILE.py|MODULE[:ATTR]", help="where the Bot is defined"
    )
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help=f"server to connect to; repeat for failover (default {host}:{port})",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--user",
        metavar="NAME",
        default=environ.get("BATCHAT_USER"),
        help="log in to the account NAME (password from BATCHAT_PASSWORD)",
    )
    who.add_argument(
        "--nick",
        metavar="NICK",
        default=environ.get("BATCHAT_NICK"),
        help="run as a guest named NICK (default: the bot's name)",
    )
    parser.add_argument(
        "--register", action="store_true", help="with --user: create the account first"
    )
    parser.add_argument(
        "--join",
        action="append",
        default=_split(environ.get("BATCHAT_JOIN", "")),
        metavar="#ROOM",
        help="join ROOM besides the bot's own rooms (repeatable)",
    )
    add_tls_flags(parser)
    parser.add_argument(
        "--log-level",
        default=environ.get("BATCHAT_LOG_LEVEL", "INFO").upper(),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default INFO); logs go to stderr",
    )
    return parser


def _servers(args: argparse.Namespace, environ: Mapping[str, str]) -> list[Address]:
    texts = args.server or [
        f"{environ.get('BATCHAT_HOST', '127.0.0.1')}:"
        + environ.get("BATCHAT_PORT", "50000")
    ]
    try:
        return [parse_address(text) for text in texts]
    except ValueError as exc:
        raise Fatal(str(exc)) from None


def _identity(args: argparse.Namespace, environ: Mapping[str, str]) -> Identity | None:
    if args.user:
        password = environ.get("BATCHAT_PASSWORD")
        if not password:
            raise Fatal("--user needs the password in BATCHAT_PASSWORD")
        return Account(args.user, password, register=args.register)
    if args.register:
        raise Fatal("--register needs --user")
    return Guest(args.nick) if args.nick else None


async def _run(
    bot: Bot,
    servers: list[Address],
    identity: Identity | None,
    args: argparse.Namespace,
) -> None:
    try:
        client = bot.make_client(
            servers,
            identity=identity,
            rooms=args.join,
            tls=args.tls,
            cafile=args.cafile,
        )
    except ValueError as exc:  # a bad room or nick name
        raise Fatal(str(exc)) from None
    except OSError as exc:  # an unreadable --cafile
        raise Fatal(f"--cafile: {exc.strerror or exc}") from None
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await bot.start(client)
    except ConnectError as exc:
        raise Fatal(str(exc)) from None
    except LoginError as exc:
        await client.close()
        raise Fatal(f"cannot log in: {exc}") from None
    # Tests (and scripts) wait for this line to know the bot is in its rooms.
    print(f"{PROG} running as {client.me} on {client.server}", flush=True)
    stopped = asyncio.ensure_future(client.wait_stopped())
    signalled = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({stopped, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if signalled.done():
        log.info("signal received: saying goodbye")
        await bot.stop()
        stopped.cancel()
        return
    signalled.cancel()
    reason = stopped.result()
    await bot.detach()
    if reason not in ("quit", "closed"):
        raise Fatal(f"stopped: {reason}")


def _broken(where: str, exc: Exception) -> str:
    """One line for a bot file that fails to load: where, and what."""
    if isinstance(exc, SyntaxError):
        return f"{exc.filename}:{exc.lineno}: {exc.msg}"
    frames = traceback.extract_tb(exc.__traceback__)
    origin = where.partition(":")[0]
    mine = [f for f in frames if f.filename.endswith(origin)] or frames[-1:]
    at = f"{mine[-1].filename}:{mine[-1].lineno}: " if mine else ""
    return f"{at}{type(exc).__name__}: {exc} (--log-level DEBUG shows the traceback)"


def main(argv: Sequence[str] | None = None) -> int:
    environ = os.environ
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.cafile and not args.tls:
            raise Fatal("--cafile needs --tls")
        servers = _servers(args, environ)
        identity = _identity(args, environ)
        try:
            bot = load_bot(args.bot)
        except NoBot as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # the bot's file is broken: say where
            log.debug("loading %s failed", args.bot, exc_info=exc)
            raise Fatal(_broken(args.bot, exc)) from None
        asyncio.run(_run(bot, servers, identity, args))
    except Fatal as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the signal handlers were installed
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
