"""batchat-repl headless, against real servers: commands, looks, completion."""

from __future__ import annotations

import asyncio

from frontends.repl.history import SafeHistory
from libbatchat import Message
from libbatchat.client import Client, Guest, Online
from tests.client_harness import Servers, async_test, started, vclock, within
from tests.repl_harness import open_repl


def incoming(c: Client) -> asyncio.Future[Message]:
    return c.expect(Message)


@async_test
async def test_plain_text_goes_to_the_target_and_aliases_address_people() -> None:
    async with Servers() as servers:
        address = await servers.start()
        bruno = await started(address, Guest("bruno"), rooms=["#geral"])
        async with open_repl(address, Guest("ana")) as t:
            # No target yet: plain text is for everyone.
            heard = incoming(bruno)
            line = await t.enter("hello all", expect="hello all")
            assert line is not None and line.kind == "mine" and "[all]" in line.text
            assert (await within(heard)).address == "*"

            await t.enter("/join geral", expect="you joined #geral")
            assert t.repl.target == "#geral"
            heard = incoming(bruno)
            await t.enter("bom dia", expect="#geral <ana> bom dia")
            assert (await within(heard)).address == "#geral"

            for typed in ("@bruno psst", "/msg bruno one", "/private bruno two"):
                heard = incoming(bruno)
                text = typed.split(" ", 2)[-1] if typed[0] == "/" else "psst"
                line = await t.enter(typed, expect=f"-> *bruno* {text}")
                message = await within(heard)
                assert (message.address, message.text) == ("@", text)

            await t.enter("/room bruno", expect="talking to bruno")
            heard = incoming(bruno)
            await t.enter("direct now", expect="-> *bruno* direct now")
            assert (await within(heard)).address == "@"
            await t.enter("/room *", expect="talking to * (everyone)")
            assert t.repl.target is None
            await t.script(
                [
                    ("/say /not a command", "[all] <ana> /not a command"),
                    ("//shrug", "[all] <ana> /shrug"),
                    ("/room", "talking to * (everyone)"),
                    ("chat is lower case, so text", "<ana> chat is lower"),
                    ("/room #nowhere", "you are not in it: /join #nowhere"),
                    ("still?", "not delivered: you are not in #nowhere"),
                ]
            )
        await bruno.close()


@async_test
async def test_incoming_messages_look_distinct_and_mentions_ring() -> None:
    async with Servers() as servers:
        address = await servers.start()
        bruno = await started(address, Guest("bruno"), rooms=["#geral"])
        async with open_repl(address, Guest("ana"), rooms=["#geral"]) as t:
            t.repl.switch("#geral")
            await within(bruno.say("#geral", "in the room"))
            room = await t.line("in the room")
            await within(bruno.say("ana", "just you"))
            dm = await t.line("just you")
            await within(bruno.say("*", "for all"))
            everyone = await t.line("for all")
            assert (room.kind, dm.kind, everyone.kind) == ("message", "dm", "broadcast")
            assert "#geral <bruno> in the room" in room.text
            assert "*bruno* just you" in dm.text
            assert "[all] <bruno> for all" in everyone.text
            assert room.text[:8].count(":") == 2  # HH:MM:SS, local time
            assert not room.bell and t.sink.bells == 0
            await within(bruno.say("#geral", "hey ANA, look"))
            mention = await t.line("look")
            assert mention.bell and t.sink.bells == 1
            assert ("class:mention", "hey ANA, look") in mention.fragments
            await within(bruno.say("#geral", "banana is not a mention"))
            assert not (await t.line("banana")).bell
            # Unread counts for the targets I am not looking at.
            assert "unread: bruno 1, * 1" in t.repl.toolbar_text()
            await t.enter("/room bruno", expect="talking to bruno")
            assert "unread: * 1" in t.repl.toolbar_text()
            assert "bruno" not in t.repl.toolbar_text().split("unread:")[1]
            # Colours: stable per nick.
            styles = {s for s, text, *_ in room.fragments if text == "bruno"}
            again = await t.line("look")
            assert styles == {s for s, text, *_ in again.fragments if text == "bruno"}
        await bruno.close()


@async_test
async def test_notices_for_presence_and_rooms() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with open_repl(address, Guest("ana"), rooms=["#geral"]) as t:
            mark = t.mark()
            bruno = await started(address, Guest("bruno"))
            await t.line("bruno is online", mark)
            await within(bruno.join("#geral"))
            line = await t.line("bruno joined #geral", mark)
            assert line.kind == "notice"
            await within(bruno.part("#geral"))
            await t.line("bruno left #geral", mark)
            await bruno.quit()
            await t.line("bruno went offline", mark)


