"""The server monitor: batchat-server --monitor.

The server runs in this process, on an asyncio loop in a ``LoopThread``;
the Tk thread shows its log (the very lines the server logs, through a
logging handler that only queues them), the sessions online, the rooms and
their members, and counters, refreshed from ``Server.stats()`` snapshots.
Stop and Start close and reopen the listening socket, so connecting really
fails while stopped; the sessions already open carry on.
"""

from __future__ import annotations

import collections
import logging
import queue
import signal
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from libbatchat.adapters.aio import Server, ServerStats

from .bridge import Bridge

__all__ = ["LogQueue", "Monitor", "run_monitor"]

REFRESH_MS = 500
# messages/s is averaged over this many seconds of snapshots.
RATE_WINDOW = 5.0
# Lines kept in the log pane; older ones scroll away.
LOG_LINES = 5000


class LogQueue(logging.Handler):
    """Formats each record as the server's log does and queues the line."""

    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__()
        if formatter is None:
            formatter = next(
                (h.formatter for h in logging.getLogger().handlers if h.formatter),
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"),
            )
        self.setFormatter(formatter)
        self.lines: queue.Queue[tuple[str, int]] = queue.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.put((self.format(record), record.levelno))
        except Exception:
            self.handleError(record)


class Monitor(ttk.Frame):
    """The monitor window's content, for one running ``server``."""

    def __init__(
        self, root: tk.Tk, server: Server, bridge: Bridge, log_queue: LogQueue
    ) -> None:
        super().__init__(root, padding=6)
        self.root = root
        self.server = server
        self.bridge = bridge
        self.log_queue = log_queue
        self.stats: ServerStats | None = None
        self.samples: collections.deque[tuple[float, int]] = collections.deque()
        self.closing = False
        self.closed = False
        self._refreshing = False
        self.columnconfigure(0, weight=1)
        self.rowconfigure(2, weight=1)
        self.rowconfigure(3, weight=1)
        self._build_top().grid(row=0, column=0, sticky="ew")
        self._build_counters().grid(row=1, column=0, sticky="ew", pady=4)
        self._build_tables().grid(row=2, column=0, sticky="nsew")
        self._build_log().grid(row=3, column=0, sticky="nsew", pady=(6, 0))
        root.title("BatChat server monitor")
        root.protocol("WM_DELETE_WINDOW", self.close)
        self._tick()

    # -- layout ---------------------------------------------------------------

    def _build_top(self) -> ttk.Frame:
        top = ttk.Frame(self)
        self.address_text = tk.StringVar(self, "")
        ttk.Label(
            top, textvariable=self.address_text, font=("DejaVu Sans", 11, "bold")
        ).pack(side="left")
        self.stop_button = ttk.Button(top, text="Stop listening", command=self.stop)
        self.stop_button.pack(side="right")
        self.start_button = ttk.Button(top, text="Start listening", command=self.start)
        self.start_button.pack(side="right", padx=4)
        return top

    def _build_counters(self) -> ttk.Frame:
        row = ttk.Frame(self)
        self.counters_text = tk.StringVar(self, "")
        ttk.Label(row, textvariable=self.counters_text).pack(side="left")
        return row

    def _build_tables(self) -> ttk.PanedWindow:
        pane = ttk.PanedWindow(self, orient="horizontal")
        left = ttk.LabelFrame(pane, text="Sessions", padding=4)
        self.sessions = ttk.Treeview(
            left, columns=("address", "name", "rooms", "queued"), height=8
        )
        for column, title, width in (
            ("#0", "#", 40),
            ("address", "Address", 150),
            ("name", "Name", 110),
            ("rooms", "Rooms", 150),
            ("queued", "Queued", 70),
        ):
            self.sessions.heading(column, text=title)
            self.sessions.column(
                column, width=width, anchor="e" if column == "queued" else "w"
            )
        self.sessions.pack(fill="both", expand=True)
        right = ttk.LabelFrame(pane, text="Rooms", padding=4)
        self.rooms = ttk.Treeview(right, columns=("members",), height=8)
        self.rooms.heading("#0", text="Room")
        self.rooms.heading("members", text="Members")
        self.rooms.column("#0", width=110)
        self.rooms.column("members", width=240)
        self.rooms.pack(fill="both", expand=True)
        pane.add(left, weight=3)
        pane.add(right, weight=2)
        return pane

    def _build_log(self) -> ttk.LabelFrame:
        box = ttk.LabelFrame(self, text="Log", padding=4)
        box.columnconfigure(0, weight=1)
        box.rowconfigure(0, weight=1)
        self.log = tk.Text(
            box, height=12, wrap="none", state="disabled", font=("DejaVu Sans Mono", 9)
        )
        bar = ttk.Scrollbar(box, orient="vertical", command=self.log.yview)
        self.log.configure(yscrollcommand=bar.set)
        self.log.grid(row=0, column=0, sticky="nsew")
        bar.grid(row=0, column=1, sticky="ns")
        self.log.tag_configure("warning", foreground="#b9770e")
        self.log.tag_configure("error", foreground="#b03a2e")
        return box

    # -- refreshing -------------------------------------------------------------

    def log_lines(self) -> list[str]:
        return self.log.get("1.0", "end-1c").splitlines()

    def _tick(self) -> None:
        if self.closed:
            return
        self.drain_log()
        self.refresh()
        self.root.after(REFRESH_MS, self._tick)

    def drain_log(self) -> None:
        lines: list[tuple[str, int]] = []
        for _ in range(1000):
            try:
                lines.append(self.log_queue.lines.get_nowait())
            except queue.Empty:
                break
        if not lines:
            return
        at_end = self.log.yview()[1] >= 0.999
        self.log.configure(state="normal")
        for line, level in lines:
            tag = (
                "error"
                if level >= logging.ERROR
                else "warning"
                if level >= logging.WARNING
                else ""
            )
            self.log.insert("end", line + "\n", (tag,) if tag else ())
        excess = int(self.log.index("end-1c").split(".")[0]) - LOG_LINES
        if excess > 0:
            self.log.delete("1.0", f"{excess + 1}.0")
        self.log.configure(state="disabled")
        if at_end:
            self.log.see("end")

    def refresh(self) -> None:
        """Ask the server for a snapshot; shown when it comes back."""
        if self._refreshing or self.closing:
            return
        self._refreshing = True
        server = self.server

        async def take() -> ServerStats:
            return server.stats()

        def shown(stats: ServerStats) -> None:
            self._refreshing = False
            self.show(stats)

        def failed(_exc: BaseException) -> None:
            self._refreshing = False

        self.bridge.run(take(), shown, failed)

    def show(self, stats: ServerStats) -> None:
        self.stats = stats
        core = stats.core
        now = time.monotonic()
        self.samples.append((now, core.messages))
        while self.samples and now - self.samples[0][0] > RATE_WINDOW:
            self.samples.popleft()
        first_time, first_count = self.samples[0]
        rate = (
            (core.messages - first_count) / (now - first_time)
            if now > first_time
            else 0.0
        )
        queued = [s.queued for s in core.sessions]
        logged_in = sum(1 for s in core.sessions if s.name is not None)
        self.counters_text.set(
            f"connections: {len(core.sessions)} open, {logged_in} logged in, "
            f"{core.connections} since start    messages: {core.messages} "
            f"({rate:.1f}/s)    send queues: {sum(queued)} B"
            f" (largest {max(queued, default=0)} B)"
        )
        state = "listening on" if stats.listening else "NOT listening (stopped) on"
        self.address_text.set(f"{state} {stats.address}")
        self.start_button.configure(state="disabled" if stats.listening else "normal")
        self.stop_button.configure(state="normal" if stats.listening else "disabled")
        _replace(
            self.sessions,
            [
                (
                    str(s.id),
                    str(s.id),
                    (s.peer, s.name or "-", " ".join(s.rooms), s.queued),
                )
                for s in core.sessions
            ],
        )
        _replace(
            self.rooms,
            [(r.name, r.name, (", ".join(r.members),)) for r in core.rooms],
        )

    # -- actions ----------------------------------------------------------------

    def stop(self) -> None:
        server = self.server

        async def stop() -> None:
            server.stop_listening()

        self.bridge.run(stop(), lambda _r: self.refresh())

    def start(self) -> None:
        def failed(exc: BaseException) -> None:
            logging.getLogger("batchat.server").error("cannot listen again: %s", exc)

        self.bridge.run(
            self.server.start_listening(), lambda _r: self.refresh(), failed
        )

    def close(self) -> None:
        """Shut the server down (everyone told), then close the window."""
        if self.closing:
            return
        self.closing = True
        logging.getLogger("batchat.server").info("monitor closed: shutting down")
        self.bridge.run(
            self.server.close(), lambda _r: self._finish(), lambda _e: self._finish()
        )

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.bridge.stop()
        self.root.destroy()


