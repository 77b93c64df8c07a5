"""The engine: the case registry, a trial (one run of one case) and the runner."""

from __future__ import annotations

import fnmatch
import importlib
import math
import pkgutil
import secrets
import socket
import string
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from libbatchat.conformance import cases

from ._model import (
    Cap,
    Event,
    Greeting,
    Guest,
    Login,
    Outcome,
    Ping,
    Register,
    Unsupported,
    mentions,
)
from ._session import Bucket, CaseFailed, CaseSkipped, Session, Timing, Transcript
from ._target import DEFAULT_PORT, Probe, Target, Unreachable, parse_target, probe
from .dialects import Dialect

# The target's names are the engine's too: cases, the CLI and tests import
# them from here.
__all__ = [
    "DEFAULT_PORT",
    "ERROR",
    "FAIL",
    "NA",
    "PASS",
    "SKIP",
    "Case",
    "CaseFunc",
    "Probe",
    "Result",
    "Target",
    "Trial",
    "Unreachable",
    "all_cases",
    "case",
    "choose",
    "parse_target",
    "probe",
    "run",
    "run_case",
    "run_id",
    "selected",
]

PASS = "PASS"
FAIL = "FAIL"
NA = "N/A"  # the dialect lacks a capability the case needs
SKIP = "SKIP"  # the case would exceed the time budget, or cannot run here
ERROR = "ERROR"  # the suite itself broke: a bug to report against the suite

CaseFunc = Callable[["Trial"], None]


@dataclass(frozen=True)
class Case:
    id: str
    section: str
    title: str
    needs: frozenset[Cap]
    func: CaseFunc
    # Runs alone, after the others: it would disturb cases running beside it
    # (it uses up the connections an address may open, say).
    exclusive: bool = False


_REGISTRY: dict[str, Case] = {}


def case(
    id: str,
    section: str,
    title: str,
    needs: Iterable[Cap] = (),
    *,
    exclusive: bool = False,
) -> Callable[[CaseFunc], CaseFunc]:
    """Register a case under a stable id, checking spec ``section``."""

    def register(func: CaseFunc) -> CaseFunc:
        if id in _REGISTRY:
            raise ValueError(f"duplicate conformance case id {id!r}")
        _REGISTRY[id] = Case(id, section, title, frozenset(needs), func, exclusive)
        return func

    return register


def all_cases() -> list[Case]:
    """Every registered case, in the order of the spec's sections."""
    for info in pkgutil.iter_modules(cases.__path__):
        importlib.import_module(f"{cases.__name__}.{info.name}")
    return sorted(_REGISTRY.values(), key=lambda c: (_section_key(c.section), c.id))


def _section_key(section: str) -> tuple[int, ...]:
    return tuple(int(p) for p in section.split(".") if p.isdigit())


