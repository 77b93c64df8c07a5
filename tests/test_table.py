"""The protocol table, the spec rendered from it, and the limits it documents."""

from __future__ import annotations

import dataclasses
import runpy
import sys
from pathlib import Path

import pytest

from libbatchat import _config, _doc
from libbatchat._events import COMMAND_TYPES, PUSH_TYPES, Greeting
from libbatchat._table import (
    CLOSE_REASONS,
    CODES,
    GREETING_CODE,
    GREETING_KEYS,
    LINE_CODES,
    PUSHES,
    SPELLINGS,
    VERBS,
    Code,
    Kind,
    allowed_codes,
)

SPEC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def test_spec_matches_the_table() -> None:
    text = SPEC.read_text(encoding="utf-8")
    assert _doc.render(text) == text, (
        "docs/protocol.md is stale: run python -m libbatchat._doc docs/protocol.md"
    )


def test_spec_names_every_verb_alias_code_push_and_reason() -> None:
    text = SPEC.read_text(encoding="utf-8")
    for verb in VERBS.values():
        assert f"`{verb.verb}`" in text
        assert f"`{verb.usage}`" in text
        if verb.alias:
            assert f"`{verb.alias}`" in text
    for code in CODES.values():
        assert f"`{code.tag}-{code.code}`" in text
    for word in PUSHES:
        assert f"`{word} " in text
    for reason in CLOSE_REASONS:
        assert f"`{reason}`" in text
    for key, _ in GREETING_KEYS:
        assert f"`{key}`" in text


def test_event_fields_are_the_table_args() -> None:
    for verb, cls in COMMAND_TYPES.items():
        names = [f.name for f in dataclasses.fields(cls)]
        assert names == [a.name for a in VERBS[verb].args]
    for word, push in PUSH_TYPES.items():
        names = [f.name for f in dataclasses.fields(push)]
        assert names == [a.name for a in PUSHES[word].args]


def test_greeting_fields_are_the_greeting_keys() -> None:
    names = [f.name for f in dataclasses.fields(Greeting)]
    assert names == ["version"] + [k.replace("-", "_") for k, _ in GREETING_KEYS]


def test_optional_arguments_come_last() -> None:
    for spec in [*VERBS.values(), *PUSHES.values()]:
        flags = [a.optional for a in spec.args]
        assert flags == sorted(flags)


def test_verbs() -> None:
    chat = VERBS["CHAT"]
    assert chat.usage == "CHAT <target> <text>"
    assert chat.min_args == 2
    assert VERBS["LISTA"].usage == "LISTA [#room|*] [after]"
    assert VERBS["LISTA"].form == "LISTA|WHO [#room|*] [after]"
    assert VERBS["PING"].form == "PING [token]"
    assert VERBS["LISTA"].min_args == 0
    assert VERBS["SALAS"].usage == "SALAS [#after]"
    assert not VERBS["PONG"].has_reply
    assert all(v.has_reply for name, v in VERBS.items() if name != "PONG")
    for verb in VERBS.values():
        assert SPELLINGS[verb.verb] is verb
        if verb.alias:
            assert SPELLINGS[verb.alias] is verb
    assert len(SPELLINGS) == len(VERBS) + sum(1 for v in VERBS.values() if v.alias)


def test_codes() -> None:
    assert all(c.code == n for n, c in CODES.items())
    assert CODES[GREETING_CODE].tag == "OLA"
    assert CODES[216].is_error
    assert CODES[704].is_error
    assert not CODES[215].is_error
    assert not Code(1, "PASS", "X", "x").is_error
    for verb in VERBS.values():
        assert all(code in CODES for code in verb.replies)
        assert allowed_codes(verb) == set(verb.replies) | set(LINE_CODES)
    # Every code but the greeting answers some verb or any line.
    answered = set(LINE_CODES).union(*(v.replies for v in VERBS.values()))
    assert answered == set(CODES) - {GREETING_CODE}


def test_original_batchat_codes_keep_their_meaning() -> None:
    expected = {
        213: "PASS",
        214: "PASS",
        215: "CHAT",
        216: "CHAT",
        217: "PASS",
        700: "ERRO",
        702: "ERRO",
        703: "ERRO",
        704: "ERRO",
        999: "ERRO",
    }
    assert {c: CODES[c].tag for c in expected} == expected


def test_render_replaces_only_generated_blocks() -> None:
    stale = "intro\n<!-- generated:reasons -->\nold\n<!-- end:reasons -->\noutro\n"
    out = _doc.render(stale)
    assert out.startswith("intro\n<!-- generated:reasons -->\n| reason | when |")
    assert "old" not in out
    assert out.endswith("<!-- end:reasons -->\noutro\n")
    empty = "<!-- generated:states -->\n<!-- end:states -->"
    assert "stateDiagram-v2" in _doc.render(empty)
    assert _doc.render("no blocks") == "no blocks"


def test_greeting_block_shows_the_defaults() -> None:
    assert "| `max-line` | " in _doc.greeting()
    assert "| `login-timeout` | " in _doc.greeting()
    assert _doc.greeting().endswith("| 5000 | no (10) |")


def test_doc_main_rewrites_files(tmp_path: Path) -> None:
    path = tmp_path / "spec.md"
    path.write_text("<!-- generated:pushes -->\n<!-- end:pushes -->\n")
    assert _doc.main([str(path)]) == 0
    assert "`ONLINE <user>`" in path.read_text()


def test_doc_runs_as_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spec.md"
    path.write_text("<!-- generated:limits -->\n<!-- end:limits -->\n")
    monkeypatch.setattr(sys, "argv", ["_doc", str(path)])
    monkeypatch.delitem(sys.modules, "libbatchat._doc")
    # pytest 9.2's assertion-rewriting hook claims the package's modules but has no
    # get_code(), which runpy needs; run the module past it, as `python -m` would.
    monkeypatch.setattr(
        sys,
        "meta_path",
        [f for f in sys.meta_path if type(f).__name__ != "AssertionRewritingHook"],
    )
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("libbatchat._doc", run_name="__main__")
    assert exc.value.code == 0
    assert "`max_unterminated`" in path.read_text()


def test_limits_defaults_and_describe() -> None:
    limits = _config.Limits()
    assert limits.max_line == 4096
    assert limits.max_unterminated == 8192
    described = _config.describe()
    assert [d[0] for d in described] == [f.name for f in dataclasses.fields(limits)]
    assert all(help_ for _, _, help_ in described)


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"burst": 0}, "burst must be positive"),
        ({"rate": -1.0}, "rate must be positive"),
        ({"max_line": 9000}, "max_line must not exceed"),
        ({"ping_interval": 150.0}, "ping_interval must be less"),
        ({"recv_queue": 4096}, "recv_queue must be at least"),
        ({"scrypt_n": 1000}, "power of 2"),
    ],
)
def test_limits_reject_bad_values(kwargs: dict[str, object], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        _config.Limits(**kwargs)  # type: ignore[arg-type]


def test_limits_accept_booleans_and_custom_values() -> None:
    limits = _config.Limits(exempt_loopback=False, max_line=100)
    assert not limits.exempt_loopback
    assert limits.max_line == 100


def test_no_command_takes_a_time() -> None:
    # parse_command hands _split()'s strings straight to the event: a time
    # argument would need _build()'s parse_time first.
    for verb in VERBS.values():
        assert all(arg.kind is not Kind.TIME for arg in verb.args), verb.verb
