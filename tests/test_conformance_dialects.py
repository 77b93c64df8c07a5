"""Each classroom dialect driver against our own listener (every case it can
express passes) and against broken variants of that listener's codec (the
cases that check the broken behaviour fail, and only they)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from libbatchat import Limits, Message, Offline, Push, Reply
from libbatchat._codec import PATIENCE, Codec, Ctx
from libbatchat._dialects import DIALECTS
from libbatchat._events import Left, Login, Nick
from libbatchat.adapters import threaded
from libbatchat.adapters._common import Listen
from libbatchat.conformance import _report
from libbatchat.conformance._engine import (
    FAIL,
    NA,
    PASS,
    Result,
    Target,
    all_cases,
    probe,
    run,
    run_case,
    run_id,
)
from libbatchat.conformance._timing import Timing
from libbatchat.conformance.dialects import load

LIMITS = Limits(scrypt_n=16, rate=1000, burst=1000, ip_login_attempts=10**6)

# What each dialect's driver can express, so what must pass against us.
RUNS: dict[str, set[str]] = {
    "minichat": {
        "transport/concurrent-connections",
        "transport/client-closes-anytime",
        "seeds/duplicate-name-refused",
        "seeds/quit-leaves-others-told",
        "messages/broadcast",
        "messages/broadcast-not-to-anonymous",
        "messages/dm-only-target",
        "messages/dm-self",
        "messages/dm-missing-user",
    },
    "slashchat": {
        "transport/concurrent-connections",
        "transport/client-closes-anytime",
        "seeds/quit-leaves-others-told",
        "messages/broadcast",
        "messages/broadcast-not-to-anonymous",
        "messages/dm-only-target",
        "messages/dm-self",
        "messages/dm-missing-user",
    },
    "batchat1": {
        "transport/concurrent-connections",
        "seeds/duplicate-name-refused",
        "messages/dm-only-target",
        "messages/dm-self",
        "messages/dm-missing-user",
    },
    "chatsocket": {
        "transport/concurrent-connections",
        "transport/client-closes-anytime",
        "seeds/quit-leaves-others-told",
        "messages/broadcast",
        "messages/broadcast-not-to-anonymous",
    },
}

MUTATIONS = {
    "drop-dm": "direct messages are never delivered",
    "drop-broadcast": "messages to everyone or to a room are never delivered",
    "no-offline": "nobody is told when a user leaves",
    "dup-name": "a refused login is answered as if it had worked",
    "silent-not-found": "a message to a missing user gets no answer",
}

_DM_CASES = {"messages/dm-only-target", "messages/dm-self"}
_NEEDS_DM = _DM_CASES | {"seeds/duplicate-name-refused"}

# Derived from what each case checks (see RUNS for what runs at all).
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("minichat", "drop-dm"): _NEEDS_DM | {"seeds/quit-leaves-others-told"},
    ("slashchat", "drop-dm"): _DM_CASES | {"seeds/quit-leaves-others-told"},
    ("batchat1", "drop-dm"): _NEEDS_DM,
    ("chatsocket", "drop-dm"): set(),
    ("minichat", "drop-broadcast"): {"messages/broadcast"},
    ("slashchat", "drop-broadcast"): {"messages/broadcast"},
    ("batchat1", "drop-broadcast"): set(),
    ("chatsocket", "drop-broadcast"): {
        "messages/broadcast",
        "seeds/quit-leaves-others-told",
    },
    ("minichat", "no-offline"): {"seeds/quit-leaves-others-told"},
    ("slashchat", "no-offline"): {"seeds/quit-leaves-others-told"},
    ("batchat1", "no-offline"): set(),
    ("chatsocket", "no-offline"): {"seeds/quit-leaves-others-told"},
    ("minichat", "dup-name"): {"seeds/duplicate-name-refused"},
    ("slashchat", "dup-name"): set(),  # its protocol never promised unique names
    ("batchat1", "dup-name"): {"seeds/duplicate-name-refused"},
    ("chatsocket", "dup-name"): set(),
    ("minichat", "silent-not-found"): {"messages/dm-missing-user"},
    ("slashchat", "silent-not-found"): {"messages/dm-missing-user"},
    ("batchat1", "silent-not-found"): {"messages/dm-missing-user"},
    ("chatsocket", "silent-not-found"): set(),
}


def broken(base: type[Codec], mutation: str) -> type[Codec]:
    """``base`` with one bug, as a student's server might have it."""

    class Broken(base):  # type: ignore[valid-type,misc]
        name = f"{base.name}-{mutation}"

        def render(self, push: Push) -> bytes:
            if isinstance(push, Message):
                direct = push.address == "@"
                if mutation == ("drop-dm" if direct else "drop-broadcast"):
                    return b""
            if mutation == "no-offline" and isinstance(push, Offline | Left):
                return b""
            return bytes(super().render(push))

        def render_reply(self, reply: Reply, ctx: Ctx) -> str:
            if mutation == "silent-not-found" and reply.code == 216:
                return ""
            if mutation == "dup-name" and reply.code in (703, 705):
                command = self._refused
                if isinstance(command, Nick):
                    reply = Reply(code=218, text=command.nick)
                elif isinstance(command, Login):
                    reply = Reply(code=214, text=command.user)
                else:
                    reply = Reply(code=213)
            return str(super().render_reply(reply, ctx))

        def next_event(self):  # type: ignore[no-untyped-def]
            event = super().next_event()
            if isinstance(event, Nick | Login):
                self._refused = event
            elif event.__class__.__name__ == "Register":
                self._refused = None
            return event

        _refused: Nick | Login | None = None

    return Broken


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, int]]:
    """One server with every dialect listener and every broken variant."""
    saved = dict(DIALECTS)
    for name in RUNS:
        for mutation in MUTATIONS:
            codec = broken(saved[name], mutation)
            DIALECTS[codec.name] = codec
    listen = [Listen(name, "127.0.0.1", 0) for name in DIALECTS]
    try:
        with threaded.Server("127.0.0.1", 0, limits=LIMITS, listen=listen) as server:
            yield {spec.dialect: spec.port for spec in server.listeners}
    finally:
        DIALECTS.clear()
        DIALECTS.update(saved)


