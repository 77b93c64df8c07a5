"""The smallest useful bot: it says back what you tell it.

Run it:  batchat-bot examples/echo.py

Send it a direct message and it answers with the same text; in a room,
``!echo some words`` repeats the words there.
"""

from libbatchat.bot import Bot, Context

# The name is the nickname it takes unless --nick or --user says otherwise.
bot = Bot("echo", rooms=["#geral"])


@bot.on_message
async def echo_direct(ctx: Context) -> None:
    # on_message sees every message but the bot's own. Only DMs are echoed:
    # echoing a whole room would be noise (and a loop with another echo bot).
    if ctx.direct and not ctx.text.startswith(bot.prefix):
        await ctx.reply(ctx.text)


@bot.command("echo")
async def echo(ctx: Context, *, text: str) -> str:
    """say TEXT back where it was asked"""
    # A keyword-only parameter takes the rest of the line, spaces and all.
    return text
