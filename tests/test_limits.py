from __future__ import annotations

import pytest

from libbatchat._limits import (
    ConnectionCounter,
    KeyedWindows,
    SendQueueGuard,
    SlidingWindow,
    TokenBucket,
    address_key,
    is_loopback,
)


def test_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(burst=3, rate=2.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.due(100.0) == pytest.approx(100.5)
    assert not bucket.take(100.4)
    assert bucket.take(100.5)
    assert bucket.due(100.5) == pytest.approx(101.0)


def test_bucket_due_is_now_when_a_token_waits() -> None:
    bucket = TokenBucket(burst=1, rate=1.0, now=0.0)
    assert bucket.due(5.0) == 5.0


def test_bucket_refill_caps_at_burst() -> None:
    bucket = TokenBucket(burst=2, rate=10.0, now=0.0)
    assert bucket.take(0.0)
    assert bucket.take(0.0)
    # A long quiet spell refills to the burst, not beyond.
    assert [bucket.take(1000.0) for _ in range(3)] == [True, True, False]


def test_bucket_ignores_clock_stepping_back() -> None:
    bucket = TokenBucket(burst=1, rate=1.0, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert bucket.due(5.0) == pytest.approx(11.0)
    assert bucket.take(11.0)


def test_sliding_window() -> None:
    w = SlidingWindow(limit=2, window=60.0)
    assert w.allowed(0.0)
    w.record(0.0)
    w.record(30.0)
    assert not w.allowed(59.9)
    assert len(w) == 2
    # The first event leaves the window exactly window seconds later.
    assert w.allowed(60.0)
    assert len(w) == 1
    assert w.allowed(200.0)
    assert len(w) == 0


def test_keyed_windows_are_independent_and_forget_idle_keys() -> None:
    k = KeyedWindows(limit=1, window=10.0)
    assert k.allowed("a", 0.0)
    k.record("a", 0.0)
    assert not k.allowed("a", 5.0)
    assert k.allowed("b", 5.0)
    assert len(k) == 1
    assert k.allowed("a", 10.0)
    assert len(k) == 0


def test_keyed_windows_prune_one_off_addresses() -> None:
    k = KeyedWindows(limit=5, window=10.0)
    for i in range(31):
        k.record(f"10.0.0.{i}", 0.0)
    assert len(k) == 31
    # The 32nd key triggers a sweep, but nothing has expired yet.
    k.record("10.0.1.0", 1.0)
    assert len(k) == 32
    for i in range(100):
        k.record(f"10.0.2.{i}", 20.0 + i)
    # Every window older than ten seconds was swept along the way.
    assert len(k) < 40


def test_send_queue_guard_hard_limit() -> None:
    g = SendQueueGuard(hard=100, soft=50, soft_seconds=10.0)
    assert not g.update(99, 0.0)
    assert g.update(100, 0.0)


def test_send_queue_guard_soft_limit_held() -> None:
    g = SendQueueGuard(hard=100, soft=50, soft_seconds=10.0)
    assert g.deadline is None
    assert not g.update(50, 0.0)
    assert g.deadline is None
    assert not g.update(51, 1.0)
    assert g.deadline == 11.0
    # Staying over keeps the original start.
    assert not g.update(80, 5.0)
    assert g.deadline == 11.0
    assert not g.expired(10.9)
    assert g.expired(11.0)
    assert g.update(60, 11.0)
    # Dropping to the soft limit resets the timer.
    assert not g.update(10, 12.0)
    assert g.deadline is None
    assert not g.expired(100.0)


@pytest.mark.parametrize(
    ("peer", "key", "loopback"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1:5000", "127.0.0.1", True),
        ("::1", "::1", True),
        ("[::1]:5000", "::1", True),
        ("::ffff:10.1.2.3", "10.1.2.3", False),
        ("[::ffff:127.0.0.1]:80", "127.0.0.1", True),
        ("2001:db8::1", "2001:db8::1", False),
        ("10.1.2.3:44", "10.1.2.3", False),
        ("/run/chat.sock", "/run/chat.sock", False),
        ("localhost:80", "localhost:80", False),
    ],
)
def test_address_key(peer: str, key: str, loopback: bool) -> None:
    assert address_key(peer) == key
    assert is_loopback(peer) is loopback


def test_connection_counter() -> None:
    c = ConnectionCounter(max_per_ip=2, exempt_loopback=True)
    assert c.acquire("10.0.0.1:1")
    assert c.acquire("10.0.0.1:2")
    assert not c.acquire("10.0.0.1:3")
    assert c.count("10.0.0.1") == 2
    assert c.acquire("10.0.0.2:1")
    c.release("10.0.0.1:1")
    assert c.count("10.0.0.1") == 1
    assert c.acquire("10.0.0.1:4")
    c.release("10.0.0.2:1")
    assert c.count("10.0.0.2") == 0
    # Releasing what was never counted changes nothing.
    c.release("10.9.9.9")
    assert c.count("10.9.9.9") == 0


def test_connection_counter_loopback_exemption() -> None:
    exempt = ConnectionCounter(max_per_ip=1, exempt_loopback=True)
    assert all(exempt.acquire("127.0.0.1") for _ in range(5))
    assert exempt.count("127.0.0.1") == 5
    strict = ConnectionCounter(max_per_ip=1, exempt_loopback=False)
    assert strict.acquire("::1")
    assert not strict.acquire("[::1]:9")


def test_windows_forget_one_event_by_its_stamp() -> None:
    w = SlidingWindow(2, 10.0)
    w.record(1.0)
    w.record(1.0)
    assert not w.allowed(2.0)
    w.forget(1.0)
    assert w.allowed(2.0) and len(w) == 1
    w.forget(5.0)  # never recorded: nothing happens
    w.forget(1.0)
    w.forget(1.0)
    assert len(w) == 0
    k = KeyedWindows(1, 10.0)
    k.forget("a", 1.0)  # unknown key: nothing happens
    k.record("a", 1.0)
    assert not k.allowed("a", 2.0)
    k.forget("a", 1.0)
    assert k.allowed("a", 2.0)
