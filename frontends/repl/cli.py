"""batchat-repl: the interactive BatChat client.

``batchat-repl [HOST[:PORT] ...]`` connects (default 127.0.0.1:50000, or
``BATCHAT_HOST``/``BATCHAT_PORT``), logs in (``--user NAME``, ``--register``
to create the account first, ``--nick NICK`` for a guest, else it asks),
and chats. The password comes from ``BATCHAT_PASSWORD`` or a masked prompt,
never from a flag, and is never written to the history or the log. Errors
are one line; a bug's traceback goes to the log file that line names.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.history import History
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from prompt_toolkit.patch_stdout import patch_stdout

from libbatchat import LocalProtocolError, __version__
from libbatchat.client import (
    Account,
    Address,
    Client,
    Clock,
    ConnectError,
    Guest,
    Identity,
    LoginError,
    add_tls_flags,
    parse_address,
)

from .app import Repl
from .history import SafeHistory, data_dir
from .render import Painter, Sink, TerminalSink

__all__ = ["main", "run"]

PROG = "batchat-repl"
log = logging.getLogger("batchat.repl")

# Refusals worth asking again for, when a person is typing the answers.
ASK_AGAIN = 3


class Fatal(Exception):
    """One line on stderr, exit 1."""


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    host = environ.get("BATCHAT_HOST", "127.0.0.1")
    port = environ.get("BATCHAT_PORT", "50000")
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Chat on a BatChat (protocol 2) server.",
        epilog=(
            "The password is read from BATCHAT_PASSWORD or asked for (masked); "
            "there is no password flag. Inside, /help lists the commands."
        ),
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "servers",
        nargs="*",
        metavar="HOST[:PORT]",
        help=f"server(s) to connect to, tried in turn (default {host}:{port})",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--user", metavar="NAME", help="log in to the account NAME")
    who.add_argument("--nick", metavar="NICK", help="chat as a guest named NICK")
    parser.add_argument(
        "--register", action="store_true", help="with --user: create the account first"
    )
    parser.add_argument(
        "--join",
        action="append",
        default=[],
        metavar="#ROOM",
        help="join ROOM after logging in (repeatable)",
    )
    add_tls_flags(parser)
    parser.add_argument(
        "--history", metavar="FILE", help="input history file (default: data dir)"
    )
    parser.add_argument(
        "--log", metavar="FILE", help="log file (default: data dir, repl.log)"
    )
    return parser


@dataclass
class Terminal:
    """Where the REPL talks to its person; tests pass pipes and a list sink."""

    input: Input | None = None
    output: Output | None = None
    sink: Sink | None = None
    stderr: TextIO | None = None
    clock: Clock | None = None
    patch: bool = True  # patch_stdout: a real terminal only

    def fail(self, text: str) -> None:
        print(f"{PROG}: {text}", file=self.stderr or sys.stderr, flush=True)


class Asker:
    """Questions before the chat starts, on the same terminal (no history)."""

    def __init__(self, terminal: Terminal, painter: Painter) -> None:
        self.terminal = terminal
        self._session: PromptSession[str] | None = None
        self.sink = terminal.sink or TerminalSink()
        self.painter = painter

    def tell(self, text: str) -> None:
        self.sink.show(self.painter.error(text))

    @property
    def session(self) -> PromptSession[str]:
        if self._session is None:
            t = self.terminal
            self._session = PromptSession(input=t.input, output=t.output)
        return self._session

    async def ask(self, question: str, *, secret: bool = False) -> str:
        while True:
            try:
                answer = await self.session.prompt_async(
                    question, is_password=secret, set_exception_handler=False
                )
            except (EOFError, KeyboardInterrupt):
                raise Fatal("cancelled") from None
            if answer.strip():
                return answer if secret else answer.strip()

    async def password(self, user: str, *, twice: bool) -> str:
        while True:
            first = await self.ask(f"password for {user}: ", secret=True)
            if not twice or first == await self.ask("again: ", secret=True):
                return first
            self.tell("the passwords differ; once more")


async def identity_from(
    args: argparse.Namespace, environ: Mapping[str, str], asker: Asker
) -> Identity:
    """Who to be: the flags, else asked. The password is never a flag."""
    secret = environ.get("BATCHAT_PASSWORD")
    if args.nick:
        return Guest(args.nick)
    user, register = args.user, args.register
    if not user:
        choice = ""
        while choice not in ("l", "r", "g"):
            choice = (await asker.ask("log in, register or guest? [l/r/g] "))[:1]
            choice = choice.lower()
        if choice == "g":
            return Guest(await asker.ask("nickname: "))
        user, register = await asker.ask("user name: "), choice == "r"
        secret = None  # a person at the keyboard types it
    password = secret or await asker.password(user, twice=register)
    return Account(user, password, register=register)


def _logging(path: Path) -> Path:
    """Log to ``path`` only: nothing may print over the prompt."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        path = Path(tempfile.gettempdir()) / "batchat-repl.log"
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return path


