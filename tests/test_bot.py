"""libbatchat.bot on a real server through the harness: dispatch, civility, survival."""

from __future__ import annotations

import asyncio
import re

from libbatchat.bot import Bot, Breaker, Context, Cooldown, Joined, Message
from libbatchat.client import ConnectFailed, Guest
from libbatchat.testing import BotHarness, Sent, run


def dice_bot(**options: object) -> Bot:
    bot = Bot("dado", rooms=["#geral"], **options)  # type: ignore[arg-type]

    @bot.command("roll")
    async def roll(ctx: Context, sides: int = 6) -> str:
        """roll one die"""
        return f"{ctx.sender}: {sides}"

    return bot


def test_a_bot_survives_a_server_restart_back_in_its_rooms_answering() -> None:
    async def main() -> None:
        async with BotHarness(dice_bot(), rooms=["#extra"]) as h:
            await h.say("ana", "#geral", "!roll 4")
            assert await h.expect("ana: 4", to="#geral")
            await h.restart_server()
            assert h.client is not None
            rooms = {r.name for r in h.client.state.rooms}
            assert rooms == {"#geral", "#extra"}
            await h.advance(10)
            await h.say("ana", "#geral", "!roll 8")
            assert await h.expect("ana: 8", to="#geral")
            await h.say("bruno", "#extra", "!roll 12")
            assert await h.expect("bruno: 12", to="#extra")
            # Restarted again, down for half a minute this time: the bot
            # keeps trying (refused, backing off) and comes back.
            failed = h.client.expect(ConnectFailed)
            await h.restart_server(down_for=30)
            assert "refused" in (await failed).error
            await h.dm("ana", "!roll 20")
            assert await h.expect("ana: 20", to="ana")

    run(main())


def test_fifty_commands_at_once_go_out_no_faster_than_the_advertised_rate() -> None:
    async def main() -> None:
        async with BotHarness(dice_bot()) as h:
            names = [f"u{n}" for n in range(50)]
            for name in names:
                await h.join(name, "#geral")
            assert h.client is not None and h.client.greeting is not None
            burst, rate = h.client.greeting.burst, h.client.greeting.rate
            h.skip_replies()
            start = len(h.lines)
            await asyncio.gather(*(h.say(n, "#geral", "!roll 3") for n in names))
            await h.advance(60)
            answers = [await h.expect(f"{n}: 3", to="#geral") for n in names]
            assert len(answers) == 50
            times = [w.time for w in h.lines[start:]]
            assert len(times) >= 50
            # Every stretch of lines fits the bucket: burst, then rate per second.
            for i in range(len(times)):
                for j in range(i, len(times)):
                    allowed = burst + rate * (times[j] - times[i])
                    assert j - i + 1 <= allowed + 1e-6, (i, j, times[i], times[j])
            # And it took the time the pace says, not less.
            assert times[-1] - times[0] >= (50 - burst) / rate - 1e-6

    run(main())


def test_the_bot_ignores_its_own_messages() -> None:
    async def main() -> None:
        bot = dice_bot()
        seen: list[str] = []

        @bot.on_message
        async def note(ctx: Context) -> None:
            seen.append(ctx.text)

        async with BotHarness(bot) as h:
            assert h.client is not None
            arrived = h.client.expect(Message)
            reply = await bot.say(h.bot_name, "!roll 6")  # a DM to itself
            assert reply.code == 215  # delivered: the server does not refuse it
            assert (await asyncio.wait_for(arrived, 10)).text == "!roll 6"
            await h.settle()
            await h.say("ana", "#geral", "hello")
            assert seen == ["hello"]
            assert [s.text for s in h.replies] == ["!roll 6"]

    run(main())


def parrot(name: str) -> Bot:
    """A careless bot that answers every room message: two of them would loop."""
    bot = Bot(name, rooms=["#geral"])

    @bot.on_message
    async def answer(ctx: Context) -> str:
        return f"{name} heard: {ctx.text[:40]}"

    return bot


