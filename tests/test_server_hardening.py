"""The server core against issue 7's attacks, on a virtual clock."""

from __future__ import annotations

from dataclasses import replace

from libbatchat import Closing, Nick, Ping, ServerPing
from tests.server_harness import FAST, Net


def test_partial_line_bytes_are_no_sign_of_life() -> None:
    net = Net(replace(FAST, ping_interval=10.0, ping_timeout=20.0))
    c = net.connect()
    c.take()
    assert c.ask(Nick(nick="ana")).code == 218
    c.send_raw(b"CHAT * trick")
    for _ in range(3):
        net.advance(3.0)
        c.send_raw(b"l")
    net.advance(1.0)
    (ping,) = c.take()
    assert isinstance(ping, ServerPing)
    for _ in range(3):
        net.advance(3.0)
        c.send_raw(b"e")
    assert not c.closed
    net.advance(1.0)
    (closing,) = c.take()
    assert isinstance(closing, Closing) and closing.reason == "ping-timeout"
    assert c.closed


def test_a_blank_line_is_a_sign_of_life() -> None:
    net = Net(replace(FAST, ping_interval=10.0, ping_timeout=20.0))
    c = net.connect()
    c.take()
    assert c.ask(Nick(nick="ana")).code == 218
    for _ in range(10):
        net.advance(9.0)
        c.send_raw(b"\n")
    assert c.take() == []
    assert c.ask(Ping(token="x")).text == "x"
