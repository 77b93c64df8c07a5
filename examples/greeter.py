"""A greeter: it welcomes everyone who joins its rooms.

Run it:  batchat-bot examples/greeter.py --join '#geral'

``on_join`` runs when someone else joins a room the bot is in; the bot's
own joins (and rejoins after a reconnect) do not count.
"""

from libbatchat.bot import Bot, Context, Joined, Left

bot = Bot("greeter", rooms=["#geral"])

# Who was greeted already, so someone who hops in and out is not greeted
# again and again (names compare case-insensitively, as on the server).
greeted: set[str] = set()


@bot.on_join
async def welcome(event: Joined) -> None:
    name = event.user.casefold()
    if name in greeted:
        await bot.say(event.room, f"welcome back, {event.user}")
    else:
        greeted.add(name)
        await bot.say(event.room, f"welcome to {event.room}, {event.user}! try !help")


@bot.on_leave
async def goodbye(event: Left) -> None:
    await bot.say(event.room, f"{event.user} left; bye!")


@bot.command("who")
async def who(ctx: Context) -> str:
    """who is in this room"""
    room = bot.state.room(ctx.room) if ctx.room else None
    if room is None:
        return "ask me in a room"
    return f"in {room.name}: {', '.join(room.members)}"