async def run(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    terminal: Terminal | None = None,
    history: History | None = None,
    log_path: Path | None = None,
) -> int:
    """The program, on the running loop; returns the exit status."""
    environ = os.environ if environ is None else environ
    terminal = terminal or Terminal()
    args = build_parser(environ).parse_args(argv)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_log_loop_error)
    try:
        servers = _servers(args, environ)
        if args.register and not args.user:
            raise Fatal("--register needs --user NAME")
        if args.cafile and not args.tls:
            raise Fatal("--cafile needs --tls")
        rooms = [r if r.startswith("#") else f"#{r}" for r in args.join]
        try:
            client = Client(
                servers,
                rooms=rooms,
                clock=terminal.clock,
                tls=args.tls,
                cafile=args.cafile,
            )
        except LocalProtocolError as exc:
            raise Fatal(f"--join: {str(exc).split(': ', 1)[-1]}") from None
        except OSError as exc:  # an unreadable --cafile
            raise Fatal(f"--cafile: {exc.strerror or exc}") from None
        painter = Painter()
        asker = Asker(terminal, painter)
        identity = await identity_from(args, environ, asker)
        path = Path(args.history) if args.history else data_dir(environ) / "history"
        repl = Repl(
            client,
            sink=terminal.sink or TerminalSink(),
            input=terminal.input,
            output=terminal.output,
            history=history or SafeHistory(path),
            painter=painter,
            log_path=log_path,
        )
        try:
            await client.start()
            await _log_in(client, identity, asker, interactive=not _from_flags(args))
        except ConnectError as exc:
            raise Fatal(str(exc)) from None
        except Fatal:
            await client.close()
            raise
        if client.state.rooms:
            repl.switch(client.state.rooms[0].name)
        if terminal.patch:
            with patch_stdout(raw=True):
                return await repl.run()
        return await repl.run()
    except (Fatal, ValueError) as exc:
        terminal.fail(str(exc))
        return 1


def _from_flags(args: argparse.Namespace) -> bool:
    return bool(args.user or args.nick)


def _servers(args: argparse.Namespace, environ: Mapping[str, str]) -> list[Address]:
    if args.servers:
        return [parse_address(s) for s in args.servers]
    host = environ.get("BATCHAT_HOST", "127.0.0.1")
    port = environ.get("BATCHAT_PORT", "50000")
    return [parse_address(f"{host}:{port}" if ":" not in host else f"[{host}]:{port}")]


async def _log_in(
    client: Client, identity: Identity, asker: Asker, *, interactive: bool
) -> None:
    """Log in; a person is asked again after a refusal, flags fail at once."""
    for _ in range(ASK_AGAIN):
        try:
            await client.login(identity)
            return
        except LoginError as exc:
            if not interactive or exc.reply.code not in (703, 704, 705):
                raise Fatal(f"cannot log in: {exc}") from None
            asker.tell(f"cannot log in: {exc}")
            if isinstance(identity, Guest):
                identity = Guest(await asker.ask("another nickname: "))
            elif exc.reply.code == 704:
                password = await asker.password(identity.user, twice=False)
                identity = Account(identity.user, password)
            else:
                user = await asker.ask("another user name: ")
                password = await asker.password(user, twice=identity.register)
                identity = Account(user, password, register=identity.register)
    raise Fatal("cannot log in; giving up")


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    log.error("event loop: %s", context.get("message"), exc_info=exc)


def main(argv: Sequence[str] | None = None) -> int:
    log_path = _logging(_log_file(argv))
    try:
        return asyncio.run(run(argv, log_path=log_path))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.exception("batchat-repl failed")
        Terminal().fail(f"internal error ({exc}); details in {log_path}")
        return 70


def _log_file(argv: Sequence[str] | None) -> Path:
    args, _ = build_parser(os.environ).parse_known_args(argv)
    return Path(args.log) if args.log else data_dir() / "repl.log"


if __name__ == "__main__":
    sys.exit(main())
