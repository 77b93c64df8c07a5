"""How a client's bytes are split into reads changes nothing anyone sees.

A read that is one whole line takes the core's fast way (``receive_line``:
no buffer, no backlog); reads cut anywhere else take the general way. Both
must give every session the very same bytes, replies and pushes alike.
"""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from libbatchat._server import Output, ServerCore, Session
from tests.server_harness import FAST, WALL

# Plain and not plain (other case, leading blanks, CRLF, a name to fold),
# bad lines of every kind, replies that go to others, and SAIR (after which
# nothing is read).
_LINES = [
    b"CHAT bia oi\n",
    b"CHAT Bia caps\n",
    b"CHAT ana to myself\n",
    b"chat bia lower case\n",
    b"  PING lead\n",
    b"PING\n",
    b"PING " + b"x" * 70 + b"\n",
    b"PONG p\n",
    b"CHAT bia crlf\r\n",
    b"CHAT bia tab\there\n",
    b"CHAT nobody x\n",
    b"CHAT #sala hi all\n",
    b"JUNTAR #sala\n",
    b"DEIXAR #sala\n",
    b"LISTA\n",
    b"SALAS\n",
    b"APELIDO other\n",
    b"CHAT bia\n",
    b"FOO bar\n",
    b"\xff\xfe\n",
    b"\n",
    b"CHAT bia " + b"y" * 5000 + b"\n",
    b"SAIR\n",
]


def _run(reads: list[bytes]) -> dict[str, tuple[bytes, bool]]:
    """What each session was sent, and whether it was closed."""
    core = ServerCore(limits=FAST, clock=lambda: 1000.0, wall=lambda: WALL)
    seen: dict[Session, list[bytes]] = {}
    closed: set[Session] = set()

    def apply(out: Output) -> None:
        for session, data in out.sends:
            seen.setdefault(session, []).append(data)
        closed.update(out.closes)
        for job in out.jobs:
            apply(core.finish(job, job.run()))

    sessions: dict[str, Session] = {}
    for name in ("ana", "bia"):
        session, out = core.connect(f"10.0.0.{len(sessions) + 1}:1000")
        apply(out)
        apply(core.receive(session, f"APELIDO {name}\n".encode()))
        sessions[name] = session
    apply(core.receive(sessions["bia"], b"JUNTAR #sala\n"))
    for data in reads:
        apply(core.receive(sessions["ana"], data))
    return {
        name: (b"".join(seen.get(s, [])), s in closed) for name, s in sessions.items()
    }


@given(
    lines=st.lists(st.sampled_from(_LINES), min_size=1, max_size=16),
    cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=8),
)
def test_one_line_per_read_is_the_stream_cut_anywhere(
    lines: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(lines)
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in pairwise(points)]
    assert _run(lines) == _run(chunks)
