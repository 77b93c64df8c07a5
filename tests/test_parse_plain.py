"""The parser's fast way (plain arguments, one match) against the checked way.

``parse_command`` first tries ``_parse_plain``: a pattern per verb built
from ``_names.PLAIN``, which makes the event without checks. These tests
hold it to the checked way on random lines: whenever it accepts a line, the
checked way gives the very same event; whatever it declines, the checked
way decides (errors included), so the two can never disagree.
"""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from libbatchat import Chat, Join, Login, Ping, Quit, parse_command
from libbatchat._grammar import _PLAIN, _parse_checked, _parse_plain
from libbatchat._names import PLAIN, check
from libbatchat._table import SPELLINGS, Kind

# Pieces that sit on the edges of the rules: separators, sigils, control
# and format characters, non-ASCII letters and marks, a filler, a lone
# surrogate, and runs long enough to pass the length limits.
_PIECES = [
    " ",
    "  ",
    "#",
    "*",
    "@",
    "a",
    "Z",
    "9",
    "_",
    ".",
    "-",
    "ana",
    "#sala",
    "\t",
    "\x00",
    "\x1f",
    "\x7f",
    "\x85",
    "\xa0",
    "é",
    "e\u0301",
    "\u017f",
    "\u212a",
    "\u3164",
    "\u200d",
    "\u2028",
    "\ud800",
    "!",
    "=",
    "x" * 31,
    "y" * 64,
    "p" * 250,
]
_junk = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)
# Mostly argument-shaped words after one or two spaces, so that many lines
# are plain and many are one character away from it.
_shaped = st.sampled_from(["ana", "#sala", "*", "t1", "x" * 32, "x" * 33, "#", "oi"])
_word = st.one_of(
    _shaped,
    _shaped,
    _shaped,
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=3).map("".join),
)
_args = st.lists(
    st.tuples(st.sampled_from([" ", " ", " ", "  "]), _word).map("".join),
    min_size=1,
    max_size=3,
).map("".join)
# What parse_command hands on: empty, or from the space after the verb.
_rest = st.one_of(_args, _args, _junk.map(lambda r: " " + r if r else r))
_spellings = sorted({w for v in SPELLINGS.values() for w in (v.verb, v.alias) if w})
_words = st.one_of(
    st.sampled_from(_spellings),
    st.sampled_from(_spellings),
    st.sampled_from(_spellings).map(str.lower),
    st.sampled_from(["LISTA", "WHO", "CHAT#", "", "chat", "PONG"]),
)


@settings(max_examples=800)
@given(word=_words, rest=_rest)
@example(word="CHAT", rest=" ana  hi  there ")
@example(word="PING", rest="")
@example(word="PING", rest="  ")
@example(word="SAIR", rest=" ")
@example(word="ENTRAR", rest="   ana  my pass ")
@example(word="JUNTAR", rest="  #sala")
@example(word="CHAT", rest=" ana a\ud800b")
def test_a_plain_parse_is_the_checked_parse(word: str, rest: str) -> None:
    _same(word, rest)


def _same(word: str, rest: str) -> None:
    fast = _parse_plain(word, rest)
    if fast is not None:
        slow = _parse_checked(word, rest)
        assert type(slow) is type(fast)
        assert slow == fast


@st.composite
def _fitting(draw: st.DrawFn) -> tuple[str, str]:
    """A verb with as many argument-shaped words as it takes, often plain."""
    word = draw(st.sampled_from(sorted(_PLAIN)))
    parts = [
        draw(st.sampled_from([" ", " ", "  "])) + draw(_word) for _ in _PLAIN[word][2]
    ]
    return word, "".join(parts) + draw(st.sampled_from(["", "", " ", " oi"]))


@settings(max_examples=800)
@given(_fitting())
def test_a_plain_parse_of_a_fitting_line_is_the_checked_parse(
    line: tuple[str, str],
) -> None:
    _same(*line)


@settings(max_examples=500)
@given(kind=st.sampled_from(sorted(PLAIN, key=lambda k: k.value)), value=_junk)
def test_what_a_plain_pattern_matches_its_check_keeps(kind: Kind, value: str) -> None:
    if re.fullmatch(PLAIN[kind], value):
        assert check(kind, value) == value


def test_ordinary_lines_take_the_plain_way() -> None:
    lines = {
        "CHAT bruno x ana 1 1764590000000000000": Chat(
            target="bruno", text="x ana 1 1764590000000000000"
        ),
        "CHAT #sala oi, tudo bem?": Chat(target="#sala", text="oi, tudo bem?"),
        "MSG * hello": Chat(target="*", text="hello"),
        "PING t1": Ping(token="t1"),
        "PING": Ping(),
        "JUNTAR #sala": Join(room="#sala"),
        "ENTRAR ana senha com espaços": Login(user="ana", password="senha com espaços"),
        "SAIR": Quit(),
    }
    for line, event in lines.items():
        word, _, rest = line.partition(" ")
        assert _parse_plain(word, " " + rest if rest else "") == event, line
        assert parse_command(line) == event


def test_verbs_with_an_optional_argument_before_the_last_have_no_plain_way() -> None:
    # LISTA [room] [after]: _split's rules for a missing middle argument are
    # not worth a pattern; those lines are rare.
    assert "LISTA" not in _PLAIN
    assert "WHO" not in _PLAIN
    assert "CHAT" in _PLAIN
