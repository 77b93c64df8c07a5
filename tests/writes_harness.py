"""A reader that falls behind: shared by the adapters' write-path tests.

The server's socket to a reader with a small receive buffer fills after a
few hundred long lines; each adapter says, its own way, when what is left
waits with the server (``backed_up``).
"""

from __future__ import annotations

from collections.abc import Callable

from libbatchat import Chat, Message, Nick
from libbatchat._events import Event
from tests.adapters_harness import RawClient, Running, SyncClient

TEXT = "x" * 2000  # a line long enough to fill socket buffers in a few hundred


def numbers(events: list[Event]) -> list[int]:
    """The numbers of the messages, each checked whole to its last byte."""
    found = []
    for event in events:
        if isinstance(event, Message):
            number, _, rest = event.text.partition(" ")
            assert rest in (TEXT, "short"), f"message {number} arrived damaged"
            found.append(int(number))
    return found


def fill(
    running: Running, backed_up: Callable[[], bool]
) -> tuple[RawClient, SyncClient, int]:
    """A reader named slow whose socket is full, the sender, and how many
    lines were sent (20 more after ``backed_up()``: they must queue behind)."""
    slow = running.raw(rcvbuf=4096)
    slow.send(Nick(nick="slow"))
    slow.wait_for(lambda e: getattr(e, "code", None) == 218)
    sender = running.connect()
    assert sender.request(Nick(nick="sender")).code == 218
    sent = 0
    while not backed_up():
        assert sent < 3000, "the server's socket buffer never filled"
        for _ in range(20):
            text = f"{sent} {TEXT}"
            assert sender.request(Chat(target="slow", text=text)).code == 215
            sent += 1
    for _ in range(20):
        assert sender.request(Chat(target="slow", text=f"{sent} {TEXT}")).code == 215
        sent += 1
    return slow, sender, sent


def read_all(slow: RawClient, sent: int) -> None:
    """Every one of ``sent`` lines arrives, once and in order."""
    got: list[int] = []
    while len(got) < sent:
        event = slow.next_event()
        assert event is not None, f"connection ended after {len(got)} of {sent}"
        got.extend(numbers([event]))
    assert got == list(range(sent))


def five_more(slow: RawClient, sender: SyncClient, sent: int) -> None:
    """Five short lines after the first ``sent``, arriving in order."""
    for n in range(sent, sent + 5):
        assert sender.request(Chat(target="slow", text=f"{n} short")).code == 215
    tail = [slow.next_event() for _ in range(5)]
    assert numbers([e for e in tail if e is not None]) == list(range(sent, sent + 5))