@async_test
async def test_every_listing_command_and_alias() -> None:
    async with Servers() as servers:
        address = await servers.start()
        bruno = await started(address, Guest("bruno"), rooms=["#geral"])
        async with open_repl(address, Guest("ana")) as t:
            for typed in ("/who", "/online", "WHO", "LISTA"):
                await t.enter(typed, expect="online (2): ana, bruno")
            await t.script(
                [
                    ("/who #geral", "#geral (1): bruno"),
                    ("/who geral", "#geral (1): bruno"),
                    ("LISTA #nothing", "#nothing: nobody"),
                ]
            )
            for typed in ("/rooms", "/list", "SALAS", "ROOMS"):
                await t.enter(typed, expect="rooms (1): #geral 1")
            assert "#geral" in t.repl.rooms()
            await t.script(
                [
                    ("JUNTAR #geral", "you joined #geral (2: ana, bruno)"),
                    ("DEIXAR #geral", "you left #geral"),
                    ("JOIN #b", "you joined #b"),
                    ("PART #b", "you left #b"),
                    ("/join #c", "you joined #c"),
                    ("/part", "you left #c"),
                ]
            )
            assert t.repl.target is None
            await t.script(
                [
                    ("/leave #c", "you are not in #c"),
                    ("/part", "usage: /part [#ROOM]"),
                    ("/ping", "lag: "),
                    ("/lag", "lag: "),
                    ("PING abc", "PONG-224 abc"),
                ]
            )
            heard = incoming(bruno)
            await t.enter("CHAT bruno oi", expect="-> *bruno* oi")
            await t.enter("MSG bruno oi2", expect="-> *bruno* oi2")
            assert (await within(heard)).text == "oi"
            await t.script(
                [
                    ("CHAT carla oi", "not delivered: carla is not online"),
                    ("/quote chat bruno quoted", "-> *bruno* quoted"),
                    ("/quote PONG x", "sent (it gets no reply)"),
                    ("/quote FOO", "the server does not know that command"),
                    ("JUNTAR geral", "usage: JUNTAR|JOIN <#room>: a room starts"),
                    ("/quote", "usage: /quote LINE"),
                    ("/msg bruno", "usage: /msg TARGET TEXT"),
                    ("/say", "usage: /say TEXT"),
                    ("/join", "usage: /join #ROOM"),
                    ("/join #bad room", "you joined #bad"),
                    ("/msg a%b hi", "a name may not contain '%'"),
                    ("/frobnicate", "unknown command /frobnicate"),
                    ("NOVO carla pw", "account carla created"),
                    ("APELIDO x", "you are already logged in"),
                ]
            )
        await bruno.close()


@async_test
async def test_help_is_generated_from_the_tables() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with open_repl(address, Guest("ana")) as t:
            mark = t.mark()
            await t.enter("/help", expect="Ctrl-R searches history")
            shown = [line.text for line in t.sink.lines[mark:] if line.kind == "help"]
            text = "\n".join(shown)
            for word in ("/msg", "/private", "/who", "/online", "/room", "/raw"):
                assert word in text
            for usage in (
                "NOVO <user> <password>",
                "LISTA [#room|*] [after]",
                "SAIR",
                "DEIXAR",
            ):
                assert usage in text
            assert "PONG" not in text
            await t.script(
                [
                    ("/help private", "/msg TARGET TEXT"),
                    ("/help lista", "LISTA [#room|*] [after]"),
                    ("/help who", "List the names online"),
                    ("/help nothing", "no command nothing"),
                ]
            )


@async_test
async def test_quit_and_its_aliases_end_the_session() -> None:
    async with Servers() as servers:
        address = await servers.start()
        for typed in ("/quit", "/exit", "QUIT", "SAIR", "\x04"):
            async with open_repl(address, Guest("ana")) as t:
                t.pipe.send_text(typed if typed == "\x04" else typed + "\r")
                assert await within(t.task) == 0
                await t.line("disconnected (quit)")


@async_test
async def test_ctrl_c_clears_the_line_and_keeps_going() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with open_repl(address, Guest("ana")) as t:
            await t.keys("half a tho", lambda text: text == "half a tho")
            t.pipe.send_text("\x03")  # Ctrl-C: the half line is dropped
            await t.enter("/who", expect="online (1): ana")
            assert not t.task.done()
            assert all("half a tho" not in text for text in t.sink.texts)


@async_test
async def test_completion_from_the_live_state() -> None:
    async with Servers() as servers:
        address = await servers.start()
        bruno = await started(address, Guest("bruno"), rooms=["#geral"])
        async with open_repl(address, Guest("ana")) as t:
            cases = [
                ("/jo", "/join "),
                ("/pri", "/private "),
                ("@br", "@bruno "),
                ("br", "bruno: "),
                ("say hi to br", "say hi to bruno "),
                ("/join #ge", "/join #geral"),
                ("LIS", "LISTA"),
                ("/msg b", "/msg bruno "),
            ]
            for typed, done in cases:
                await t.keys(typed, lambda text, typed=typed: text == typed)
                assert await t.keys("\t", lambda text, done=done: text == done) == done
                await t.keys("\x15", lambda text: text == "")  # Ctrl-U
            # A room made after ana logged in completes: Tab asks the server.
            await within(bruno.join("#novo"))
            await vclock(t.client).advance(1.0)
            await t.keys("/join #no", lambda text: text == "/join #no")
            assert await t.keys("\t", lambda text: text != "/join #no") == "/join #novo"
            await t.keys("\x15", lambda text: text == "")
            carla = await started(address, Guest("carla"))
            await within(t.client.who())  # LISTA refreshes who is online
            await t.keys("ca", lambda text: text == "ca")
            assert await t.keys("\t", lambda text: text != "ca") == "carla: "
            await carla.close()
        await bruno.close()


