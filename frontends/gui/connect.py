"""The connection screen: where to connect and who to be.

It checks what was typed before anything goes on the wire (a port that is
not a number, a name the protocol does not allow, an empty password) and
says what is wrong in the window; the app shows the server's refusals in
the same place.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from libbatchat.client import DEFAULT_PORT, Account, Address, Guest, Identity

__all__ = ["MODES", "ConnectScreen"]

MODES = (("login", "Log in"), ("register", "Register"), ("guest", "Guest"))


class ConnectScreen(ttk.Frame):
    """``on_connect(address, identity)`` is called with checked values."""

    def __init__(
        self,
        master: tk.Misc,
        on_connect: Callable[[Address, Identity], None],
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        user: str = "",
        mode: str = "login",
    ) -> None:
        super().__init__(master, padding=24)
        self.on_connect = on_connect
        self.host = tk.StringVar(self, host)
        self.port = tk.StringVar(self, str(port))
        self.mode = tk.StringVar(self, mode)
        self.name = tk.StringVar(self, user)
        self.password = tk.StringVar(self)
        self.message = tk.StringVar(self)

        ttk.Label(self, text="BatChat", font=("DejaVu Sans", 18, "bold")).grid(
            row=0, column=0, columnspan=2, pady=(0, 12)
        )
        self.host_entry = self._field(1, text="Host", variable=self.host)
        self.port_entry = self._field(2, text="Port", variable=self.port, width=8)
        modes = ttk.Frame(self)
        modes.grid(row=3, column=1, sticky="w", pady=4)
        self.mode_buttons: dict[str, ttk.Radiobutton] = {}
        for value, label in MODES:
            button = ttk.Radiobutton(
                modes,
                text=label,
                value=value,
                variable=self.mode,
                command=self._mode_changed,
            )
            button.pack(side="left", padx=(0, 8))
            self.mode_buttons[value] = button
        self.name_label = ttk.Label(self, text="User name")
        self.name_entry = self._field(4, variable=self.name, label=self.name_label)
        self.password_label = ttk.Label(self, text="Password")
        self.password_entry = self._field(
            5, variable=self.password, show="\u2022", label=self.password_label
        )
        self.connect_button = ttk.Button(self, text="Connect", command=self.submit)
        self.connect_button.grid(row=6, column=1, sticky="e", pady=(12, 4))
        self.message_label = ttk.Label(
            self, textvariable=self.message, foreground="#b03a2e", wraplength=360
        )
        self.message_label.grid(row=7, column=0, columnspan=2, sticky="w")
        for entry in (
            self.host_entry,
            self.port_entry,
            self.name_entry,
            self.password_entry,
        ):
            entry.bind("<Return>", lambda _e: self.submit())
        self._mode_changed()

    def _field(
        self,
        row: int,
        *,
        variable: tk.StringVar,
        text: str = "",
        width: int = 28,
        show: str = "",
        label: ttk.Label | None = None,
    ) -> ttk.Entry:
        label = label or ttk.Label(self, text=text)
        label.grid(row=row, column=0, sticky="w", padx=(0, 12), pady=4)
        entry = ttk.Entry(self, textvariable=variable, width=width, show=show)
        entry.grid(row=row, column=1, sticky="w", pady=4)
        return entry

    def _mode_changed(self) -> None:
        guest = self.mode.get() == "guest"
        self.name_label.configure(text="Nickname" if guest else "User name")
        # A guest has no password: the row goes away rather than sit greyed.
        for widget in (self.password_label, self.password_entry):
            if guest:
                widget.grid_remove()
            else:
                widget.grid()

    def focus_first(self) -> None:
        empty = next(
            (e for e in (self.name_entry, self.password_entry) if not e.get()), None
        )
        (empty or self.connect_button).focus_set()

    def busy(self, text: str) -> None:
        self.message_label.configure(foreground="#505050")
        self.message.set(text)
        self.connect_button.configure(state="disabled")

    def refuse(self, text: str) -> None:
        """Show why connecting did not work, and let the person try again."""
        self.message_label.configure(foreground="#b03a2e")
        self.message.set(text)
        self.connect_button.configure(state="normal")

    def submit(self) -> None:
        if str(self.connect_button.cget("state")) == "disabled":
            return
        try:
            address, identity = self.read()
        except ValueError as exc:
            self.refuse(str(exc))
            return
        self.on_connect(address, identity)

    def read(self) -> tuple[Address, Identity]:
        """The checked address and identity; ``ValueError`` says what is wrong."""
        host = self.host.get().strip()
        if not host:
            raise ValueError("Type the server's host name or address.")
        port_text = self.port.get().strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError("The port must be a number from 1 to 65535.")
        name = self.name.get().strip()
        mode = self.mode.get()
        if not name:
            what = "nickname" if mode == "guest" else "user name"
            raise ValueError(f"Type a {what}.")
        identity: Identity
        if mode == "guest":
            identity = Guest(name)
        else:
            password = self.password.get()
            if not password:
                raise ValueError("Type the password.")
            identity = Account(name, password, register=mode == "register")
        return Address(host, int(port_text)), identity
