"""batchat-gui: the Tk desktop client.

``App`` owns the window, the ``Bridge`` to the network thread and the
client; it shows the connection screen until a login succeeds, then the
chat window (``ChatSession``). Closing the window says goodbye (``SAIR``)
and stops the network thread before the window goes.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tkinter as tk
from collections.abc import Sequence
from tkinter import ttk
from typing import Any

from libbatchat import Join, LocalProtocolError, __version__
from libbatchat.client import (
    DEFAULT_PORT,
    Account,
    Address,
    Client,
    ClientError,
    Guest,
    Identity,
    Push,
    Update,
    parse_address,
)

from .bridge import Bridge
from .chat import ChatScreen
from .connect import ConnectScreen
from .session import ChatSession

__all__ = ["App", "main"]

PROG = "batchat-gui"
PASSWORD_ENV = "BATCHAT_PASSWORD"

# How long closing the window waits for the server's PASS-217.
QUIT_WAIT_MS = 6000


class App:
    """The program's one window; ``client_options`` go to every ``Client``."""

    def __init__(
        self,
        root: tk.Tk,
        address: Address,
        *,
        identity: Identity | None = None,
        mode: str = "login",
        user: str = "",
        rooms: Sequence[str] = (),
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.address = address
        self.mode = mode
        self.user = user
        self.rooms = tuple(rooms)
        self.client_options = client_options or {}
        self.bridge = Bridge(root, self._update)
        self.client: Client | None = None
        self.connect_screen: ConnectScreen | None = None
        self.chat: ChatScreen | None = None
        self.session: ChatSession | None = None
        self.closing = False
        self.closed = False
        self._give_up: str | None = None
        self._early: list[Push] = []
        root.title("BatChat")
        root.minsize(720, 420)
        root.protocol("WM_DELETE_WINDOW", self.quit)
        style = ttk.Style(root)
        style.theme_use("clam")
        root.configure(background=style.lookup("TFrame", "background"))
        self.bridge.start()
        if identity is not None:
            self.connect(address, identity)
        else:
            self.show_connect()

    # -- screens ----------------------------------------------------------------

    def show_connect(self, message: str = "") -> ConnectScreen:
        if self.connect_screen is None:
            self.connect_screen = ConnectScreen(
                self.root,
                self.connect,
                host=self.address.host,
                port=self.address.port,
                user=self.user,
                mode=self.mode,
            )
            self.connect_screen.pack(expand=True)
            self.root.geometry("")
            self.connect_screen.focus_first()
        if message:
            self.connect_screen.refuse(message)
        return self.connect_screen

    def connect(self, address: Address, identity: Identity) -> None:
        """Connect and log in; the chat window opens once logged in."""
        self.address = address
        self.user = identity.name
        if self.connect_screen is not None:
            self.connect_screen.busy(f"Connecting to {address} ...")
        options = self.client_options
        client = self.bridge.call(
            lambda: Client(address, identity=identity, rooms=self.rooms, **options)
        )
        self.client = client
        self._early = []
        self.bridge.follow(client)
        self.bridge.run(
            client.start(), lambda _none: self._logged_in(client), self._refused
        )

    def _refused(self, exc: BaseException) -> None:
        client, self.client = self.client, None
        if client is not None:
            self.bridge.run(client.close())
        if self.closing:
            return
        text = str(exc) if isinstance(exc, ClientError) else f"cannot connect: {exc}"
        self.show_connect(text)

    def _logged_in(self, client: Client) -> None:
        if self.closing or client is not self.client:
            return
        if self.connect_screen is not None:
            self.connect_screen.destroy()
            self.connect_screen = None
        self.chat = ChatScreen(self.root)
        self.chat.pack(fill="both", expand=True)
        self.root.geometry("1000x640")
        self.session = ChatSession(self.chat, self.bridge, client, self.quit)
        early, self._early = self._early, []
        for push in early:
            self.session.update(push)
        self.root.title(f"BatChat - {self.session.me} on {self.address}")
        self.chat.entry.focus_set()

    def _update(self, update: Update) -> None:
        if self.closing:
            return
        if self.session is not None:
            self.session.update(update)
        elif isinstance(update, Push):
            # Logged in, window not built yet: a DM or a join can come now.
            self._early.append(update)

    # -- the end ----------------------------------------------------------------

    def quit(self) -> None:
        """Say goodbye to the server, stop the network thread, close the window."""
        if self.closing:
            return
        self.closing = True
        client = self.client
        if client is None:
            self._finish()
            return
        if self.chat is not None:
            self.chat.state_text.set("quitting")
        self.bridge.run(
            client.quit(), lambda _r: self._finish(), lambda _e: self._finish()
        )
        self._give_up = self.root.after(QUIT_WAIT_MS, self._finish)

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._give_up is not None:
            self.root.after_cancel(self._give_up)
        self.bridge.stop()
        self.root.destroy()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The BatChat desktop client (Tk).",
        epilog=(
            f"--nick, or --user with the password in ${PASSWORD_ENV}, logs in at "
            "once and skips the connection screen."
        ),
    )
    parser.add_argument(
        "server",
        nargs="?",
        default=f"127.0.0.1:{DEFAULT_PORT}",
        help=f"HOST[:PORT] of the server (default 127.0.0.1:{DEFAULT_PORT})",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--user", help="log in to this account")
    who.add_argument("--nick", help="chat as a guest under this nickname")
    parser.add_argument(
        "--register",
        action="store_true",
        help="create the --user account first",
    )
    parser.add_argument(
        "--join",
        action="append",
        default=[],
        metavar="#ROOM",
        help="join this room once logged in (repeatable)",
    )
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def identity_from(
    args: argparse.Namespace, environ: dict[str, str] | os._Environ[str]
) -> tuple[Identity | None, str]:
    """The identity the flags give (``None``: ask) and the screen's mode."""
    if args.nick:
        return Guest(args.nick), "guest"
    mode = "register" if args.register else "login"
    password = environ.get(PASSWORD_ENV, "")
    if args.user and password:
        return Account(args.user, password, register=args.register), mode
    return None, mode


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        address = parse_address(args.server)
        identity, mode = identity_from(args, os.environ)
        for room in args.join:
            Join(room=room)
    except ValueError as exc:
        parser.error(str(exc))
    except LocalProtocolError as exc:
        parser.error(f"--join: {exc}")
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        root = tk.Tk(className="BatChat")
    except tk.TclError as exc:
        print(f"{PROG}: error: cannot open a window ({exc})", file=sys.stderr)
        return 1
    try:
        app = App(
            root,
            address,
            identity=identity,
            mode=mode,
            user=args.user or args.nick or "",
            rooms=args.join,
        )
    except ValueError as exc:
        root.destroy()
        parser.error(str(exc))
    # Ctrl-C in the terminal closes the window as the close button does.
    signal.signal(signal.SIGINT, lambda *_: root.after(0, app.quit))
    root.mainloop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