def test_two_bots_answering_each_other_are_stopped_by_the_breaker() -> None:
    async def main() -> None:
        async with BotHarness(parrot("arara")) as h:
            await h.add_bot(parrot("papagaio"))
            await h.say("ana", "#geral", "olá")
            await h.advance(120)
            said = len(h.replies)
            # The breaker trips after 8 replies caused by one sender (+ the
            # one that tripped it); ana's message caused one more.
            assert 2 <= said <= 12, said
            h.skip_replies()
            await h.advance(600)
            await h.no_reply()
            assert len(h.replies) == said
            # ana still gets answers: only the other bot is ignored.
            await h.say("ana", "#geral", "still there?")
            assert await h.expect("arara heard: still there?")

    run(main())


def test_cooldown_per_user_tells_once_then_ignores_until_it_passes() -> None:
    async def main() -> None:
        async with BotHarness(dice_bot(cooldown=Cooldown(burst=2, every=5))) as h:
            for sides in (1, 2, 3, 4):
                await h.say("ana", "#geral", f"!roll {sides}")
            await h.say("bruno", "#geral", "!roll 9")  # bruno has his own budget
            texts = [s.text for s in h.replies]
            assert texts == [
                "ana: 1",
                "ana: 2",
                "slow down, ana: try again in 5 s",
                "bruno: 9",
            ]
            await h.advance(5)
            await h.say("ana", "#geral", "!roll 5")
            assert h.replies[-1].text == "ana: 5"

    run(main())


def test_a_failing_handler_is_answered_and_the_bot_goes_on() -> None:
    async def main() -> None:
        bot = dice_bot()

        @bot.command("boom")
        async def boom(ctx: Context) -> None:
            raise ZeroDivisionError("secret detail")

        @bot.on_message
        def crash_on_ouch(ctx: Context) -> None:  # a plain function works too
            if ctx.text == "ouch":
                raise KeyError(ctx.text)

        async with BotHarness(bot) as h:
            await h.say("ana", "#geral", "!boom")
            sent = await h.expect(to="#geral")
            assert sent.text == "sorry, !boom failed (ZeroDivisionError)"
            await h.dm("ana", "ouch")
            assert await h.expect("sorry, that failed (KeyError)", to="ana")
            await h.say("ana", "#geral", "!roll 2")
            assert await h.expect("ana: 2")

    run(main())


def test_reply_answers_where_the_message_came_from() -> None:
    async def main() -> None:
        bot = Bot("eco", rooms=["#geral"], cooldown=None)

        @bot.command("here")
        async def here(ctx: Context) -> str:
            return "here"

        @bot.command("private")
        async def private(ctx: Context) -> None:
            await ctx.reply("psst", private=True)

        @bot.command("loud")
        async def loud(ctx: Context) -> None:
            await ctx.reply("everyone", private=False)

        async with BotHarness(bot) as h:
            await h.dm("ana", "!here")
            await h.say("ana", "#geral", "!here")
            await h.say("ana", "*", "!here")
            await h.say("ana", "#geral", "!private")
            await h.say("ana", "*", "!loud")
            await h.advance(5)
            assert [(s.target, s.text) for s in h.replies] == [
                ("ana", "here"),
                ("#geral", "here"),
                ("ana", "here"),  # a broadcast is answered by DM
                ("ana", "psst"),
                ("*", "everyone"),
            ]

    run(main())


def test_help_lists_and_explains_commands_and_unknown_ones_only_in_dms() -> None:
    async def main() -> None:
        async with BotHarness(dice_bot(cooldown=None)) as h:
            await h.dm("ana", "!help")
            assert await h.expect("commands: !help, !roll (!help NAME for more)")
            await h.dm("ana", "!help roll")
            assert await h.expect("usage: !roll [SIDES] -- roll one die")
            await h.dm("ana", "!help nope")
            assert await h.expect("no command nope; try !help")
            await h.dm("ana", "!nope")
            assert await h.expect("unknown command !nope; try !help")
            await h.say("ana", "#geral", "!nope")  # maybe another bot's
            await h.say("ana", "#geral", "!roll six")
            assert await h.expect(
                "'six' is not a valid SIDES; usage: !roll [SIDES]", to="#geral"
            )
            await h.no_reply()

    run(main())