def selected(case: Case, patterns: Sequence[str]) -> bool:
    """Whether ``case`` matches any pattern: an id glob, or a spec section
    (``9`` takes 9.1, 9.2 ...; ``9.3`` takes only 9.3)."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(case.id, pattern):
            return True
        if pattern[:1].isdigit() and (
            case.section == pattern or case.section.startswith(pattern + ".")
        ):
            return True
    return False


def choose(
    cases: Sequence[Case], select: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[Case]:
    return [
        c
        for c in cases
        if (not select or selected(c, select)) and not selected(c, exclude)
    ]


# --- a trial: one run of one case -----------------------------------------


class Trial:
    """The context a case runs in: sessions, unique names, timing, budget.

    Every name a trial makes starts with its own prefix, so a case can tell
    its events from those of other cases, other runs and other people on a
    shared server, and never collides with them.
    """

    def __init__(
        self,
        *,
        target: Target,
        dialect: Dialect,
        timing: Timing,
        prefix: str,
        budget: float,
        greeting: Greeting | None = None,
        family: str = "",
    ) -> None:
        self.target = target
        # What every name of this run starts with (``prefix`` is this trial's).
        self.family = family or prefix
        self.dialect = dialect
        self.timing = timing
        self.prefix = prefix
        self.budget = budget
        self.transcript = Transcript()
        self.sessions: list[Session] = []
        # The probe's greeting, so limits are known before the first connect.
        self.greeting = greeting
        self._count = 0

    # --- names ---------------------------------------------------------------

    def name(self, hint: str = "u") -> str:
        self._count += 1
        return f"{self.prefix}{hint}{self._count}"

    def room(self, hint: str = "r") -> str:
        return "#" + self.name(hint)

    def text(self, hint: str = "hello") -> str:
        self._count += 1
        return f"{hint} {self.prefix} {self._count}"

    def relevant(self, event: Event) -> bool:
        key = self.prefix.casefold()
        return any(key in m.casefold() for m in mentions(event))

    # --- sessions ------------------------------------------------------------

    def connect(
        self, label: str | None = None, *, greet: bool = True, rcvbuf: int = 0
    ) -> Session:
        """A new connection; ``rcvbuf`` > 0 shrinks its receive buffer before
        connecting, for a reader the server must see as slow."""
        label = label or f"c{len(self.sessions) + 1}"
        try:
            host, port = self.target.address(len(self.sessions))
            info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            sock = socket.socket(info[0], info[1], info[2])
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(self.timing.timeout)
            try:
                sock.connect(info[4])
            except OSError:
                sock.close()
                raise
            sock = self.target.wrap(sock)
        except OSError as exc:
            raise CaseFailed(f"{label}: cannot connect ({exc})") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(
            label=label,
            sock=sock,
            dialect=self.dialect.session(self.prefix, self.family),
            timing=self.timing,
            bucket=Bucket(float("inf"), float("inf")),
            transcript=self.transcript,
            relevant=self.relevant,
            siblings=lambda: self.sessions,
        )
        self.sessions.append(session)
        if greet:
            greeting = session.wait_greeting()
            if session.closing is not None:
                raise CaseFailed(f"{label}: refused: CLOSING {session.closing.reason}")
            self.greeting = self.greeting or greeting
        return session

    def guest(self, label: str | None = None, name: str | None = None) -> Session:
        session = self.connect(label)
        nick = name or self.name()
        reply = session.do(Guest(nick=nick), Outcome.NICK_OK)
        if reply.text != nick:
            raise CaseFailed(
                f"{session.label}: PASS-218 should name {nick!r}: {reply.text!r}"
            )
        session.name = nick
        return session

    def account(
        self,
        label: str | None = None,
        name: str | None = None,
        # No space: BatChat's own protocol splits a login line on spaces.
        password: str = "pw-s3cret",
    ) -> Session:
        session = self.connect(label)
        user = name or self.name()
        session.do(Register(user=user, password=password), Outcome.REGISTERED)
        reply = session.do(Login(user=user, password=password), Outcome.LOGGED_IN)
        if reply.text != user:
            raise CaseFailed(
                f"{session.label}: PASS-214 should name {user!r}: {reply.text!r}"
            )
        session.name = user
        return session

    def user(self, label: str | None = None) -> Session:
        """A logged-in session, as a guest when the dialect has guests."""
        if Cap.GUEST in self.dialect.capabilities:
            return self.guest(label)
        return self.account(label)

    def users(self, count: int) -> list[Session]:
        """``count`` logged-in sessions with the login noise cleared."""
        sessions = [self.user(chr(ord("a") + i)) for i in range(count)]
        for s in sessions:
            s.settle()
        return sessions

    def need(self, seconds: float, why: str) -> None:
        """Skip unless waiting ``seconds`` fits the budget."""
        if seconds > self.budget:
            raise CaseSkipped(
                f"{why} takes {seconds:g}s, over the {self.budget:g}s budget; "
                f"to run it, --budget {math.ceil(seconds)}"
            )

    def limit(self, key: str) -> float:
        """A limit the greeting advertised; skip the case when it did not."""
        value = self.greeting.number(key) if self.greeting else None
        if value is None:
            raise CaseSkipped(
                f"the greeting does not advertise {key}; it runs only against "
                "a server that does (section 4.1)"
            )
        return value

    def limit_or(self, key: str, default: float) -> float:
        """A limit the greeting advertised, or the spec's default for it (a
        key added to the greeting later, which an older server may omit)."""
        value = self.greeting.number(key) if self.greeting else None
        return default if value is None else value

    # --- the end -------------------------------------------------------------

    def alive(self) -> None:
        """The server still answers a fresh connection."""
        session = self.connect("alive")
        token = f"{self.prefix}alive"
        if Cap.PING not in self.dialect.capabilities:
            for action in self.dialect.probe_actions(token):
                reply = session.do(action, what=f"liveness {type(action).__name__}")
                if reply.outcome is None:
                    raise CaseFailed(f"liveness: {reply.code} is no answer")
            return
        reply = session.do(Ping(token=token), Outcome.PONG, what="liveness PING")
        if reply.text != token:
            raise CaseFailed(f"liveness PING {token} answered {reply.text!r}")

    @property
    def quiet(self) -> bool:
        """Whether some verdict of this trial rests on a quiet period."""
        return any(s.quiet_used for s in self.sessions)

    def dispose(self) -> None:
        for s in self.sessions:
            s.dispose()


# --- the runner -----------------------------------------------------------


@dataclass
class Result:
    case: Case
    verdict: str
    seconds: float
    detail: str = ""
    transcript: list[str] = field(default_factory=list)
    # The verdict rests on quiet periods, not barriers (no PING in the dialect).
    quiet: bool = False


def run_case(
    case: Case,
    *,
    target: Target,
    dialect: Dialect,
    timing: Timing,
    prefix: str,
    budget: float,
    greeting: Greeting | None = None,
    family: str = "",
) -> Result:
    start = time.monotonic()
    missing = case.needs - dialect.capabilities
    if missing:
        caps = ", ".join(sorted(c.value for c in missing))
        return Result(case, NA, 0.0, f"dialect {dialect.name} lacks {caps}")
    trial = Trial(
        target=target,
        dialect=dialect,
        timing=timing,
        prefix=prefix,
        budget=budget,
        greeting=greeting,
        family=family,
    )
    verdict, detail, quiet = PASS, "", False
    try:
        case.func(trial)
    except CaseFailed as exc:
        verdict, detail = FAIL, str(exc)
    except CaseSkipped as exc:
        verdict, detail = SKIP, str(exc)
    except Unsupported as exc:
        verdict, detail = NA, f"dialect {dialect.name} cannot express {exc}"
    except Exception:
        verdict, detail = ERROR, traceback.format_exc()
    finally:
        quiet = trial.quiet
        trial.dispose()
    if verdict in (PASS, FAIL):
        # Even a failed case checks liveness: "and then it crashed" matters.
        try:
            trial.alive()
        except CaseFailed as exc:
            note = f"server no longer answers: {exc}"
            verdict, detail = FAIL, f"{detail}; {note}" if detail else note
        finally:
            trial.dispose()
    return Result(
        case, verdict, time.monotonic() - start, detail, trial.transcript.lines, quiet
    )


def run_id() -> str:
    """A short prefix unique to this run: names must start with a letter in
    some dialects, and stay well under the 32-character name limit. Its
    shape is part of ``_model.SUITE_NAME``."""
    alphabet = string.ascii_lowercase + string.digits
    return "k" + "".join(secrets.choice(alphabet) for _ in range(4))


def run(
    cases: Sequence[Case],
    *,
    target: Target,
    dialect: Dialect,
    timing: Timing,
    budget: float = 30.0,
    jobs: int = 4,
    greeting: Greeting | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Run ``cases`` ``jobs`` at a time; results come back in case order."""
    rid = run_id()
    lock = threading.Lock()

    def one(index: int) -> Result:
        result = run_case(
            cases[index],
            target=target,
            dialect=dialect,
            timing=timing,
            prefix=f"{rid}{index:03d}x",
            budget=budget,
            greeting=greeting,
            family=rid,
        )
        if on_result is not None:
            with lock:
                on_result(result)
        return result

    results: dict[int, Result] = {}
    shared = [i for i, c in enumerate(cases) if not c.exclusive]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results.update(zip(shared, pool.map(one, shared), strict=True))
    for i, c in enumerate(cases):
        if c.exclusive:
            results[i] = one(i)
    return [results[i] for i in range(len(cases))]
