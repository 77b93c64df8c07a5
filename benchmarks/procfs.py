"""What a process costs, from /proc (Linux): CPU seconds (user and system)
and resident memory."""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    cpu_s: float  # user + system time of every thread so far
    user_s: float
    sys_s: float
    rss_kib: int  # VmRSS
    threads: int


def sample(pid: int) -> Sample | None:
    """The process's counters now, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are plain.
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime, threads = int(fields[11]), int(fields[12]), int(fields[17])
    rss = 0
    for line in status.splitlines():
        if line.startswith(b"VmRSS:"):
            rss = int(line.split()[1])
    return Sample((utime + stime) / _TICK, utime / _TICK, stime / _TICK, rss, threads)
