"""The one transition table (protocol.md section 8)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import events

from libbatchat._events import (
    Closing,
    ConnectionClosed,
    Event,
    Greeting,
    Login,
    Online,
    Quit,
    Reply,
)
from libbatchat._state import (
    COMMAND_STATES,
    TRANSITIONS,
    State,
    diagram,
    next_state,
    trigger,
)

GREETING = Greeting(
    max_line=4096, burst=10, rate=5, ping=90, ping_timeout=150, login_timeout=30
)
CLOSING = Closing(reason="shutdown", text="bye")


def test_triggers() -> None:
    assert trigger(GREETING) == "greeting"
    assert trigger(Quit()) == "SAIR"
    assert trigger(Reply(code=214, text="ana")) == "PASS-214"
    assert trigger(CLOSING) == "CLOSING"
    assert trigger(ConnectionClosed()) == "EOF"
    assert trigger(Online(user="ana")) is None


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [
        (State.GREETING, GREETING, State.ANONYMOUS),
        (State.GREETING, Quit(), State.QUITTING),
        (State.GREETING, Login(user="a", password="p"), State.GREETING),
        (State.ANONYMOUS, Reply(code=214, text="a"), State.LOGGED_IN),
        (State.ANONYMOUS, Reply(code=218, text="a"), State.LOGGED_IN),
        (State.ANONYMOUS, Reply(code=704), State.ANONYMOUS),
        (State.ANONYMOUS, Online(user="b"), State.ANONYMOUS),
        (State.LOGGED_IN, Quit(), State.QUITTING),
        (State.LOGGED_IN, Reply(code=214, text="a"), State.LOGGED_IN),
        (State.QUITTING, Reply(code=217), State.CLOSED),
        (State.QUITTING, GREETING, State.QUITTING),
        (State.QUITTING, Reply(code=214, text="a"), State.QUITTING),
    ],
)
def test_transitions(state: State, event: Event, after: State) -> None:
    assert next_state(state, event) is after


@pytest.mark.parametrize("state", [s for s in State if s is not State.CLOSED])
def test_closing_and_eof_close_every_open_state(state: State) -> None:
    assert next_state(state, CLOSING) is State.CLOSED
    assert next_state(state, ConnectionClosed()) is State.CLOSED


def test_commands_may_be_sent_until_sair() -> None:
    assert {State.GREETING, State.ANONYMOUS, State.LOGGED_IN} == COMMAND_STATES


def test_every_state_is_in_the_table_and_every_target_is_a_state() -> None:
    assert set(TRANSITIONS) == set(State)
    for moves in TRANSITIONS.values():
        assert all(isinstance(target, State) for target in moves.values())


def test_diagram_lists_every_transition() -> None:
    text = diagram()
    assert text.startswith("stateDiagram-v2\n    [*] --> GREETING")
    assert text.endswith("CLOSED --> [*]")
    for state, moves in TRANSITIONS.items():
        for key, target in moves.items():
            assert f"    {state.value} --> {target.value}: {key}\n" in text


@settings(max_examples=100)
@given(st.sampled_from(list(State)), st.lists(events, max_size=8))
def test_closed_is_absorbing_and_every_walk_stays_in_the_table(
    start: State, walk: list[Event]
) -> None:
    state = start
    for event in walk:
        before, state = state, next_state(state, event)
        assert state is before or state is TRANSITIONS[before][trigger(event) or ""]
        if before is State.CLOSED:
            assert state is State.CLOSED
