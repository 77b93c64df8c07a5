"""Every bot in examples/, tested with the public harness (libbatchat.testing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from libbatchat.client import Guest
from libbatchat.testing import BotHarness, run

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str) -> str:
    return str(EXAMPLES / f"{name}.py")


def test_echo_answers_a_dm_and_echoes_in_a_room() -> None:
    async def main() -> None:
        async with BotHarness(example("echo")) as h:
            await h.dm("ana", "hello there")
            assert await h.expect("hello there", to="ana")
            await h.say("ana", "#geral", "!echo two  spaces kept")
            assert await h.expect("two  spaces kept", to="#geral")
            await h.say("ana", "#geral", "plain room talk")
            await h.no_reply()  # rooms are not echoed
            assert [m.text for m in h.inbox("ana")] == [
                "hello there",
                "two  spaces kept",
            ]

    run(main())


def test_greeter_welcomes_and_says_goodbye() -> None:
    async def main() -> None:
        async with BotHarness(example("greeter")) as h:
            await h.join("bruno", "#geral")
            assert await h.expect("welcome to #geral, bruno! try !help")
            await h.part("bruno", "#geral")
            assert await h.expect("bruno left; bye!", to="#geral")
            await h.advance(5)
            await h.join("bruno", "#geral")
            assert await h.expect("welcome back, bruno")
            await h.say("bruno", "#geral", "!who")
            sent = await h.expect(to="#geral")
            assert sent.text == "in #geral: bruno, greeter"

    run(main())


DICE = re.compile(r"^ana rolled (\S+): ([\d +-]+) = (\d+)$")


def test_dice_rolls_and_answers_bad_input_with_usage() -> None:
    async def main() -> None:
        async with BotHarness(example("dice")) as h:
            await h.say("ana", "#geral", "!roll 2d6+1")
            found = DICE.match((await h.expect(to="#geral")).text)
            assert found is not None and found.group(1) == "2d6+1"
            *rolls, bonus = (int(n) for n in found.group(2).split(" + "))
            assert len(rolls) == 2 and all(1 <= r <= 6 for r in rolls)
            assert bonus == 1 and int(found.group(3)) == sum(rolls) + 1
            await h.say("ana", "#geral", "!roll 2d6 more")
            assert await h.expect(
                "too many words: 'more'; usage: !roll [DICE]", to="#geral"
            )
            await h.advance(10)
            await h.say("ana", "#geral", "!roll 2x6")
            assert await h.expect(
                "'2x6' is not dice like 2d6+1; usage: !roll [DICE]", to="#geral"
            )
            await h.dm("ana", "!r")  # the alias, the default 1d6, in a DM
            assert await h.expect(re.compile(r"^ana rolled 1d6: \d = \d$"), to="ana")

    run(main())


def test_logger_writes_the_room_and_keeps_it_across_its_own_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "geral.log"
    monkeypatch.setenv("BATCHAT_LOG_FILE", str(log))

    async def main() -> None:
        async with BotHarness(example("logger")) as h:
            for text in ("bom dia", "tudo bem?", "vamos almoçar"):
                await h.say("ana", "#geral", text)
            await h.dm("ana", "a secret")  # DMs are not logged
            await h.say("bruno", "#geral", "!last 2")
            # One message per line, in order.
            assert await h.expect(re.compile(r"^\d\d:\d\d <ana> tudo bem\?$"))
            assert await h.expect(re.compile(r"^\d\d:\d\d <ana> vamos almoçar$"))
            # The bot stops and a new one starts from the same file.
            await h.stop_bot()
            await h.advance(5)
            await h.start_bot(example("logger"))
            await h.say("carla", "#geral", "cheguei")
            await h.advance(5)
            await h.say("bruno", "#geral", "!last 9")
            await h.advance(5)  # five lines: the pace lets them all out
            said = [
                (await h.expect(to="#geral")).text.split(" ", 1)[1] for _ in range(5)
            ]
            assert said == [
                "<ana> bom dia",
                "<ana> tudo bem?",
                "<ana> vamos almoçar",
                "<bruno> !last 2",
                "<carla> cheguei",
            ]
        lines = log.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 6 and "a secret" not in log.read_text(encoding="utf-8")

    run(main())


def test_poll_counts_votes_and_announces_after_the_deadline() -> None:
    async def main() -> None:
        async with BotHarness(example("poll")) as h:
            await h.say("ana", "#geral", "!poll almoço? | pizza | sushi")
            assert await h.expect(
                "poll: almoço? 1) pizza, 2) sushi -- vote with !vote N (60 s)"
            )
            await h.say("ana", "#geral", "!poll again? | a | b")
            assert await h.expect(re.compile("already running"))
            for voter, choice in (("ana", 2), ("bruno", 1), ("carla", 1), ("ana", 1)):
                await h.advance(2)
                await h.say(voter, "#geral", f"!vote {choice}")
            await h.say("davi", "#geral", "!vote 7")
            assert await h.expect("vote 1 to 2")
            await h.advance(30)
            await h.no_reply()  # not yet
            await h.advance(30)
            assert await h.expect(
                "poll closed: almoço? -- pizza: 3, sushi: 0 -> pizza", to="#geral"
            )
            await h.say("ana", "#geral", "!vote 1")
            assert await h.expect("no poll is running here")
            await h.say("bruno", "#geral", "!poll one option | only")
            assert await h.expect(re.compile(r"^usage: !poll QUESTION"))

    run(main())


def test_bridge_relays_both_ways_and_two_bridges_do_not_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIDGE_ROOMS", "#a,#b")

    async def main() -> None:
        async with BotHarness(example("bridge")) as h:
            await h.join("bruno", "#b")
            await h.say("ana", "#a", "oi do a")
            assert await h.expect("[#a] <ana> oi do a", to="#b")
            await h.say("bruno", "#b", "oi do b")
            assert await h.expect("[#b] <bruno> oi do b", to="#a")
            # A second bridge on the same rooms: each relays a line once and
            # neither relays what the other relayed.
            await h.add_bot(example("bridge"), identity=Guest("bridge2"))
            await h.say("ana", "#a", "duas pontes")
            await h.advance(120)
            relayed = [m for m in h.inbox("bruno") if "duas pontes" in m.text]
            assert sorted(m.sender for m in relayed) == ["bridge", "bridge2"]
            assert not [m for m in h.inbox("ana") if "duas pontes" in m.text]

    run(main())
