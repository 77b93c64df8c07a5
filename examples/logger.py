"""A logger: it writes what is said in its rooms to a file, and ``!last N``.

Run it:  BATCHAT_LOG_FILE=geral.log batchat-bot examples/logger.py --join '#geral'

Every line is appended and flushed to the file as it arrives, so stopping
and starting the bot again loses nothing that was written: ``!last``
reads the file, not the bot's memory.
"""

import os
from datetime import datetime
from pathlib import Path

from libbatchat.bot import Bot, Context

bot = Bot("logger", rooms=["#geral"])

LOG = Path(os.environ.get("BATCHAT_LOG_FILE", "batchat-room.log"))
MAX_LAST = 20  # lines !last shows at most


def write(stamp: datetime, room: str, sender: str, text: str) -> None:
    # One line per message, tab-separated; a message never holds a newline.
    line = f"{stamp:%Y-%m-%d %H:%M:%S}\t{room}\t{sender}\t{text}\n"
    with LOG.open("a", encoding="utf-8") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())  # on disk before the next message arrives


@bot.on_message
async def keep(ctx: Context) -> None:
    if ctx.room is not None:  # room messages only; DMs are private
        write(ctx.message.time, ctx.room, ctx.sender, ctx.text)


@bot.command("last")
async def last(ctx: Context, count: int = 5) -> str:
    """the last COUNT lines said in this room (default 5)"""
    if ctx.room is None:
        return "ask me in a room"
    if not 1 <= count <= MAX_LAST:
        return f"COUNT goes from 1 to {MAX_LAST}"
    lines = LOG.read_text(encoding="utf-8").splitlines() if LOG.exists() else []
    fields = [line.split("\t") for line in lines]
    here = [f for f in fields if len(f) == 4 and f[1].casefold() == ctx.room.casefold()]
    # keep() ran first (handlers start in order), so this very !last is the
    # newest line: leave it out.
    if here and here[-1][2:] == [ctx.sender, ctx.text]:
        here.pop()
    here = here[-count:]
    if not here:
        return "nothing logged here yet"
    return "\n".join(f"{f[0][11:16]} <{f[2]}> {f[3]}" for f in here)