def test_wait_for_holds_a_conversation_with_a_deadline() -> None:
    async def main() -> None:
        bot = Bot("quiz", cooldown=None)

        @bot.command("quiz")
        async def quiz(ctx: Context) -> str:
            await ctx.reply("2 + 2?")
            answer = await ctx.wait_reply(timeout=30)
            if answer is None:
                return "too slow!"
            return "right" if answer.text.strip() == "4" else "no, 4"

        async with BotHarness(bot) as h:
            await h.dm("ana", "!quiz")
            assert await h.expect("2 + 2?")
            await h.dm("bruno", "4")  # someone else's answer does not count
            await h.dm("ana", "4")
            assert await h.expect("right", to="ana")
            await h.dm("ana", "!quiz")
            assert await h.expect("2 + 2?")
            await h.advance(29)
            await h.no_reply()
            await h.advance(2)
            assert await h.expect("too slow!", to="ana")

    run(main())


def test_periodic_tasks_and_presence_handlers() -> None:
    async def main() -> None:
        bot = Bot("relogio", rooms=["#geral"])
        events: list[str] = []

        @bot.every(60)
        async def tick() -> None:
            await bot.say("#geral", f"tick at {bot.now():.0f}")

        @bot.on_join
        def joined(event: Joined) -> None:
            events.append(f"join {event.user}")

        @bot.on_online
        def online(event: object) -> None:
            events.append("online")

        @bot.on_leave
        def left(event: object) -> None:
            events.append("leave")

        @bot.on_offline
        def offline(event: object) -> None:
            events.append("offline")

        async with BotHarness(bot) as h:
            await h.join("ana", "#geral")
            await h.advance(59)
            await h.no_reply()
            await h.advance(1)
            assert await h.expect("tick at 60")
            await h.advance(120)
            assert await h.expect("tick at 120")
            assert await h.expect("tick at 180")
            await h.part("ana", "#geral")
            await (await h.user("ana")).close()
            await h.settle()
            assert events == ["online", "join ana", "leave", "offline"]

    run(main())


def test_a_bot_stopping_says_goodbye() -> None:
    async def main() -> None:
        async with BotHarness(dice_bot()) as h:
            await h.join("ana", "#geral")
            assert h.client is not None
            await h.stop_bot()
            assert await h.client.wait_stopped() == "quit"
            assert h.client.status.value == "stopped"

    run(main())


def test_expect_says_what_the_bot_sent_instead() -> None:
    async def main() -> None:
        async with BotHarness(dice_bot()) as h:
            await h.say("ana", "#geral", "!roll 3")
            try:
                await h.expect("something else", timeout=0.2)
            except AssertionError as exc:
                assert "ana: 3" in str(exc)
            else:
                raise AssertionError("expect() should have failed")
            assert isinstance(h.replies[0], Sent)
            assert re.fullmatch(r"\d+(\.\d+)?", str(h.replies[0].time))

    run(main())


def test_add_bot_with_an_account_and_users_with_passwords() -> None:
    async def main() -> None:
        async with BotHarness(dice_bot()) as h:
            await h.user("carla", password="correct horse")
            other = await h.add_bot(dice_bot(), identity=Guest("dado2"))
            assert other.me == "dado2"
            await h.say("carla", "#geral", "!roll 7")
            assert await h.expect("carla: 7")
            assert Breaker().limit == 8

    run(main())


def test_the_servers_timers_run_on_the_harness_clock() -> None:
    async def main() -> None:
        from libbatchat import Closing
        from libbatchat.adapters import aio

        async with BotHarness(dice_bot()) as h:
            silent = await aio.Client.connect(h.address.host, h.address.port)
            async with silent:
                await h.advance(h.limits.login_timeout - 1)
                assert not silent.closed
                await h.advance(2)  # past the login timeout, in no real time
                pushes = [p async for p in silent]
                assert isinstance(pushes[-1], Closing)
                assert pushes[-1].reason == "login-timeout"

    run(main())
