"""The sans-IO server core alone: CPU per command, no sockets, no event loop.

``python -m benchmarks.core`` drives a ``ServerCore`` the way an adapter
does (bytes in through ``receive``, then ``earliest_deadline`` to re-arm the
timer; the ``Output``'s bytes are counted, not written) and prints the
microseconds of one call per command:

- a direct message, ``CHAT name text`` in, ``FROM`` to the target and
  ``CHAT-215`` to the sender out (the DM scenario's server side, half a
  round trip);
- a room message to N members (``FROM`` to N-1, ``CHAT-215`` to the sender),
  per command and per delivery;
- a ``PING`` (the cheapest command: parse, reply).

Flood control is off as in the runner (``--burst``/``--rate`` 1,000,000).
``--profile`` runs the DM case under cProfile and prints the top entries.
Figures are the best of ``--repeat`` rounds (the machine is shared: the
best round is the least disturbed one).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable

from libbatchat import Limits
from libbatchat._server import Output, ServerCore, Session

_LIMITS = Limits(
    burst=1_000_000,
    rate=1_000_000.0,
    login_timeout=3600.0,
    ping_interval=3600.0,
    ping_timeout=7200.0,
)


# The runner's texts carry a send time in ns; so do these, for the same length.
_NS = 1764590000000000000


def _log_in(core: ServerCore, name: str) -> Session:
    session, _ = core.connect(f"127.0.0.1:{40000 + len(core.sessions)}")
    out = core.receive(session, f"APELIDO {name}\n".encode())
    _finish(core, out)
    assert session.name == name, f"{name} did not log in"
    return session


def _finish(core: ServerCore, out: Output) -> None:
    # Jobs (the account store's lookup) run inline here, as a worker would.
    jobs = list(out.jobs)
    while jobs:
        job = jobs.pop(0)
        jobs.extend(core.finish(job, job.run()).jobs)


def _drive(
    core: ServerCore, session: Session, lines: list[bytes], expect: int
) -> Callable[[], None]:
    """A loop feeding ``lines`` one call each, as one read per line."""
    receive, earliest = core.receive, core.earliest_deadline

    def run() -> None:
        for data in lines:
            out = receive(session, data)
            earliest()
            if len(out.sends) != expect:
                raise AssertionError(f"{len(out.sends)} sends, expected {expect}")

    return run


def _best(run: Callable[[], None], count: int, repeat: int) -> float:
    """The least microseconds per call over ``repeat`` rounds of ``count``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, (time.process_time() - start) / count * 1e6)
    return best


def dm_case(count: int) -> tuple[ServerCore, Callable[[], None]]:
    core = ServerCore(limits=_LIMITS)
    ana = _log_in(core, "ana")
    _log_in(core, "bruno")
    lines = [f"CHAT bruno x ana {i} {_NS}\n".encode() for i in range(count)]
    return core, _drive(core, ana, lines, expect=2)


def room_case(members: int, count: int) -> tuple[ServerCore, Callable[[], None]]:
    core = ServerCore(limits=_LIMITS)
    sessions = [_log_in(core, f"u{i}") for i in range(members)]
    for session in sessions:
        _finish(core, core.receive(session, b"JUNTAR #sala\n"))
    lines = [f"CHAT #sala x u0 {i} {_NS}\n".encode() for i in range(count)]
    return core, _drive(core, sessions[0], lines, expect=members)


def ping_case(count: int) -> tuple[ServerCore, Callable[[], None]]:
    core = ServerCore(limits=_LIMITS)
    ana = _log_in(core, "ana")
    lines = [f"PING t{i}\n".encode() for i in range(count)]
    return core, _drive(core, ana, lines, expect=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.core")
    parser.add_argument("--count", type=int, default=20_000, help="commands a round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; best is kept")
    parser.add_argument(
        "--members", default="50,200,1000", help="room sizes, comma-separated"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the DM case")
    args = parser.parse_args(argv)
    count, repeat = args.count, args.repeat
    if args.profile:
        _, run = dm_case(count)
        profile = cProfile.Profile()
        profile.runcall(run)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return 0
    rows: list[tuple[str, float, str]] = []
    _, run = dm_case(count)
    rows.append(("DM CHAT (FROM + CHAT-215)", _best(run, count, repeat), ""))
    _, run = ping_case(count)
    rows.append(("PING (PONG-224)", _best(run, count, repeat), ""))
    for members in (int(m) for m in args.members.split(",")):
        n = max(200, count * 20 // members)
        _, run = room_case(members, n)
        us = _best(run, n, repeat)
        rows.append(
            (f"room CHAT, {members} members", us, f"{us / (members - 1):.3f}/delivery")
        )
    print(f"{'command':<30} {'us/command':>10}  per delivery")
    for name, us, extra in rows:
        print(f"{name:<30} {us:>10.2f}  {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
