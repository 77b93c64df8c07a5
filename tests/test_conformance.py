"""The conformance suite against our own servers, and the suite's own parts:
CLI, reports, spec coverage, dialect loading and the pytest plugin."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from broken_servers import BrokenServer

from libbatchat import Limits
from libbatchat.adapters import aio, threaded
from libbatchat.conformance import _spec, cli
from libbatchat.conformance._engine import (
    FAIL,
    NA,
    PASS,
    SKIP,
    Result,
    Target,
    all_cases,
    choose,
    probe,
    run,
    selected,
)
from libbatchat.conformance._model import Cap
from libbatchat.conformance.dialects import available, load
from libbatchat.conformance.dialects.canonical import CanonicalDialect
from tests.adapters_harness import LoopThread
from tests.conformance_harness import run_canonical

# Steady timers for the whole suite: a loaded machine (coverage, two cores)
# can stall a session for seconds, and a 2 s ping timeout would then close
# sessions that are merely slow. The timer cases, which need short timers to
# fit the budget, run again on their own against FAST servers.
STEADY = Limits(
    scrypt_n=16,
    rate=1000,
    burst=1000,
    exempt_loopback=False,
    max_per_ip=32,
)
FAST = replace(STEADY, login_timeout=1.5, ping_interval=1.0, ping_timeout=2.0)
TIMER_CASES = (
    "liveness/answered-ping",
    "liveness/ping-timeout",
    "limits/login-timeout",
    "liveness/partial-line",
)
# The program runs every case in one go: timers short enough for the budget,
# long enough that a slow session is not closed by them.
SERVER_FLAGS = (
    "--db :memory: --scrypt-n 16 --rate 1000 --burst 1000 "
    "--no-exempt-loopback --max-per-ip 32 "
    "--login-timeout 4 --ping-interval 5 --ping-timeout 10"
)
# Timeouts stretched for the same reason; they cost time only on failure.
SCALE = 3.0


@contextmanager
def threaded_server(limits: Limits = STEADY) -> Iterator[int]:
    with threaded.Server(host="127.0.0.1", port=0, limits=limits) as server:
        yield server.port


@contextmanager
def aio_server(limits: Limits = STEADY, adapter: str = "asyncio") -> Iterator[int]:
    loop = LoopThread(adapter)
    try:
        server = aio.Server(host="127.0.0.1", port=0, limits=limits)
        loop.run(server.start())
        try:
            yield server.port
        finally:
            loop.run(server.close(), timeout=30)
    finally:
        loop.stop()


@contextmanager
def uvloop_server(limits: Limits = STEADY) -> Iterator[int]:
    with aio_server(limits, "uvloop") as port:
        yield port


# Every server the suite must pass on; uvloop's only when it is installed.
SERVERS = [
    aio_server,
    pytest.param(
        uvloop_server,
        marks=pytest.mark.skipif(
            importlib.util.find_spec("uvloop") is None, reason="uvloop not installed"
        ),
    ),
    threaded_server,
]


def run_all(port: int, cases: tuple[str, ...] = (), **kwargs: object) -> list[Result]:
    chosen = [c for c in all_cases() if not cases or c.id in cases]
    return run_canonical(chosen, port, scale=SCALE, jobs=4, **kwargs)


def failures(results: list[Result]) -> str:
    return "\n\n".join(
        f"{r.case.id}: {r.verdict}: {r.detail}\n" + "\n".join(r.transcript[-15:])
        for r in results
        if r.verdict != PASS
    )


@pytest.mark.parametrize("make_server", SERVERS)
def test_whole_suite_passes_on_both_adapters(make_server: object) -> None:
    with make_server() as port:  # type: ignore[operator]
        results = run_all(port)
    verdicts = {r.case.id: r.verdict for r in results}
    assert len(results) == len(all_cases())
    # Over the budget with steady timers: they run in the next test.
    assert {c: v for c, v in verdicts.items() if v != PASS} == dict.fromkeys(
        TIMER_CASES, SKIP
    ), failures(results)


def test_refusal_cases_release_their_connections_before_liveness() -> None:
    # The proxy never tells the server of a plain close, as a loaded server
    # may not have handled it yet when the liveness check connects: only the
    # connections a case ends with QUIT stop counting against the address.
    refusals = ("greeting/refusal", "limits/connections-per-address")
    with (
        threaded_server() as port,
        BrokenServer(("127.0.0.1", port), "drop-keeps-session") as late,
    ):
        results = run_all(late.port, refusals)
    assert [r.case.id for r in results] == list(refusals)
    assert all(r.verdict == PASS for r in results), failures(results)


@pytest.mark.parametrize("make_server", SERVERS)
def test_timer_cases_pass_on_both_adapters(make_server: object) -> None:
    with make_server(FAST) as port:  # type: ignore[operator]
        results = run_all(port, TIMER_CASES)
    assert [r.case.id for r in results] == [
        c.id for c in all_cases() if c.id in TIMER_CASES
    ]
    assert all(r.verdict == PASS for r in results), failures(results)


def test_whole_suite_passes_on_the_server_program(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    junit = tmp_path / "junit.xml"
    server = f"{sys.executable} -m frontends.server --port {{port}} {SERVER_FLAGS}"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "libbatchat.conformance.cli",
            "--server-cmd",
            server,
            "--json",
            str(report),
            "--junit",
            str(junit),
            "--timeout-scale",
            str(SCALE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    assert data["format"] == "batchat-conformance"
    assert data["ok"] is True
    assert data["summary"] == {PASS: len(all_cases())}
    assert data["server"]["version"] == "batchat/2"
    assert {r["id"] for r in data["results"]} == {c.id for c in all_cases()}
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    assert int(suite.get("tests", "0")) == len(all_cases())
    assert suite.get("failures") == "0"
    assert f"{len(all_cases())} pass, 0 fail" in proc.stdout


# --- the suite's own parts ---------------------------------------------------


def test_every_spec_section_has_a_case() -> None:
    checked = {c.section for c in all_cases()}
    assert _spec.uncovered(_spec.sections(), checked) == []
    assert checked <= {*_spec.sections(), "5"}, "a case names a section the spec lacks"


def test_packaged_section_list_matches_the_spec() -> None:
    doc = _spec.default_doc()
    assert doc.exists()
    assert _spec.parse(doc.read_text(encoding="utf-8")) == _spec.SECTIONS


def test_spec_parser_ignores_wrapped_cross_references() -> None:
    text = (
        "## 1. A\n\n1.1. one\nsee section\n1.2. is not new\n\n"
        "1.2. two\n\n## 2. B\n\nx\n"
    )
    assert _spec.parse(text) == ("1.1", "1.2", "2")


def test_case_ids_are_unique_and_well_formed() -> None:
    cases = all_cases()
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    for c in cases:
        assert "/" in c.id and c.title and c.section[0].isdigit()


def test_select_by_glob_and_section() -> None:
    cases = all_cases()
    by_glob = choose(cases, ["messages/*"])
    assert by_glob and all(c.id.startswith("messages/") for c in by_glob)
    nine = choose(cases, ["9"])
    assert {c.section for c in nine} == {"9.1", "9.2", "9.3"}
    only = choose(cases, ["9.3"], ["messages/dm-*"])
    assert only and all(c.section == "9.3" and "dm-" not in c.id for c in only)
    assert not selected(cases[0], ["10"]) or cases[0].section.startswith("10")


class NoRooms(CanonicalDialect):
    name: ClassVar[str] = "no-rooms"
    capabilities: ClassVar[frozenset[Cap]] = CanonicalDialect.capabilities - {Cap.ROOMS}


def test_missing_capability_is_na_not_fail() -> None:
    with threaded_server() as port:
        target = Target("127.0.0.1", port)
        dialect = NoRooms()
        found = probe(target, dialect)
        cases = choose(all_cases(), ["messages/*", "commands/ping"])
        results = run(cases, target=target, dialect=dialect, timing=found.timing)
    verdicts = {r.case.id: r.verdict for r in results}
    assert verdicts["messages/room"] == NA
    assert verdicts["messages/rooms-never-leak"] == NA
    assert verdicts["messages/dm-only-target"] == PASS
    assert verdicts["commands/ping"] == PASS


def test_budget_skips_slow_timer_cases() -> None:
    with threaded_server(Limits(scrypt_n=16, rate=1000, burst=1000)) as port:
        cases = choose(all_cases(), ["limits/login-timeout", "liveness/*"])
        results = run_canonical(cases, port, budget=5.0)
    assert {r.verdict for r in results} == {SKIP}
    assert all("budget" in r.detail for r in results)


def test_dialects_are_found_by_name() -> None:
    assert "canonical" in available()
    assert load("canonical").name == "canonical"
    assert load("libbatchat.conformance.dialects.canonical").name == "canonical"
    with pytest.raises(ValueError, match="unknown dialect"):
        load("klingon")


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list", "--select", "9.3"]) == cli.EXIT_OK
    assert "messages/broadcast" in capsys.readouterr().out
    assert cli.main(["--coverage"]) == cli.EXIT_OK
    assert "NO CASE" not in capsys.readouterr().out
    assert cli.main([]) == cli.EXIT_USAGE
    assert cli.main(["not-a-target"]) == cli.EXIT_USAGE
    assert cli.main(["127.0.0.1:1"]) == cli.EXIT_USAGE  # nothing listens
    assert cli.main(["127.0.0.1:1", "--dialect", "klingon"]) == cli.EXIT_USAGE
    assert cli.main(["127.0.0.1:1", "--select", "no/such/*"]) == cli.EXIT_USAGE
    assert cli.main(["--server-cmd", "batchat-server --port 1"]) == cli.EXIT_USAGE
    assert cli.main(["--server-cmd", f"{sys.executable} -c 'exit(3)' {{port}}"]) == 2
    capsys.readouterr()


def test_cli_reports_failures_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A deterministic failure: a proxy that drops direct messages.
    with threaded_server() as port, BrokenServer(("127.0.0.1", port), "drop-dm") as bad:
        code = cli.main(
            [
                f"127.0.0.1:{bad.port}",
                "--select",
                "messages/dm-only-target",
                "--select",
                "commands/ping",
                "--json",
                str(tmp_path / "r.json"),
                "--junit",
                str(tmp_path / "r.xml"),
            ]
        )
    out = capsys.readouterr().out
    assert code == cli.EXIT_FAILED
    assert "FAIL" in out and "transcript" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"] == {PASS: 1, FAIL: 1}
    failed = next(r for r in data["results"] if r["verdict"] == FAIL)
    assert failed["id"] == "messages/dm-only-target" and failed["transcript"]
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert suite.get("failures") == "1"
    assert suite.find("testcase/failure") is not None


def test_pytest_plugin_runs_cases_as_items(tmp_path: Path) -> None:
    with threaded_server() as port:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                f"--batchat-server=127.0.0.1:{port}",
                "--batchat-select=commands/*",
                "--batchat-select=9.3",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    expected = len(choose(all_cases(), ["commands/*", "9.3"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{expected} passed" in proc.stdout


def test_pytest_plugin_is_inert_without_its_option(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    assert "1 passed" in proc.stdout


def test_closing_while_sending_fails_without_the_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The asyncio adapter as it was: close at once, unread input and all.
    def close_at_once(self: Any) -> None:
        if not self.closing and self.transport is not None:
            self.closing = True
            self.transport.close()

    monkeypatch.setattr(aio._ServerProtocol, "close", close_at_once)
    with aio_server() as port:
        (result,) = run_all(port, ("framing/closing-while-sending",))
    assert result.verdict == FAIL, result.detail
