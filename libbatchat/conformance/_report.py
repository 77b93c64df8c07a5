"""Reports of a run: a table for people, JSON and JUnit XML for machines."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from libbatchat.conformance._engine import ERROR, FAIL, NA, PASS, SKIP, Result, Target

JSON_VERSION = 1


@dataclass
class Run:
    target: Target
    dialect: str
    results: list[Result]
    seconds: float
    rtt: float
    greeting: dict[str, str] = field(default_factory=dict)
    grace: float = 0.0  # the quiet period, for the report's note
    version: str = ""
    uncovered: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(r.verdict for r in self.results)

    @property
    def ok(self) -> bool:
        counts = self.counts
        return counts[FAIL] == 0 and counts[ERROR] == 0


# Marks a verdict that rests on quiet periods rather than PING barriers.
QUIET_MARK = "~"


def row(result: Result) -> str:
    mark = QUIET_MARK if result.quiet else " "
    line = (
        f"{result.case.id:<42} {result.case.section:<6} "
        f"{result.verdict:<4}{mark} {result.seconds:7.2f}s"
    )
    if result.verdict in (SKIP, NA) and result.detail:
        # On the line itself: a bare SKIP reads as "not tested" when the
        # reason often says what would make the case run.
        line += f"  {result.detail.splitlines()[0]}"
    return line


def header() -> str:
    return f"{'case':<42} {'spec':<6} {'':<5} {'time':>8}\n{'-' * 64}"


def summary(run: Run) -> str:
    counts = run.counts
    parts = [f"{counts[v]} {v.lower()}" for v in (PASS, FAIL, ERROR, SKIP, NA)]
    text = (
        f"{len(run.results)} cases against {run.target} ({run.dialect}): "
        f"{', '.join(parts)} in {run.seconds:.1f}s"
    )
    quiet = sum(r.quiet for r in run.results if r.verdict in (PASS, FAIL))
    if quiet:
        text += (
            f"\n{QUIET_MARK} {quiet} verdicts rest on quiet periods of "
            f"{run.grace * 1000:.0f} ms, not barriers: the dialect has no PING, "
            "so 'nothing else arrived' and 'silence means sent' are inferred "
            "(rerun with --timeout-scale to widen them)"
        )
    return text


def details(run: Run, *, transcript_lines: int = 25) -> str:
    """Why each case that did not pass, with the end of its transcript for
    failures: the lines that show what the server did. Cases N/A for the
    same reason share one line, so a small dialect's report stays short."""
    out: list[str] = []
    na: dict[str, list[str]] = {}
    for r in run.results:
        if r.verdict == PASS:
            continue
        if r.verdict == NA:
            na.setdefault(r.detail.strip(), []).append(r.case.id)
            continue
        out.append(f"{r.verdict} {r.case.id} (spec {r.case.section}): {r.case.title}")
        out.extend(f"    {line}" for line in r.detail.rstrip().splitlines())
        if r.verdict in (FAIL, ERROR) and r.transcript:
            out.append("    transcript (seconds, connection, direction, line):")
            out.extend(f"      {line}" for line in r.transcript[-transcript_lines:])
    for why, ids in na.items():
        out.append(f"N/A ({why}): {', '.join(ids)}")
    if run.uncovered:
        out.append(f"spec sections with no case: {', '.join(run.uncovered)}")
    return "\n".join(out)


def to_json(run: Run) -> dict[str, Any]:
    return {
        "format": "batchat-conformance",
        "version": JSON_VERSION,
        "target": str(run.target),
        "dialect": run.dialect,
        "server": {"version": run.version, "greeting": run.greeting},
        "rtt_seconds": run.rtt,
        "quiet_period_seconds": run.grace,
        "seconds": run.seconds,
        "summary": dict(run.counts),
        "ok": run.ok,
        "uncovered_sections": run.uncovered,
        "results": [
            {
                "id": r.case.id,
                "section": r.case.section,
                "title": r.case.title,
                "verdict": r.verdict,
                "seconds": round(r.seconds, 4),
                "detail": r.detail,
                "quiet_period": r.quiet,
                "transcript": r.transcript,
            }
            for r in run.results
        ],
    }


def write_json(run: Run, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(to_json(run), f, indent=2, ensure_ascii=False)
        f.write("\n")


def to_junit(run: Run) -> ET.ElementTree[ET.Element]:
    counts = run.counts
    suite = ET.Element(
        "testsuite",
        {
            "name": f"batchat-conformance {run.dialect} {run.target}",
            "tests": str(len(run.results)),
            "failures": str(counts[FAIL]),
            "errors": str(counts[ERROR]),
            "skipped": str(counts[SKIP] + counts[NA]),
            "time": f"{run.seconds:.3f}",
        },
    )
    for r in run.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"spec.{r.case.section}",
                "name": r.case.id,
                "time": f"{r.seconds:.3f}",
            },
        )
        first = r.detail.strip().splitlines()[0] if r.detail.strip() else r.verdict
        if r.quiet:
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", {"name": "quiet_period", "value": "1"})
        if r.verdict == FAIL:
            ET.SubElement(case, "failure", {"message": first}).text = r.detail
        elif r.verdict == ERROR:
            ET.SubElement(case, "error", {"message": first}).text = r.detail
        elif r.verdict in (SKIP, NA):
            ET.SubElement(case, "skipped", {"message": f"{r.verdict}: {first}"})
        if r.transcript:
            ET.SubElement(case, "system-out").text = "\n".join(r.transcript)
    return ET.ElementTree(suite)


def write_junit(run: Run, path: str) -> None:
    tree = to_junit(run)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def table(results: Sequence[Result]) -> str:
    return "\n".join([header(), *(row(r) for r in results)])
