"""The bounded line buffer (protocol.md 2.1-2.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libbatchat import RemoteProtocolError
from libbatchat._buffer import TOO_LONG, LineBuffer


def drain(buf: LineBuffer) -> list[object]:
    out: list[object] = []
    while (line := buf.next_line()) is not None:
        out.append(line)
    return out


def test_lines_come_out_in_order_without_terminators() -> None:
    buf = LineBuffer(100, 200)
    buf.feed(b"one\ntwo\r\n\nthree\r\r\nfour")
    assert drain(buf) == [b"one", b"two", b"", b"three\r"]
    assert len(buf) == 4
    buf.feed(b"\n")
    assert drain(buf) == [b"four"]
    assert len(buf) == 0


def test_a_lone_cr_is_not_a_terminator() -> None:
    buf = LineBuffer(100, 200)
    buf.feed(b"a\rb\n")
    assert drain(buf) == [b"a\rb"]


def test_max_line_counts_the_terminator() -> None:
    buf = LineBuffer(5, 20)
    buf.feed(b"abcd\nabcde\nabc\r\nabcd\r\nok\n")
    assert drain(buf) == [b"abcd", TOO_LONG, b"abc", TOO_LONG, b"ok"]


def test_a_long_line_is_dropped_whole_even_when_split() -> None:
    buf = LineBuffer(5, 20)
    for byte in b"0123456789\nnext\n":
        buf.feed(bytes([byte]))
    assert drain(buf) == [TOO_LONG, b"next"]


def test_unterminated_bytes_are_fatal() -> None:
    buf = LineBuffer(5, 10)
    buf.feed(b"ok\n" + b"x" * 9)
    assert buf.next_line() == b"ok"
    assert buf.next_line() is None
    buf.feed(b"y")
    with pytest.raises(RemoteProtocolError) as exc:
        buf.next_line()
    assert exc.value.fatal
    assert exc.value.reason == "line-too-long"
    assert exc.value.reply_hint is None


def test_an_lf_as_the_last_allowed_byte_is_not_fatal() -> None:
    buf = LineBuffer(5, 10)
    buf.feed(b"x" * 9 + b"\n" + b"z" * 20)
    assert buf.next_line() is TOO_LONG
    with pytest.raises(RemoteProtocolError):
        buf.next_line()


def test_an_lf_beyond_the_unterminated_limit_is_fatal_in_one_chunk_too() -> None:
    buf = LineBuffer(5, 10)
    buf.feed(b"x" * 10 + b"\n")
    with pytest.raises(RemoteProtocolError):
        buf.next_line()


def test_search_resumes_where_it_stopped() -> None:
    buf = LineBuffer(4096, 8192)
    for _ in range(1000):
        buf.feed(b"a")
        assert buf.next_line() is None
    assert buf._scanned == 1000
    buf.feed(b"\n")
    assert buf.next_line() == b"a" * 1000
    assert buf._scanned == 0


def test_clear_forgets_everything_including_the_search() -> None:
    buf = LineBuffer(8, 16)
    buf.feed(b"abcdef")
    assert buf.next_line() is None
    buf.clear()
    assert len(buf) == 0
    assert buf._scanned == 0
    buf.feed(b"x\n")
    assert buf.next_line() == b"x"


@pytest.mark.parametrize(("line", "unterminated"), [(0, 10), (11, 10), (-1, 5)])
def test_limits_must_make_sense(line: int, unterminated: int) -> None:
    with pytest.raises(ValueError, match="max_line"):
        LineBuffer(line, unterminated)


def outcome(data: bytes, chunks: list[int]) -> list[object]:
    buf = LineBuffer(8, 16)
    out: list[object] = []
    pos = 0
    try:
        for size in [*chunks, len(data)]:
            buf.feed(data[pos : pos + size])
            pos += size
            # Line by line, not drain(): the lines before a fatal error count.
            while (line := buf.next_line()) is not None:
                out.append(line)
    except RemoteProtocolError:
        out.append("fatal")
    return out


@settings(max_examples=200)
@given(
    st.binary(max_size=80).map(lambda b: b.replace(b"a", b"\n")),
    st.lists(st.integers(min_value=0, max_value=20), max_size=10),
)
def test_chunking_never_changes_the_outcome(data: bytes, chunks: list[int]) -> None:
    assert outcome(data, chunks) == outcome(data, [])
