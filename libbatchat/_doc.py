"""Render the protocol table as the generated blocks of docs/protocol.md.

``python -m libbatchat._doc docs/protocol.md`` rewrites every block between
``<!-- generated:NAME -->`` and ``<!-- end:NAME -->``; the test suite fails
when the file differs from what this renders, so the spec cannot drift from
the code.
"""

from __future__ import annotations

import re
import sys

from . import _config, _state
from ._table import (
    CLOSE_REASONS,
    CODES,
    GREETING_KEYS,
    GREETING_REQUIRED,
    LINE_CODES,
    PUSHES,
    VERBS,
)


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _code(code: int) -> str:
    return f"{CODES[code].tag}-{code}"


def verbs() -> str:
    out = [_row("verb", "alias", "usage", "login", "replies", "does"), _row(*"------")]
    for v in VERBS.values():
        replies = ", ".join(_code(c) for c in v.replies) if v.has_reply else "none"
        out.append(
            _row(
                f"`{v.verb}`",
                f"`{v.alias}`" if v.alias else "",
                f"`{v.usage}`",
                "yes" if v.needs_login else "no",
                replies,
                v.help,
            )
        )
    return "\n".join(out)


def codes() -> str:
    out = [_row("reply", "name", "meaning", "answers"), _row(*"----")]
    for c in CODES.values():
        if c.code == 100:
            answers = "(greeting, first line)"
        elif c.code in LINE_CODES:
            answers = "any line"
        else:
            answers = ", ".join(
                f"`{v.verb}`" for v in VERBS.values() if c.code in v.replies
            )
        out.append(_row(f"`{c.tag}-{c.code}`", c.name, c.meaning, answers))
    return "\n".join(out)


def pushes() -> str:
    out = [_row("push", "means"), _row(*"--")]
    for p in PUSHES.values():
        usage = " ".join([p.word, *(f"<{a.name}>" for a in p.args)])
        out.append(_row(f"`{usage}`", p.summary))
    return "\n".join(out)


def greeting() -> str:
    out = [_row("key", "meaning", "default", "required"), _row(*"----")]
    # The setting behind each key, where its name differs.
    settings = {"ping": "ping_interval"}
    limits = _config.Limits()
    for key, meaning in GREETING_KEYS:
        name = settings.get(key, key.replace("-", "_"))
        required = "yes" if key in GREETING_REQUIRED else "no (10)"
        value = getattr(limits, name)
        out.append(_row(f"`{key}`", meaning, f"{value:g}", required))
    return "\n".join(out)


def reasons() -> str:
    out = [_row("reason", "when"), _row(*"--")]
    out += [_row(f"`{k}`", v) for k, v in CLOSE_REASONS.items()]
    return "\n".join(out)


def limits() -> str:
    out = [_row("setting", "default", "meaning"), _row(*"---")]
    out += [
        _row(f"`{name}`", f"{default}", help)
        for name, default, help in _config.describe()
    ]
    return "\n".join(out)


def states() -> str:
    return "```mermaid\n" + _state.diagram() + "\n```"


BLOCKS = {
    "verbs": verbs,
    "codes": codes,
    "pushes": pushes,
    "greeting": greeting,
    "reasons": reasons,
    "limits": limits,
    "states": states,
}

_BLOCK = re.compile(r"(<!-- generated:(\w+) -->\n)(?:.*?\n)?(<!-- end:\2 -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block replaced by what the table says."""
    return _BLOCK.sub(lambda m: m[1] + BLOCKS[m[2]]() + "\n" + m[3], text)


def main(argv: list[str]) -> int:
    for path in argv:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(render(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
