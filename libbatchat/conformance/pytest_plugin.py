"""pytest plugin: ``pytest --batchat-server HOST:PORT`` runs the conformance
suite as one test item per case.

Every pytest run in an environment with libbatchat installed loads this
module, so it must stay cheap and inert: it imports nothing of the suite
until the option is given, and then only adds items.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from libbatchat.conformance._engine import Case, Probe, Target
    from libbatchat.conformance.dialects import Dialect


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("batchat", "BatChat conformance suite")
    group.addoption(
        "--batchat-server",
        metavar="HOST:PORT",
        help="run the BatChat conformance cases against this server",
    )
    group.addoption(
        "--batchat-dialect",
        default="canonical",
        metavar="NAME",
        help="dialect driver for --batchat-server (default canonical)",
    )
    group.addoption(
        "--batchat-budget",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="longest a case may wait on a server clock before it is skipped",
    )
    group.addoption(
        "--batchat-select",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only cases matching this id glob or spec section; repeatable",
    )


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("--batchat-server"):
        return
    suite = ConformanceSuite.from_parent(session, name="batchat-conformance")
    items.extend(suite.collect())


class ConformanceSuite(pytest.Collector):
    """The cases as test items, sharing one probe of the server."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._probe: Probe | None = None
        self._problem: str | None = None
        self._target: Target | None = None
        self._dialect: Dialect | None = None
        self._prefix = ""
        self._count = 0

    def collect(self) -> Iterator[pytest.Item]:
        from libbatchat.conformance._engine import all_cases, choose  # noqa: PLC0415 (lazy: see module doc)

        patterns = self.config.getoption("--batchat-select")
        for case in choose(all_cases(), patterns):
            yield CaseItem.from_parent(self, name=case.id, case=case)

    def prepare(self) -> tuple[Target, Dialect, Probe]:
        """Probe the server once, on the first item that runs."""
        from libbatchat.conformance._engine import (  # noqa: PLC0415 (lazy: see module doc)
            Unreachable,
            parse_target,
            probe,
            run_id,
        )
        from libbatchat.conformance.dialects import load  # noqa: PLC0415 (lazy: see module doc)

        if self._problem is None and self._probe is None:
            try:
                self._target = parse_target(self.config.getoption("--batchat-server"))
                self._dialect = load(self.config.getoption("--batchat-dialect"))
                self._probe = probe(self._target, self._dialect)
                self._prefix = run_id()
            except (ValueError, Unreachable) as exc:
                self._problem = str(exc)
        if self._problem is not None:
            # Every case would fail the same way: stop, as the CLI does (exit 2).
            pytest.exit(f"--batchat-server: {self._problem}", returncode=2)
        assert self._target and self._dialect and self._probe
        return self._target, self._dialect, self._probe

    @property
    def family(self) -> str:
        """What every name of this session's trials starts with."""
        return self._prefix

    def next_prefix(self) -> str:
        self._count += 1
        return f"{self._prefix}{self._count:03d}x"


class CaseFailure(Exception):
    """A conformance case failed; the message carries detail and transcript."""


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.user_properties.append(("spec_section", case.section))

    def runtest(self) -> None:
        from libbatchat.conformance._engine import ERROR, FAIL, PASS, run_case  # noqa: PLC0415 (lazy: see module doc)

        suite = self.parent
        assert isinstance(suite, ConformanceSuite)
        target, dialect, found = suite.prepare()
        result = run_case(
            self.case,
            target=target,
            dialect=dialect,
            timing=found.timing,
            prefix=suite.next_prefix(),
            budget=self.config.getoption("--batchat-budget"),
            greeting=found.greeting,
            family=suite.family,
        )
        if result.quiet:
            # No PING in the dialect: the verdict rests on quiet periods.
            self.user_properties.append(("quiet_period", True))
        if result.verdict == PASS:
            return
        if result.verdict in (FAIL, ERROR):
            transcript = "\n".join(result.transcript[-40:])
            raise CaseFailure(f"{result.detail}\n\ntranscript:\n{transcript}")
        pytest.skip(f"{result.verdict}: {result.detail}")

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, CaseFailure):
            return f"spec {self.case.section}: {self.case.title}\n{excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return f"batchat-conformance {self.case.section}", None, self.case.id
