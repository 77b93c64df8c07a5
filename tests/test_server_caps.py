"""The global connection cap in the core, and limits left to the system."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from libbatchat import Closing, Limits, Quit
from libbatchat.adapters import _system
from tests.server_harness import FAST, Net


def test_max_connections_counts_every_address() -> None:
    net = Net(dataclasses.replace(FAST, max_connections=2))
    first = net.connect("10.0.0.1:1")
    net.connect("127.0.0.1:2")  # loopback is exempt per address, not in all
    refused = net.connect("10.0.0.3:3")
    (closing,) = refused.take()
    assert isinstance(closing, Closing)
    assert closing.reason == "too-many-connections"
    assert "this server" in closing.text
    assert refused.closed and refused.session not in net.core.sessions
    first.send(Quit())
    assert not net.connect("10.0.0.3:4").closed


def test_zero_means_no_cap_in_the_core() -> None:
    net = Net(dataclasses.replace(FAST, max_connections=0))
    assert not any(net.connect(f"10.0.0.{i}:1").closed for i in range(50))


def test_only_the_system_limits_may_be_zero() -> None:
    Limits(max_connections=0, listen_backlog=0)
    with pytest.raises(ValueError, match="max_per_ip must be positive"):
        Limits(max_per_ip=0)
    with pytest.raises(ValueError, match="max_connections must be positive"):
        Limits(max_connections=-1)


def test_resolve_fills_in_what_the_system_allows() -> None:
    resolved = _system.resolve(Limits(), threads_per_connection=2)
    assert resolved.max_connections > 0
    assert resolved.listen_backlog == _system.somaxconn()
    chosen = Limits(max_connections=7, listen_backlog=9)
    assert _system.resolve(chosen, threads_per_connection=2) == chosen


def test_throttled_log_says_how_many_it_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    throttled = _system.Throttled(10.0, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="libbatchat.adapters"):
        assert throttled(logging.ERROR, "accept failed: %s", "EMFILE")
        for _ in range(500):
            now[0] += 0.01
            assert not throttled(logging.ERROR, "accept failed: %s", "EMFILE")
        now[0] = 10.0
        assert throttled(logging.ERROR, "accept failed: %s", "EMFILE")
    assert [r.getMessage() for r in caplog.records] == [
        "accept failed: EMFILE",
        "accept failed: EMFILE (500 more like it in the last 10 s)",
    ]


def test_backoff_doubles_to_a_ceiling_and_resets() -> None:
    backoff = _system.Backoff()
    delays = [backoff.failed() for _ in range(8)]
    assert delays[0] == _system.ACCEPT_BACKOFF
    assert delays == sorted(delays) and delays[-1] == _system.ACCEPT_BACKOFF_MAX
    backoff.succeeded()
    assert backoff.failed() == _system.ACCEPT_BACKOFF
