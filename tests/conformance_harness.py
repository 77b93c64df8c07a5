"""Running conformance cases against a canonical server on a loopback port."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from libbatchat.conformance._engine import Case, Result, Target, probe, run
from libbatchat.conformance.dialects import load


def run_canonical(
    cases: Sequence[Case], port: int, *, scale: float = 1.0, **options: Any
) -> list[Result]:
    """Probe the server on ``port`` (timeouts times ``scale``), then run
    ``cases`` on it with what the probe learned and ``options``."""
    target = Target("127.0.0.1", port)
    dialect = load("canonical")
    found = probe(target, dialect, scale=scale)
    return run(
        cases,
        target=target,
        dialect=dialect,
        timing=found.timing,
        greeting=found.greeting,
        **options,
    )
