"""A dice roller: ``!roll 2d6+1`` in a room or a DM.

Run it:  batchat-bot examples/dice.py --join '#geral'

It shows how a command gets its arguments: the handler's parameters after
``ctx`` are the words typed after ``!roll``, converted by their annotations.
Here the annotation is ``Dice``, a class that reads ``2d6+1`` (and raises
``ValueError`` for anything else, which the bot answers with the usage).
"""

import random
import re

from libbatchat.bot import Bot, Context

bot = Bot("dice", rooms=["#geral"])

DICE = re.compile(r"(\d*)d(\d+)([+-]\d+)?", re.IGNORECASE)


class Dice:
    """Dice written as NdS+M: N dice of S sides, plus M (``2d6+1``, ``d20``)."""

    def __init__(self, text: str) -> None:
        found = DICE.fullmatch(text)
        if found is None:
            raise ValueError(f"{text!r} is not dice like 2d6+1")
        self.count = int(found.group(1) or 1)
        self.sides = int(found.group(2))
        self.bonus = int(found.group(3) or 0)
        if not (1 <= self.count <= 100 and 2 <= self.sides <= 1000):
            raise ValueError("use 1 to 100 dice of 2 to 1000 sides")
        self.text = text


# A seeded generator would make the rolls repeatable; tests set bot.rng.
rng = random.Random()


@bot.command("roll", "r")
async def roll(ctx: Context, dice: Dice | None = None) -> str:
    """roll dice: !roll 2d6+1 (default 1d6)"""
    dice = dice or Dice("1d6")  # an optional argument: None when not typed
    rolls = [rng.randint(1, dice.sides) for _ in range(dice.count)]
    total = sum(rolls) + dice.bonus
    shown = " + ".join(map(str, rolls))
    if dice.bonus:
        shown += f" {'+' if dice.bonus > 0 else '-'} {abs(dice.bonus)}"
    # Returning a string replies with it, where the command came from.
    return f"{ctx.sender} rolled {dice.text}: {shown} = {total}"
