"""A poll bot: ``!poll question | option | option``, ``!vote N``, a result.

Run it:  batchat-bot examples/poll.py --join '#geral'

A poll runs in one room for ``POLL_SECONDS``; everyone votes once (voting
again changes the vote); when the time is up the bot posts the result.
The deadline is ``await bot.sleep(...)``: on the bot's clock, so a test
moves it with ``h.advance()`` instead of waiting a minute.
"""

import os
from dataclasses import dataclass, field

from libbatchat.bot import Bot, Context

bot = Bot("poll", rooms=["#geral"])

POLL_SECONDS = float(os.environ.get("POLL_SECONDS", "60"))


@dataclass
class Poll:
    question: str
    options: list[str]
    votes: dict[str, int] = field(default_factory=dict)  # voter -> option index


polls: dict[str, Poll] = {}  # room (folded) -> the poll running there


@bot.command("poll", usage="QUESTION | OPTION | OPTION ...")
async def poll(ctx: Context, *, spec: str) -> str | None:
    """start a poll: !poll lunch? | pizza | sushi"""
    if ctx.room is None:
        return "start a poll in a room"
    room = ctx.room.casefold()
    if room in polls:
        return "a poll is already running here; wait for its result"
    question, *options = [part.strip() for part in spec.split("|")]
    options = [o for o in options if o]
    if not question or not 2 <= len(options) <= 9:
        return "usage: !poll QUESTION | OPTION | OPTION ... (2 to 9 options)"
    polls[room] = Poll(question, options)
    choices = ", ".join(f"{n}) {o}" for n, o in enumerate(options, 1))
    await ctx.reply(
        f"poll: {question} {choices} -- vote with !vote N ({POLL_SECONDS:g} s)"
    )
    # This handler runs in a task of its own: sleeping here blocks nobody.
    await bot.sleep(POLL_SECONDS)
    finished = polls.pop(room)
    counts = [0] * len(finished.options)
    for choice in finished.votes.values():
        counts[choice] += 1
    tally = ", ".join(
        f"{o}: {c}" for o, c in zip(finished.options, counts, strict=True)
    )
    best = max(counts)
    if best == 0:
        return f"poll closed: {question} -- no votes"
    winners = [o for o, c in zip(finished.options, counts, strict=True) if c == best]
    verdict = winners[0] if len(winners) == 1 else "a tie: " + " / ".join(winners)
    return f"poll closed: {question} -- {tally} -> {verdict}"


@bot.command("vote")
async def vote(ctx: Context, choice: int) -> str | None:
    """vote for option CHOICE of the poll in this room"""
    running = polls.get(ctx.room.casefold()) if ctx.room else None
    if running is None:
        return "no poll is running here"
    if not 1 <= choice <= len(running.options):
        return f"vote 1 to {len(running.options)}"
    running.votes[ctx.sender.casefold()] = choice - 1
    return None  # a silent vote keeps the room readable
