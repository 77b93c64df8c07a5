"""The suite can fail: against each deliberately broken server exactly the
cases that check the broken behaviour fail, and every other case passes.

All mutants run concurrently once per session (a fixture), each behind its
own proxy in front of its own fresh server; one test per mutant then checks
its verdicts, so a report names the mutant that went undetected.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from broken_servers import MUTATIONS, BrokenServer

from libbatchat import Limits
from libbatchat.adapters import threaded
from libbatchat.conformance._engine import (
    PASS,
    SKIP,
    Result,
    all_cases,
    choose,
)
from tests.conformance_harness import run_canonical

# Timer cases are skipped (default timers, over the budget); the
# per-address cases skip because loopback is exempt. The failed-login
# throttle per address is lifted: every mutant's run logs in badly.
LIMITS = Limits(scrypt_n=16, rate=1000, burst=1000, ip_login_attempts=10**6)

# The adapters' own runs cover these: the slow-reader case fills megabytes
# of buffers, which a proxy in the middle multiplies, and the per-address
# cases open 64 connections only to skip (loopback is exempt here).
# The proxy in front of each mutant does not drain a closing connection, so
# closing-while-sending fails on all of them; test_conformance proves that
# case can fail against a server that does not drain.
EXCLUDE = [
    "limits/slow-reader",
    "greeting/refusal",
    "limits/connections-per-address",
    "framing/closing-while-sending",
]

DM = {
    "framing/split-bytes",
    "framing/coalesced",
    "framing/crlf",
    "framing/longest-line",
    "grammar/rest-of-line",
    "grammar/argument-kinds",
    "grammar/case-insensitive-names",
    "pushes/kinds",
    "pushes/from-time",
    "presence/online-notice",
    "presence/quit-notice",
    "messages/dm-only-target",
    "messages/dm-self",
    "limits/flood-burst",
    "example/walkthrough",
    "seeds/duplicate-name-refused",
    "seeds/quit-leaves-others-told",
}
LEFT = {
    "pushes/kinds",
    "presence/abrupt-disconnect",
    "presence/reset-disconnect",
    "presence/left-before-offline",
    "rooms/join-leave-notices",
    "rooms/notices-stay-in-room",
    "rooms/leave-on-quit",
    "example/walkthrough",
}

# What each mutant must fail: derived from what the cases check, not from
# whatever a run happened to produce.
EXPECTED: dict[str, set[str]] = {
    "none": set(),
    "echo-broadcast": {"messages/broadcast"},
    "drop-dm": DM,
    # ENTRAR of a name online takes it over (no ERRO-705 to rewrite), so
    # only the guest paths show this one.
    "duplicate-name": {
        "commands/guest",
        "grammar/case-insensitive-names",
        "replies/error-codes",
        "seeds/duplicate-name-refused",
        "names/look-alike-online",
    },
    "room-leak": {"messages/room", "messages/rooms-never-leak"},
    "no-leave-notices": LEFT,
    "no-join-notices": {
        "login/takeover",
        "pushes/kinds",
        "commands/join",
        "rooms/join-leave-notices",
        "rooms/notices-stay-in-room",
        "example/walkthrough",
    },
    # The walkthrough accepts a login unannounced: a large server may not
    # tell strangers (9.1).
    "no-online-notices": {
        "pushes/kinds",
        "presence/online-notice",
    },
    "chunk-lines": {"framing/split-bytes"},
    "crlf-kept": {"framing/crlf", "framing/blank-lines"},
    "overlong-closes": {
        "framing/overlong-line",
        "bad-input/garbage-mix",
        "replies/line-level-order",
        "framing/unterminated",
        "pushes/closing-last",
    },
    "bad-utf8-closes": {
        "framing/invalid-utf8",
        "bad-input/garbage-mix",
        "replies/line-level-order",
    },
    "flood-drop": {
        "limits/flood-burst",
        "limits/lines-before-login",
        "lists/rooms-paged",
        "rooms/per-session-limit",
    },
    "drop-keeps-session": {
        "presence/abrupt-disconnect",
        "presence/reset-disconnect",
    },
    "stale-who": {"commands/who"},
    "names-lowercased": {
        "names/real-names-welcome",
        "commands/guest",
        "commands/login",
        "grammar/case-insensitive-names",
    },
    "greeting-no-burst": {
        "greeting/version-and-limits",
        "greeting/all-keys",
    },
    "look-alikes-accepted": {
        "grammar/argument-kinds",
        "names/invisible-characters",
        "names/look-alike-online",
        "names/look-alike-registered",
    },
    "no-takeover": {"commands/login", "login/takeover"},
    "no-help": {"help/commands"},
    "no-room-limit": {"rooms/per-session-limit"},
    "unpaged-lists": {"lists/rooms-paged"},
    "terse-errors": {"grammar/errors-say-what-next"},
}


def run_mutant(mutation: str) -> list[Result]:
    cases = choose(all_cases(), exclude=EXCLUDE)
    with (
        threaded.Server(host="127.0.0.1", port=0, limits=LIMITS) as server,
        BrokenServer(("127.0.0.1", server.port), mutation) as broken,
    ):
        # Leaves room for the proxy's extra hop when mutants run side by side.
        return run_canonical(cases, broken.port, scale=1.5, jobs=12)


@pytest.fixture(scope="module")
def verdicts() -> dict[str, list[Result]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(MUTATIONS, pool.map(run_mutant, MUTATIONS), strict=True))


def test_every_mutation_has_an_expectation() -> None:
    assert set(EXPECTED) == set(MUTATIONS)
    known = {c.id for c in all_cases()}
    for mutation, ids in EXPECTED.items():
        assert ids <= known, f"{mutation}: unknown case ids {ids - known}"
        assert not ids & set(EXCLUDE)


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_exactly_the_matching_cases_fail(
    mutation: str, verdicts: dict[str, list[Result]]
) -> None:
    results = verdicts[mutation]
    failed = {r.case.id for r in results if r.verdict not in (PASS, SKIP)}
    expected = EXPECTED[mutation]
    why = "\n".join(
        f"{r.case.id}: {r.verdict}: {r.detail[:300]}"
        for r in results
        if (r.case.id in failed) != (r.case.id in expected)
    )
    assert failed == expected, (
        f"{mutation} ({MUTATIONS[mutation]}): undetected {expected - failed}, "
        f"unexpected {failed - expected}\n{why}"
    )
