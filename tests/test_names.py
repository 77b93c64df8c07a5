"""Argument validation (protocol.md 3.4), folding (3.5) and timestamps (7.2)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import KINDS, names, times

from libbatchat import _names
from libbatchat._table import Kind


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Kind.NAME, "ana"),
        (Kind.NAME, "João_1.x-y"),
        (Kind.NAME, "名前"),
        (Kind.NAME, "a" * 32),
        (Kind.NAME, "e\u0301"),  # a combining mark after the first character
        (Kind.ROOM, "#geral"),
        (Kind.TARGET, "*"),
        (Kind.TARGET, "#sala"),
        (Kind.TARGET, "bruno"),
        (Kind.ADDRESS, "@"),
        (Kind.ADDRESS, "*"),
        (Kind.ADDRESS, "#sala"),
        (Kind.PASSWORD, "s3cret pass"),
        (Kind.PASSWORD, "x" * 256),
        (Kind.TEXT, " hi\tthere "),
        (Kind.TOKEN, "abc-123"),
        (Kind.TOKEN, "t" * 64),
        (Kind.REASON, "ping-timeout"),
    ],
)
def test_valid_values_pass(kind: Kind, value: str) -> None:
    assert _names.check(kind, value) == unicodedata.normalize("NFC", value)


@pytest.mark.parametrize(
    ("kind", "value", "why"),
    [
        (Kind.NAME, "", "1 to 32"),
        (Kind.NAME, "a" * 33, "1 to 32"),
        (Kind.NAME, "a b", "may not contain"),
        (Kind.NAME, "a#", "may not contain"),
        (Kind.NAME, "\u0301e", "may not contain"),  # a mark cannot come first
        (Kind.NAME, "*", "may not contain"),
        (Kind.ROOM, "geral", "starts with '#'"),
        (Kind.ROOM, "#", "1 to 32"),
        (Kind.ROOM, "##a", "may not contain"),
        (Kind.TARGET, "@", "may not contain"),
        (Kind.TARGET, "#", "1 to 32"),
        (Kind.ADDRESS, "ana", "starts with '#'"),
        (Kind.PASSWORD, "", "1 to 256"),
        (Kind.PASSWORD, "x" * 257, "1 to 256"),
        (Kind.PASSWORD, "a\x00b", "control"),
        (Kind.PASSWORD, "a\tb", "control"),
        (Kind.TEXT, "", "empty"),
        (Kind.TEXT, "a\nb", "control"),
        (Kind.TEXT, "a\x7fb", "control"),
        (Kind.TEXT, "a\x85b", "control"),
        (Kind.TOKEN, "", "1 to 64"),
        (Kind.TOKEN, "t" * 65, "1 to 64"),
        (Kind.TOKEN, "a b", "spaces"),
        (Kind.TOKEN, "a\u00a0b", "spaces"),
        (Kind.TOKEN, "a\x01", "spaces"),
        (Kind.REASON, "Ping", "lowercase"),
        (Kind.REASON, "-x", "lowercase"),
        (Kind.REASON, "", "lowercase"),
        (Kind.TEXT, "a\ud800", "UTF-8"),
        (Kind.PASSWORD, "\udfff", "UTF-8"),
        (Kind.TOKEN, "x\ud83d", "UTF-8"),
    ],
)
def test_invalid_values_fail(kind: Kind, value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        _names.check(kind, value)


@pytest.mark.parametrize("kind", [k for k in Kind if k is not Kind.TIME])
def test_non_text_is_rejected(kind: Kind) -> None:
    with pytest.raises(ValueError, match="expected text"):
        _names.check(kind, 42)


def test_names_are_normalized_to_nfc() -> None:
    decomposed = "jo" + "a\u0303" + "o"
    assert _names.check(Kind.NAME, decomposed) == "joão"
    assert _names.check(Kind.ROOM, "#" + decomposed) == "#joão"


def test_fold_compares_case_and_normalization_insensitively() -> None:
    assert _names.fold("Ana") == _names.fold("ANA") == _names.fold("ana")
    assert _names.fold("JOÃO") == _names.fold("jo" + "a\u0303" + "o")
    assert _names.fold("Straße") == _names.fold("STRASSE")


@settings(max_examples=50)
@given(names)
def test_fold_is_idempotent(name: str) -> None:
    assert _names.fold(_names.fold(name)) == _names.fold(name)


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=20)
@given(data=st.data())
def test_strategies_only_make_valid_values(kind: Kind, data: st.DataObject) -> None:
    value = data.draw(KINDS[kind])
    assert _names.check(kind, value) == value


def test_time_is_checked_normalized_and_truncated_to_milliseconds() -> None:
    brt = timezone(timedelta(hours=-3))
    t = _names.check(Kind.TIME, datetime(2026, 11, 21, 11, 3, 7, 250999, tzinfo=brt))
    assert t == datetime(2026, 11, 21, 14, 3, 7, 250000, tzinfo=UTC)
    assert t.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        _names.check_time(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        _names.check_time("2026-01-01T00:00:00.000Z")


def test_time_wire_form() -> None:
    t = datetime(2026, 11, 21, 14, 3, 7, 250000, tzinfo=UTC)
    assert _names.format_time(t) == "2026-11-21T14:03:07.250Z"
    assert _names.parse_time("2026-11-21T14:03:07.250Z") == t
    early = datetime(999, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    assert _names.format_time(early) == "0999-01-02T03:04:05.006Z"


@pytest.mark.parametrize(
    "text",
    ["2026-11-21T14:03:07Z", "2026-11-21 14:03:07.250Z", "2026-11-21T14:03:07.250"],
)
def test_bad_time_text_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="looks like"):
        _names.parse_time(text)


def test_impossible_date_is_rejected() -> None:
    with pytest.raises(ValueError):
        _names.parse_time("2026-02-30T00:00:00.000Z")


@settings(max_examples=50)
@given(times)
def test_time_round_trips(t: datetime) -> None:
    assert _names.parse_time(_names.format_time(t)) == t


@settings(max_examples=300)
@given(
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.floats(min_value=0, max_value=3.0),
)
def test_wall_formatter_matches_format_time(t: float, later: float) -> None:
    # The server stamps messages with the cached formatter: it must give what
    # the datetime route gives, in the same second and in the next ones.
    stamp = _names.WallFormatter()
    for value in (t, t, t + later):
        dt = _names.check_time(datetime.fromtimestamp(value, UTC))
        assert stamp(value) == _names.format_time(dt)


def test_wall_formatter_rounds_as_datetime_does() -> None:
    stamp = _names.WallFormatter()
    # 0.9999996 rounds up to the next second, as datetime.fromtimestamp does.
    assert stamp(1_790_000_000.9999996) == "2026-09-21T14:13:21.000Z"
    assert stamp(1_790_000_000.25) == "2026-09-21T14:13:20.250Z"