def run_driver(dialect: str, port: int) -> list[Result]:
    target = Target("127.0.0.1", port)
    driver = load(dialect)
    found = probe(target, driver, scale=1.5)
    return run(all_cases(), target=target, dialect=driver, timing=found.timing, jobs=8)


@pytest.fixture(scope="module")
def verdicts(servers: dict[str, int]) -> dict[tuple[str, str], list[Result]]:
    jobs = [(d, m) for d in RUNS for m in ("none", *MUTATIONS)]

    def one(job: tuple[str, str]) -> list[Result]:
        dialect, mutation = job
        listener = dialect if mutation == "none" else f"{dialect}-{mutation}"
        return run_driver(dialect, servers[listener])

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(one, jobs), strict=True))


@pytest.mark.parametrize("dialect", list(RUNS))
def test_each_driver_passes_against_our_listener(
    dialect: str, verdicts: dict[tuple[str, str], list[Result]]
) -> None:
    results = verdicts[dialect, "none"]
    passed = {r.case.id for r in results if r.verdict == PASS}
    bad = [
        f"{r.case.id}: {r.verdict}: {r.detail[:300]}"
        for r in results
        if r.verdict not in (PASS, NA)
    ]
    assert not bad, "\n".join(bad)
    assert passed == RUNS[dialect]
    # No PING: every verdict that needed "nothing else came" says so.
    quiet = {r.case.id for r in results if r.quiet}
    assert quiet >= passed - {"transport/concurrent-connections"}


@pytest.mark.parametrize(
    ("dialect", "mutation"), [(d, m) for d in RUNS for m in MUTATIONS]
)
def test_broken_variants_fail_exactly_the_matching_cases(
    dialect: str, mutation: str, verdicts: dict[tuple[str, str], list[Result]]
) -> None:
    results = verdicts[dialect, mutation]
    failed = {r.case.id for r in results if r.verdict not in (PASS, NA)}
    expected = EXPECTED[dialect, mutation]
    why = "\n".join(
        f"{r.case.id}: {r.verdict}: {r.detail[:300]}"
        for r in results
        if (r.case.id in failed) != (r.case.id in expected)
    )
    assert failed == expected, (
        f"{dialect} {mutation}: undetected {expected - failed}, "
        f"unexpected {failed - expected}\n{why}"
    )
    assert all(r.verdict == FAIL for r in results if r.case.id in expected)


def test_the_report_marks_quiet_verdicts(
    verdicts: dict[tuple[str, str], list[Result]],
) -> None:
    results = verdicts["minichat", "none"]
    report = _report.Run(
        target=Target("127.0.0.1", 1),
        dialect="minichat",
        results=results,
        seconds=1.0,
        rtt=0.001,
        grace=0.15,
    )
    text = _report.summary(report)
    assert "rest on quiet periods of 150 ms" in text
    rows = [_report.row(r) for r in results if r.case.id == "messages/broadcast"]
    assert "PASS~" in rows[0]
    details = _report.details(report)
    assert "N/A (dialect minichat lacks" in details
    data = _report.to_json(report)
    assert data["quiet_period_seconds"] == 0.15
    tree = _report.to_junit(report)
    assert tree.getroot().find(".//property[@name='quiet_period']") is not None


def test_pytest_plugin_grades_a_dialect(
    servers: dict[str, int], tmp_path: Path
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--batchat-server=127.0.0.1:{servers['minichat']}",
            "--batchat-dialect=minichat",
            "--batchat-select=messages/*",
            f"--junitxml={tmp_path / 'r.xml'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed, 3 skipped" in proc.stdout
    root = ET.parse(tmp_path / "r.xml").getroot()
    quiet = root.findall(".//property[@name='quiet_period']")
    assert len(quiet) == 5


def test_a_slow_round_trip_keeps_a_split_login_within_the_servers_patience(
    servers: dict[str, int],
) -> None:
    # A probe on a loaded machine measured a round trip that made the quiet
    # period longer than the time our Chat Socket listener waits for a name
    # after its room: every login was given up (a flake under load).
    slow = Timing(rtt=0.1, scale=1.5)
    assert slow.grace >= PATIENCE > slow.part_gap
    (case,) = [c for c in all_cases() if c.id == "transport/concurrent-connections"]
    result = run_case(
        case,
        target=Target("127.0.0.1", servers["chatsocket"]),
        dialect=load("chatsocket"),
        timing=slow,
        prefix=run_id(),
        budget=30.0,
    )
    assert result.verdict == PASS, result.detail
