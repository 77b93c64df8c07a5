"""One conversation tab: a room, a direct chat, or everyone (``*``).

A read-only ``Text`` with a line per message or notice, a timestamp in local
time, and the sender's nick in a colour of its own (the same colour in every
tab and every run, from a hash of the folded name).
"""

from __future__ import annotations

import tkinter as tk
import zlib
from datetime import datetime
from tkinter import ttk

from libbatchat.client import fold

__all__ = ["EVERYONE", "Conversation", "nick_colour"]

EVERYONE = "*"

# Dark enough to read on white, far enough apart to tell nicks apart.
PALETTE = (
    "#c0392b",  # red
    "#1f5fbf",  # blue
    "#1e8449",  # green
    "#8e44ad",  # purple
    "#d35400",  # orange
    "#138d90",  # teal
    "#b0306a",  # magenta
    "#34495e",  # slate
    "#7d6608",  # olive
    "#6e2c00",  # brown
    "#2e86c1",  # sky
    "#5b7d1a",  # moss
)


def nick_colour(nick: str) -> str:
    return PALETTE[zlib.crc32(fold(nick).encode()) % len(PALETTE)]


class Conversation(ttk.Frame):
    """The messages of one target; ``target`` is ``#room``, a nick or ``*``."""

    def __init__(self, master: tk.Misc, target: str) -> None:
        super().__init__(master)
        self.target = target
        self.unread = 0
        self.text = tk.Text(
            self,
            wrap="word",
            state="disabled",
            width=60,
            height=20,
            padx=6,
            pady=4,
            relief="flat",
            font=("DejaVu Sans", 10),
        )
        bar = ttk.Scrollbar(self, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=bar.set)
        self.text.grid(row=0, column=0, sticky="nsew")
        bar.grid(row=0, column=1, sticky="ns")
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        self.text.tag_configure("time", foreground="#808080")
        self.text.tag_configure(
            "notice", foreground="#707070", font=("DejaVu Sans", 9, "italic")
        )
        self.text.tag_configure("error", foreground="#b03a2e")
        self.text.tag_configure("me", font=("DejaVu Sans", 10, "bold"))
        self._colours: set[str] = set()

    @property
    def is_room(self) -> bool:
        return self.target.startswith("#")

    @property
    def is_direct(self) -> bool:
        return not self.is_room and self.target != EVERYONE

    @property
    def title(self) -> str:
        name = "everyone" if self.target == EVERYONE else self.target
        return f"{name} ({self.unread})" if self.unread else name

    def lines(self) -> list[str]:
        """The text shown, a line per entry (what a person reads)."""
        return self.text.get("1.0", "end-1c").splitlines()

    def _nick_tag(self, nick: str) -> str:
        colour = nick_colour(nick)
        tag = "nick" + colour
        if colour not in self._colours:
            self._colours.add(colour)
            self.text.tag_configure(
                tag, foreground=colour, font=("DejaVu Sans", 10, "bold")
            )
        return tag

    def _append(self, when: datetime, *parts: tuple[str, tuple[str, ...]]) -> None:
        at_end = self.text.yview()[1] >= 0.999
        self.text.configure(state="normal")
        self.text.insert("end", when.strftime("%H:%M:%S "), ("time",))
        for chunk, tags in parts:
            self.text.insert("end", chunk, tags)
        self.text.insert("end", "\n")
        self.text.configure(state="disabled")
        if at_end:
            self.text.see("end")

    def message(
        self, when: datetime, sender: str, text: str, mine: bool = False
    ) -> None:
        """A chat line; ``when`` is the server's time, shown in local time."""
        tags = (self._nick_tag(sender), "me") if mine else (self._nick_tag(sender),)
        self._append(when.astimezone(), (f"<{sender}>", tags), (" " + text, ()))

    def notice(self, text: str, error: bool = False) -> None:
        """A line from the program, not from a person (joins, errors ...)."""
        self._append(
            datetime.now().astimezone(),
            ("-- " + text, ("error" if error else "notice",)),
        )