def _replace(
    tree: ttk.Treeview, rows: list[tuple[str, str, tuple[object, ...]]]
) -> None:
    """Make ``tree`` show ``rows`` (iid, text, values), touching only changes."""
    wanted = {iid for iid, _, _ in rows}
    for iid in tree.get_children():
        if iid not in wanted:
            tree.delete(iid)
    for index, (iid, text, values) in enumerate(rows):
        if tree.exists(iid):
            if tree.item(iid, "text") != text or tuple(
                str(v) for v in tree.item(iid, "values")
            ) != tuple(str(v) for v in values):
                tree.item(iid, text=text, values=values)
            tree.move(iid, "", index)
        else:
            tree.insert("", index, iid=iid, text=text, values=values)


def run_monitor(
    server: Server, on_listening: Callable[[int], None], root: tk.Tk | None = None
) -> None:
    """Start ``server`` on a network thread and show the monitor until closed.

    Raises ``OSError`` when the server cannot listen, and ``tk.TclError`` when
    no window can be opened (before the server starts).
    """
    root = root or tk.Tk(className="BatChatMonitor")
    log_queue = LogQueue()
    logging.getLogger().addHandler(log_queue)
    bridge = Bridge(root, lambda _u: None)
    bridge.start()
    try:
        bridge.thread.submit(server.start()).result(timeout=30)
    except BaseException:
        bridge.stop()
        root.destroy()
        logging.getLogger().removeHandler(log_queue)
        raise
    style = ttk.Style(root)
    style.theme_use("clam")
    root.configure(background=style.lookup("TFrame", "background"))
    monitor = Monitor(root, server, bridge, log_queue)
    monitor.pack(fill="both", expand=True)
    root.geometry("980x640")
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: root.after(0, monitor.close))
    # Announced only now, so a signal sent as soon as it is read is handled.
    on_listening(server.port)
    try:
        root.mainloop()
    finally:
        logging.getLogger().removeHandler(log_queue)
