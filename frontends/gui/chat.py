"""The main window's widgets: rooms, people, conversations, members, status.

Only layout and display live here; what the buttons and keys do is the
app's (``App`` sets the ``on_*`` callbacks). Every method runs on the Tk
thread.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Iterable
from tkinter import ttk
from typing import Any

from libbatchat.client import fold

from .conversation import EVERYONE, Conversation

__all__ = ["ChatScreen"]


def _nothing(*_args: object) -> None:
    return None


class ChatScreen(ttk.Frame):
    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        self.on_send: Callable[[str], None] = _nothing
        self.on_join: Callable[[str], None] = _nothing
        self.on_refresh: Callable[[], None] = _nothing
        self.on_leave: Callable[[], None] = _nothing
        self.on_direct: Callable[[str], object] = _nothing
        self.on_switch: Callable[[Conversation], None] = _nothing
        self.on_complete: Callable[[], None] = _nothing
        self.conversations: dict[str, Conversation] = {}

        self.columnconfigure(1, weight=1)
        self.rowconfigure(0, weight=1)
        self._build_left().grid(row=0, column=0, sticky="ns", padx=(6, 3), pady=6)
        self._build_centre().grid(row=0, column=1, sticky="nsew", padx=3, pady=6)
        self._build_right().grid(row=0, column=2, sticky="ns", padx=(3, 6), pady=6)
        self._build_status().grid(row=1, column=0, columnspan=3, sticky="ew")
        self.open(EVERYONE)

    # -- layout ---------------------------------------------------------------

    def _build_left(self) -> ttk.Frame:
        left = ttk.Frame(self)
        rooms = ttk.LabelFrame(left, text="Rooms", padding=4)
        rooms.pack(fill="both", expand=True)
        self.rooms = ttk.Treeview(
            rooms, columns=("members",), height=9, selectmode="browse"
        )
        self.rooms.heading("#0", text="Room")
        self.rooms.heading("members", text="People")
        self.rooms.column("#0", width=130)
        self.rooms.column("members", width=50, anchor="e")
        self.rooms.pack(fill="both", expand=True)
        self.rooms.bind("<Double-1>", lambda _e: self.join_selected())
        self.rooms.bind("<Return>", lambda _e: self.join_selected())
        buttons = ttk.Frame(rooms)
        buttons.pack(fill="x", pady=(4, 0))
        self.refresh_button = ttk.Button(buttons, text="Refresh", command=self._refresh)
        self.refresh_button.pack(side="left")
        self.join_button = ttk.Button(buttons, text="Join", command=self.join_selected)
        self.join_button.pack(side="right")
        create = ttk.Frame(rooms)
        create.pack(fill="x", pady=(4, 0))
        self.new_room = tk.StringVar(self, "#")
        self.new_room_entry = ttk.Entry(create, textvariable=self.new_room, width=14)
        self.new_room_entry.pack(side="left", fill="x", expand=True)
        self.new_room_entry.bind("<Return>", lambda _e: self.create_room())
        self.create_button = ttk.Button(
            create, text="New room", command=self.create_room
        )
        self.create_button.pack(side="right", padx=(4, 0))

        people = ttk.LabelFrame(left, text="Online", padding=4)
        people.pack(fill="both", expand=True, pady=(6, 0))
        self.people = tk.Listbox(people, height=9, width=22, activestyle="none")
        self.people.pack(fill="both", expand=True)
        self.people.bind("<Double-1>", lambda _e: self._direct_selected())
        self.people.bind("<Return>", lambda _e: self._direct_selected())
        return left

    def _build_centre(self) -> ttk.Frame:
        centre = ttk.Frame(self)
        centre.columnconfigure(0, weight=1)
        centre.rowconfigure(0, weight=1)
        self.tabs = ttk.Notebook(centre)
        self.tabs.grid(row=0, column=0, columnspan=3, sticky="nsew")
        self.tabs.bind("<<NotebookTabChanged>>", lambda _e: self._switched())
        self.entry_text = tk.StringVar(self)
        self.entry = ttk.Entry(centre, textvariable=self.entry_text)
        self.entry.grid(row=1, column=0, sticky="ew", pady=(6, 0))
        self.entry.bind("<Return>", lambda _e: self._send())
        self.entry.bind("<KP_Enter>", lambda _e: self._send())
        self.entry.bind("<Tab>", self._tab)
        self.send_button = ttk.Button(centre, text="Send", width=6, command=self._send)
        self.send_button.grid(row=1, column=1, padx=(4, 0), pady=(6, 0))
        self.leave_button = ttk.Button(
            centre, text="Leave", width=6, command=self._leave
        )
        self.leave_button.grid(row=1, column=2, padx=(4, 0), pady=(6, 0))
        return centre

    def _build_right(self) -> ttk.Frame:
        right = ttk.Frame(self)
        box = ttk.LabelFrame(right, text="Members", padding=4)
        box.pack(fill="both", expand=True)
        self.members = tk.Listbox(box, height=20, width=18, activestyle="none")
        self.members.pack(fill="both", expand=True)
        self.members.bind("<Double-1>", lambda _e: self._direct_member())
        return right

    def _build_status(self) -> ttk.Frame:
        bar = ttk.Frame(self, relief="sunken", padding=(6, 2))
        self.state_text = tk.StringVar(self, "connecting")
        self.nick_text = tk.StringVar(self, "")
        self.lag_text = tk.StringVar(self, "")
        self.state_label = ttk.Label(bar, textvariable=self.state_text)
        self.state_label.pack(side="left")
        ttk.Label(bar, textvariable=self.lag_text).pack(side="right")
        ttk.Label(bar, textvariable=self.nick_text).pack(side="right", padx=12)
        return bar

    # -- conversations ----------------------------------------------------------

    def find(self, target: str) -> Conversation | None:
        return self.conversations.get(fold(target))

    def open(self, target: str, select: bool = False) -> Conversation:
        """The tab for ``target``, created if new."""
        found = self.find(target)
        if found is None:
            found = Conversation(self.tabs, target)
            self.conversations[fold(target)] = found
            self.tabs.add(found, text=found.title)
        if select:
            _tk(self.tabs, "select", found)
        return found

    def close(self, target: str) -> None:
        found = self.conversations.pop(fold(target), None)
        if found is not None:
            self.tabs.forget(found)
            found.destroy()

    def current(self) -> Conversation:
        name = str(_tk(self.tabs, "select"))
        found = self.nametowidget(name) if name else None
        assert isinstance(found, Conversation)
        return found

    def arrived(self, conversation: Conversation) -> None:
        """Something new in ``conversation``: an unread mark unless it is shown."""
        if conversation is not self.current():
            conversation.unread += 1
            _tk(self.tabs, "tab", conversation, "-text", conversation.title)

    def _switched(self) -> None:
        if not str(_tk(self.tabs, "select")):
            return
        conversation = self.current()
        conversation.unread = 0
        _tk(self.tabs, "tab", conversation, "-text", conversation.title)
        self.leave_button.configure(
            state="disabled" if conversation.target == EVERYONE else "normal",
            text="Leave" if conversation.is_room else "Close",
        )
        self.on_switch(conversation)
        self.entry.focus_set()

    # -- lists ------------------------------------------------------------------

    def show_rooms(self, rooms: Iterable[tuple[str, int]]) -> None:
        self.rooms.delete(*self.rooms.get_children())
        for name, count in rooms:
            self.rooms.insert("", "end", iid=fold(name), text=name, values=(count,))

    def set_room_count(self, name: str, count: int) -> None:
        if self.rooms.exists(fold(name)):
            self.rooms.item(fold(name), text=name, values=(count,))
        else:
            self.rooms.insert("", "end", iid=fold(name), text=name, values=(count,))

    def room_rows(self) -> list[tuple[str, int]]:
        return [
            (self.rooms.item(iid, "text"), int(self.rooms.item(iid, "values")[0]))
            for iid in self.rooms.get_children()
        ]

    def show_people(self, names: Iterable[str]) -> None:
        _fill(self.people, names)

    def show_members(self, names: Iterable[str]) -> None:
        _fill(self.members, names)

    # -- actions ----------------------------------------------------------------

    def join_selected(self) -> None:
        selected = self.rooms.selection()
        if selected:
            self.on_join(self.rooms.item(selected[0], "text"))

    def create_room(self) -> None:
        name = self.new_room.get().strip()
        if name and name != "#":
            self.on_join(name if name.startswith("#") else "#" + name)
            self.new_room.set("#")

    def _direct_selected(self) -> None:
        selected = _tk(self.people, "curselection")
        if selected:
            self.on_direct(self.people.get(selected[0]))

    def _direct_member(self) -> None:
        selected = _tk(self.members, "curselection")
        if selected:
            self.on_direct(self.members.get(selected[0]))

    # Late-bound: the app sets on_refresh and on_leave after the buttons exist.
    def _refresh(self) -> None:
        self.on_refresh()

    def _leave(self) -> None:
        self.on_leave()

    def _send(self) -> None:
        text = self.entry_text.get()
        if text.strip():
            self.on_send(text)

    def _tab(self, _event: object) -> str:
        self.on_complete()
        return "break"  # keep the focus in the entry


def _tk(widget: tk.Misc, *args: Any) -> Any:
    # A few Notebook and Listbox methods are untyped in typeshed; this is the
    # Tcl command they wrap.
    return widget.tk.call(str(widget), *args)


def _fill(listbox: tk.Listbox, names: Iterable[str]) -> None:
    names = list(names)
    if list(listbox.get(0, "end")) != names:
        listbox.delete(0, "end")
        listbox.insert("end", *names)