@async_test
async def test_a_message_arriving_mid_line_leaves_the_line_alone() -> None:
    async with Servers() as servers:
        address = await servers.start()
        bruno = await started(address, Guest("bruno"))
        async with open_repl(address, Guest("ana")) as t:
            await t.enter("/room bruno", expect="talking to bruno")
            await t.keys("hel", lambda text: text == "hel")
            await within(bruno.say("ana", "are you typing?"))
            await t.line("are you typing?")
            assert t.buffer_text == "hel"
            heard = incoming(bruno)
            await t.enter("lo", expect="-> *bruno* hello")
            assert (await within(heard)).text == "hello"
        await bruno.close()


@async_test
async def test_raw_wire_view_shows_lines_and_masks_passwords() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with open_repl(address) as t:
            await t.enter("/raw", expect="wire view on")
            assert "raw" in t.repl.toolbar_text()
            mark = t.mark()
            await t.script(
                [
                    ("NOVO ana s3cret", "account ana created"),
                    ("ENTRAR ana s3cret", "logged in as ana"),
                    ("/who", "online (1)"),
                ]
            )
            wire = [line.text for line in t.sink.lines[mark:] if line.kind == "wire"]
            assert any(">> NOVO ana ********" in w for w in wire)
            assert any(">> ENTRAR ana ********" in w for w in wire)
            assert any("<< PASS-214 ana" in w and "Reply(code=214" in w for w in wire)
            assert any(
                ">> LISTA" in w and "Who(room=None, after=None)" in w for w in wire
            )
            assert all("s3cret" not in line.text for line in t.sink.lines)
            await t.enter("/raw", expect="wire view off")
            assert not t.client.wire


@async_test
async def test_typing_while_reconnecting_says_so(tmp_path) -> None:
    async with Servers(tmp_path) as servers:
        address = await servers.start()
        async with open_repl(address, Guest("ana"), rooms=["#geral"]) as t:
            t.repl.switch("#geral")
            mark = t.mark()
            await servers.stop(address)
            await t.line("the server is shutting down", mark)
            wait = await t.line("reconnecting to", mark)
            assert "reconnecting in 1 s" in t.repl.toolbar_text()
            await t.enter(
                "anyone?", expect="not connected; reconnecting in 1 s; not sent"
            )
            assert wait.kind == "notice"


@async_test
async def test_internal_errors_are_one_line_and_go_to_the_log(tmp_path) -> None:
    log = tmp_path / "repl.log"
    async with Servers() as servers:
        address = await servers.start()
        async with open_repl(address, Guest("ana"), log_path=log) as t:

            async def broken(*args: object) -> None:
                raise RuntimeError("a bug")

            t.client.say = broken  # type: ignore[method-assign]
            line = await t.enter("hello", expect="internal error")
            assert line is not None
            assert line.text.endswith(
                f"!! internal error (RuntimeError: a bug); details in {log}"
            )
            assert "Traceback" not in "".join(t.sink.texts)


@async_test
async def test_online_pushes_feed_completion_too() -> None:
    async with Servers() as servers:
        address = await servers.start()
        async with open_repl(address, Guest("ana")) as t:
            arrived = t.client.expect(Online)
            dora = await started(address, Guest("dora"))
            await within(arrived)
            assert "dora" in t.repl.nicks() and "ana" not in t.repl.nicks()
            await dora.close()


@async_test
async def test_history_persists_and_ctrl_r_finds_it(tmp_path) -> None:
    path = tmp_path / "history"
    async with Servers() as servers:
        address = await servers.start()
        bruno = await started(address, Guest("bruno"))
        async with open_repl(address, Guest("ana"), history=SafeHistory(path)) as t:
            await t.enter("@bruno the first words", expect="the first words")
            await t.enter("ENTRAR ana secret", expect="already logged in")
        assert "the first words" in path.read_text(encoding="utf-8")
        assert "secret" not in path.read_text(encoding="utf-8")
        # A new session reads the file; Ctrl-R finds the line again.
        async with open_repl(address, Guest("ana2"), history=SafeHistory(path)) as t:
            heard = incoming(bruno)
            # Ctrl-R, a word, Enter: the line found is back in the input;
            # Enter again sends it.
            found = "@bruno the first words"
            await t.keys("\x12first\r", lambda text: text == found)
            await t.enter("", expect="-> *bruno* the first words")
            assert (await within(heard)).text == "the first words"
        await bruno.close()
