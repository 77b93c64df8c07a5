"""batchat-repl through a server restart and a big paste (virtual time)."""

from __future__ import annotations

import asyncio

from libbatchat import Limits, Message
from libbatchat._limits import TokenBucket
from libbatchat.client import Account, Guest, Wire
from tests.client_harness import Servers, async_test, started, vclock, within
from tests.repl_harness import open_repl


@async_test
async def test_a_server_restart_brings_the_repl_back_in_its_rooms(tmp_path) -> None:
    async with Servers(tmp_path) as servers:
        address = await servers.start()
        ana = Account("ana", "pw", register=True)
        async with open_repl(address, ana, rooms=["#geral", "#dev"]) as t:
            t.repl.switch("#geral")
            mark = t.mark()
            await servers.stop(address)
            await t.line("the server is shutting down", mark)
            waiting = await t.line("reconnecting to", mark)
            assert "reconnecting in" in t.repl.toolbar_text()
            delay = float(waiting.text.split(" in ")[1].split(" s")[0])
            await servers.start(address.port)
            bruno = await started(address, Guest("bruno"), rooms=["#geral"])
            await vclock(t.client).advance(delay + 0.05)
            await t.line("logged in again as ana", mark)
            await t.line("rejoined #geral", mark)
            await t.line("rejoined #dev", mark)
            assert t.repl.toolbar_text().startswith(" online  ana -> #geral")
            heard = bruno.expect(Message)
            await t.enter("we are back", expect="#geral <ana> we are back")
            assert (await within(heard)).text == "we are back"
            await within(bruno.say("#geral", "welcome back"))
            await t.line("<bruno> welcome back", mark)
            await bruno.close()


@async_test
async def test_a_50_line_paste_goes_at_the_advertised_rate_and_all_arrive() -> None:
    limits = Limits(burst=10, rate=100.0, scrypt_n=16, scrypt_r=8, scrypt_p=1)
    async with Servers(limits=limits) as servers:
        address = await servers.start()
        bruno = await started(address, Guest("bruno"))
        got: list[str] = []
        bruno.subscribe(lambda u: got.append(u.text) if isinstance(u, Message) else 0)
        async with open_repl(address, Guest("ana")) as t:
            t.client.wire = True
            sent: list[Wire] = []
            t.client.subscribe(lambda u: sent.append(u) if isinstance(u, Wire) else 0)
            start = t.client.clock.now()
            await t.enter("/room bruno", expect="talking to bruno")
            lines = [f"pasted line {i}" for i in range(50)]
            mark = t.mark()
            await t.keys(
                "\x1b[200~" + "\n".join(lines) + "\x1b[201~",
                lambda text: text.count("\n") == 49,
            )
            await t.line("pasted 50 lines", mark)
            t.pipe.send_text("\r")
            clock = vclock(t.client)
            # Not bounded by WAIT as a whole (the paced paste can take longer
            # than that in real time on a loaded machine): each step is, and
            # the loop's count bounds the steps. The "mine" lines show only
            # once every line's CHAT-215 has come.
            last = asyncio.ensure_future(
                t.sink.wait(
                    lambda x: x.kind == "mine" and "line 49" in x.text, since=mark
                )
            )
            for _ in range(200):
                paced = asyncio.ensure_future(clock.sleeping(within=1.0))
                await within(asyncio.wait({last, paced}, return_when="FIRST_COMPLETED"))
                if last.done():
                    paced.cancel()
                    break
                await clock.advance(paced.result() - clock.now())
            else:
                last.cancel()
                raise AssertionError("the paste did not finish in 200 paced steps")
            await last  # its failure, if any, is the news
            await within(bruno.ping())  # everything ana sent has reached bruno
            assert got == lines
            mine = [x for x in t.sink.lines[mark:] if x.kind == "mine"]
            assert [x.text.split("* ", 1)[1] for x in mine] == lines
            assert not [x for x in t.sink.lines[mark:] if x.kind == "error"]
            bucket = TokenBucket(10, 100.0, start)
            outgoing = [w for w in sent if w.direction == "out"]
            assert all(bucket.take(w.time) for w in outgoing)
            chats = [w.time for w in outgoing if w.line.startswith("CHAT ")]
            assert len(chats) == 50 and chats[-1] - chats[0] >= 0.35
            await clock.advance(1.0)  # the bucket refills for the goodbye
        await bruno.close()
