"""System calls a server makes in the measured window, counted by ``perf stat``.

With ``--syscalls`` the runner attaches ``perf stat`` to the server's
processes before the generator starts, counting disabled; it enables the
counters at the window's ``start`` mark and disables them at ``end`` (the
generator is waiting for the runner at both, so nothing moves meanwhile),
through perf's control FIFOs, each command acknowledged. The counts are
syscall-entry tracepoints: exact, not sampled. Counting them costs the
server a little on every system call, so the run's CPU figures are a few
percent high with ``--syscalls`` (compare CPU on runs without it).

Linux only; needs ``perf`` and the right to open tracepoints (root, or
``kernel.perf_event_paranoid`` at -1 with tracefs readable).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

from benchmarks.report import Record, _grid

# Column -> tracepoint. asyncio sends and receives with send()/recv_into()
# (sendto/recvfrom), libuv (uvloop) and ngircd with write()/read(); libuv
# waits in epoll_pwait, asyncio and ngircd in epoll_wait. "all" is every
# system call, these and the rest.
EVENTS = {
    "sendto": "syscalls:sys_enter_sendto",
    "recvfrom": "syscalls:sys_enter_recvfrom",
    "write": "syscalls:sys_enter_write",
    "writev": "syscalls:sys_enter_writev",
    "read": "syscalls:sys_enter_read",
    "epoll_wait": "syscalls:sys_enter_epoll_wait",
    "epoll_pwait": "syscalls:sys_enter_epoll_pwait",
    "epoll_ctl": "syscalls:sys_enter_epoll_ctl",
    # Thread wake-ups and contended locks (the threaded adapter).
    "futex": "syscalls:sys_enter_futex",
    "all": "raw_syscalls:sys_enter",
}
_NAMES = {tracepoint: name for name, tracepoint in EVENTS.items()}
_ACK_TIMEOUT = 15.0


class Unavailable(Exception):
    pass


def perf_path() -> str | None:
    return shutil.which("perf") or (
        "/usr/bin/perf" if os.access("/usr/bin/perf", os.X_OK) else None
    )


def missing() -> str | None:
    """Why system calls cannot be counted here, or None."""
    perf = perf_path()
    if perf is None:
        return "perf not found (Debian package linux-perf)"
    probe = subprocess.run(
        [perf, "stat", "-x,", "-e", ",".join(EVENTS.values()), "--", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or "<not supported>" in probe.stderr:
        why = probe.stderr.strip().splitlines()
        return "perf cannot open syscall tracepoints: " + (why[0] if why else "?")
    return None


class Counter:
    """``perf stat`` on ``pids``, counting only between enable() and disable()."""

    def __init__(self, pids: list[int], workdir: Path) -> None:
        perf = perf_path()
        if perf is None:
            raise Unavailable("perf not found")
        workdir.mkdir(parents=True, exist_ok=True)
        ctl, ack = workdir / "perf-ctl", workdir / "perf-ack"
        for fifo in (ctl, ack):
            with contextlib.suppress(FileNotFoundError):
                fifo.unlink()
            os.mkfifo(fifo)
        # Read-write ends on our side: opening never blocks, and a read
        # never sees end-of-file while perf has not opened its end yet.
        self._ctl = os.open(ctl, os.O_RDWR)
        self._ack = os.open(ack, os.O_RDWR)
        self.error = ""
        self._out = workdir / "perf-stat.csv"
        self._err = workdir / "perf.log"
        cmd = [perf, "stat", "-x,", "-o", str(self._out), "-D", "-1"]
        cmd += ["--control", f"fifo:{ctl},{ack}", "-e", ",".join(EVENTS.values())]
        cmd += ["-p", ",".join(str(p) for p in pids)]
        with self._err.open("wb") as err:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )

    def _command(self, word: str) -> None:
        # A failure is kept for stop() to raise: the run goes on uncounted.
        if self.error:
            return
        os.write(self._ctl, word.encode() + b"\n")
        deadline = time.monotonic() + _ACK_TIMEOUT
        got = b""
        while b"ack\n" not in got:
            if self._proc.poll() is not None:
                self.error = f"perf exited: {self._log()}"
                return
            left = deadline - time.monotonic()
            if left <= 0:
                self.error = f"perf did not acknowledge {word!r}"
                return
            ready, _, _ = select.select([self._ack], [], [], min(left, 0.5))
            if ready:
                got += os.read(self._ack, 64)

    def enable(self) -> None:
        self._command("enable")

    def disable(self) -> None:
        self._command("disable")

    def _log(self) -> str:
        try:
            return self._err.read_text(errors="replace").strip()[-300:]
        except OSError:
            return "(no log)"

    def stop(self) -> dict[str, int]:
        """Stop perf; the counts of the enabled span, by column name."""
        try:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)
                try:
                    self._proc.wait(15)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                    raise Unavailable("perf did not stop on SIGINT") from None
            if self.error:
                raise Unavailable(self.error)
            return parse(self._out.read_text(errors="replace"))
        except OSError as exc:
            raise Unavailable(f"no perf output: {exc}; {self._log()}") from exc
        finally:
            os.close(self._ctl)
            os.close(self._ack)


def parse(text: str) -> dict[str, int]:
    """``perf stat -x,`` lines (``count,unit,event,...``) to counts by name."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 3 or fields[2] not in _NAMES:
            continue
        value = fields[0].strip()
        if value.isdigit():
            counts[_NAMES[fields[2]]] = int(value)
    missing_names = [n for n in EVENTS if n not in counts]
    if missing_names:
        raise Unavailable(f"perf counted nothing for {', '.join(missing_names)}")
    return counts


def table(records: list[Record]) -> str:
    """System calls per round trip (per delivery but for dm), one row a server."""
    counted = [r for r in records if r.get("syscalls_per_unit")]
    if not counted:
        return ""
    unit = "round trip" if counted[0]["kind"] == "dm" else "delivery"
    rows = [["server", *EVENTS]]
    rows += [
        [r["server"], *(f"{r['syscalls_per_unit'].get(k, 0):.2f}" for k in EVENTS)]
        for r in counted
    ]
    return f"System calls per {unit} in the window (perf stat):\n{_grid(rows)}"
