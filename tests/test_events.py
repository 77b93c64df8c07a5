"""Events validate themselves against the table when built."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from strategies import events

from libbatchat import LocalProtocolError
from libbatchat._events import (
    COMMAND_TYPES,
    PUSH_TYPES,
    Chat,
    Closing,
    Command,
    ConnectionClosed,
    Greeting,
    Join,
    Login,
    Message,
    Ping,
    Push,
    Register,
    Reply,
    Who,
)
from libbatchat._table import CODES, PUSHES, VERBS

GREETING = {
    "max_line": 4096,
    "burst": 10,
    "rate": 5.0,
    "ping": 90.0,
    "ping_timeout": 150.0,
    "login_timeout": 30.0,
}


def test_every_verb_and_push_has_a_class() -> None:
    assert set(COMMAND_TYPES) == set(VERBS)
    assert set(PUSH_TYPES) == set(PUSHES)
    for verb, cls in COMMAND_TYPES.items():
        assert verb == cls.VERB
        assert cls.spec() is VERBS[verb]
        assert issubclass(cls, Command)
    for word, push in PUSH_TYPES.items():
        assert word == push.WORD
        assert issubclass(push, Push)


def test_events_are_frozen_slotted_and_keyword_only() -> None:
    join = Join(room="#a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        join.room = "#b"  # type: ignore[misc]
    assert not hasattr(join, "__dict__")
    with pytest.raises(TypeError):
        Join("#a")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("cls", "kwargs", "where"),
    [
        (Register, {"user": "a b", "password": "x"}, "Register.user"),
        (Login, {"user": "ana", "password": ""}, "Login.password"),
        (Chat, {"target": "ana", "text": "a\nb"}, "Chat.text"),
        (Join, {"room": "geral"}, "Join.room"),
        (Ping, {"token": "a b"}, "Ping.token"),
        (Who, {"room": 5}, "Who.room"),
        (Message, {"sender": "a", "address": "@", "time": "x", "text": "t"}, "time"),
        (Closing, {"reason": "Bad", "text": "t"}, "Closing.reason"),
    ],
)
def test_invalid_events_cannot_be_built(
    cls: type[Any], kwargs: dict[str, Any], where: str
) -> None:
    with pytest.raises(LocalProtocolError, match=where):
        cls(**kwargs)


def test_optional_arguments_default_to_none_and_values_are_normalized() -> None:
    assert Who().room is None
    assert Ping().token is None
    assert Join(room="#jo" + "a\u0303" + "o").room == "#joão"


def test_password_is_not_in_repr() -> None:
    assert "s3cret" not in repr(Register(user="ana", password="s3cret"))
    assert "s3cret" not in repr(Login(user="ana", password="s3cret"))


def test_message_time_is_normalized_to_utc_milliseconds() -> None:
    m = Message(
        sender="ana",
        address="#a",
        time=datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
        text="hi",
    )
    assert m.time.microsecond == 123000


def test_reply_validation_and_properties() -> None:
    with pytest.raises(LocalProtocolError, match="unknown reply code"):
        Reply(code=100)
    with pytest.raises(LocalProtocolError, match="unknown reply code"):
        Reply(code=555)
    with pytest.raises(LocalProtocolError, match=r"Reply\.text"):
        Reply(code=214, text="a\rb")
    ok = Reply(code=214, text="ana")
    assert ok.info is CODES[214]
    assert ok.tag == "PASS"
    assert ok.ok
    assert not Reply(code=216).ok
    assert not Reply(code=704).ok
    assert ok.names == ()
    assert ok.rooms == ()
    assert Reply(code=220, text="ana bruno").names == ("ana", "bruno")
    assert Reply(code=220).names == ()
    assert Reply(code=221, text="#a=2 #b=1").rooms == (("#a", 2), ("#b", 1))


def test_reply_equality_ignores_the_command() -> None:
    assert Reply(code=222, text="#a", command=Join(room="#a")) == Reply(
        code=222, text="#a"
    )


def test_greeting_validation() -> None:
    g = Greeting(**GREETING)
    assert g.version == 2
    for name in GREETING:
        for bad in (0, -1, math.inf, math.nan, True, "5"):
            with pytest.raises(LocalProtocolError, match=f"Greeting.{name}"):
                Greeting(**{**GREETING, name: bad})
    for name in ("max_line", "burst"):
        with pytest.raises(LocalProtocolError, match="whole number"):
            Greeting(**{**GREETING, name: 10.0})
    with pytest.raises(LocalProtocolError, match="whole number"):
        Greeting(**GREETING, version=2.0)


def test_connection_closed_is_an_event() -> None:
    assert ConnectionClosed() == ConnectionClosed()


@settings(max_examples=100)
@given(events)
def test_every_generated_event_rebuilds_equal(event: Any) -> None:
    values = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    assert type(event)(**values) == event
