"""A bridge: what is said in one room is repeated in the other, both ways.

Run it:  BRIDGE_ROOMS='#geral,#outra' batchat-bot examples/bridge.py

The server never sends the bot its own messages, so one bridge cannot
loop by itself. Two bridges could (each relaying what the other relayed):
every relayed line starts with a tag, and lines that carry one are not
relayed again. The bot's reply-loop breaker is there as well.
"""

import os
import re

from libbatchat.bot import Bot, Context

ROOMS = [r.strip() for r in os.environ.get("BRIDGE_ROOMS", "#geral,#outra").split(",")]
if len(ROOMS) != 2:
    raise SystemExit("BRIDGE_ROOMS names two rooms, like '#geral,#outra'")

bot = Bot("bridge", rooms=ROOMS)

# "[#geral] <ana> hello": where it came from and who said it.
TAG = re.compile(r"^\[#[^\]]+\] <[^>]+> ")


def other(room: str) -> str | None:
    folded = [r.casefold() for r in ROOMS]
    if room.casefold() not in folded:
        return None
    return ROOMS[1 - folded.index(room.casefold())]


@bot.on_message
async def relay(ctx: Context) -> None:
    if ctx.room is None or TAG.match(ctx.text):
        return  # a DM, or a line some bridge already relayed
    target = other(ctx.room)
    if target is not None:
        await bot.say(target, f"[{ctx.room}] <{ctx.sender}> {ctx.text}")
