"""The spec's numbered sections, for the coverage report.

docs/protocol.md is parsed when it is there (a source checkout or an editable
install); an installed wheel has no docs, so the list is also packaged here,
and a test keeps the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

# Sections with numbered paragraphs are covered paragraph by paragraph; a
# section without any (11, 12) is covered as a whole.
SECTIONS: tuple[str, ...] = (
    *(f"1.{i}" for i in range(1, 4)),
    *(f"2.{i}" for i in range(1, 6)),
    *(f"3.{i}" for i in range(1, 7)),
    *(f"4.{i}" for i in range(1, 4)),
    *(f"5.{i}" for i in range(1, 13)),
    *(f"6.{i}" for i in range(1, 4)),
    *(f"7.{i}" for i in range(1, 5)),
    *(f"8.{i}" for i in range(1, 3)),
    *(f"9.{i}" for i in range(1, 4)),
    *(f"10.{i}" for i in range(1, 9)),
    "11",
    "12",
)

_HEADING = re.compile(r"^## (\d+)\. ", re.MULTILINE)
# A paragraph starts after a blank line: a wrapped line that happens to begin
# with "6.2. " (a cross-reference) is not a new paragraph.
_PARAGRAPH = re.compile(r"(?:\A|\n\n)(\d+\.\d+)\. ")


def default_doc() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def parse(text: str) -> tuple[str, ...]:
    """The numbered paragraphs of a spec, and the headings that have none."""
    headings = _HEADING.findall(text)
    paragraphs = _PARAGRAPH.findall(text)
    with_paragraphs = {p.split(".")[0] for p in paragraphs}
    found: list[str] = []
    for heading in headings:
        if heading in with_paragraphs:
            found += [p for p in paragraphs if p.split(".")[0] == heading]
        else:
            found.append(heading)
    return tuple(found)


def sections(doc: Path | None = None) -> tuple[str, ...]:
    path = doc or default_doc()
    try:
        return parse(path.read_text(encoding="utf-8"))
    except OSError:
        return SECTIONS


def uncovered(spec: Iterable[str], checked: Iterable[str]) -> list[str]:
    """Spec sections no case names. A case naming a whole section ("5")
    covers that section's introduction, not its numbered paragraphs."""
    named = set(checked)
    return [s for s in spec if s not in named]
