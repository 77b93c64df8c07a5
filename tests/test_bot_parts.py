"""The bot's parts without a server: argument conversion, guards, loading."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Literal

import pytest

from libbatchat.bot import (
    BadArguments,
    Bot,
    Breaker,
    CommandSpec,
    Context,
    Cooldown,
    NoBot,
    load_bot,
)
from libbatchat.bot._guards import Cooldowns


class Colour(enum.Enum):
    RED = 1
    BLUE = 2


async def full(  # noqa: PLR0917 (one parameter of each kind)
    ctx: Context,
    count: int,
    ratio: float,
    loud: bool,
    size: Literal["S", "M", "L"],
    colour: Colour | None = None,
    *words: str,
) -> None:
    """a command with one of each"""


async def rest(ctx: Context, target: str, *, text: str = "") -> None:
    pass


def test_words_are_converted_by_the_annotations() -> None:
    spec = CommandSpec("full", full)
    args, kwargs = spec.parse(" 3 0.5 yes m blue a b ")
    assert args == [3, 0.5, True, "M", Colour.BLUE, "a", "b"] and kwargs == {}
    args, _ = spec.parse("3 1 off L")
    assert args == [3, 1.0, False, "L", None]
    assert spec.usage("!") == "!full COUNT RATIO LOUD S|M|L [red|blue] [WORDS...]"
    assert spec.help == "a command with one of each"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "count is missing"),
        ("x 1 yes S", "'x' is not a valid COUNT"),
        ("1 1 maybe S", "'maybe' is not yes or no"),
        ("1 1 yes XL", "size must be one of: S, M, L"),
        ("1 1 yes S green", "colour must be one of: red, blue"),
    ],
)
def test_bad_words_say_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(BadArguments, match=f"^{error}$"):
        CommandSpec("full", full).parse(text)


def test_a_keyword_only_parameter_takes_the_rest_of_the_line() -> None:
    spec = CommandSpec("tell", rest, usage="NICK [TEXT]")
    assert spec.parse("ana  oi,  tudo bem? ") == (["ana"], {"text": "oi,  tudo bem?"})
    assert spec.parse("ana") == (["ana"], {"text": ""})
    assert spec.usage("!") == "!tell NICK [TEXT]"

    async def needs(ctx: Context, *, text: str) -> None:
        pass

    with pytest.raises(BadArguments, match="text is missing"):
        CommandSpec("say", needs).parse("  ")


def test_annotations_that_cannot_convert_a_word_are_refused() -> None:
    async def two(ctx: Context, value: int | float) -> None:
        pass

    with pytest.raises(TypeError, match="cannot convert"):
        CommandSpec("two", two)


def test_cooldown_tells_once_and_refills() -> None:
    limits = Cooldowns(Cooldown(burst=2, every=10))
    assert limits.check("Ana", 0) is None
    assert limits.check("ana", 0) is None
    assert limits.check("ANA", 1) == 9
    assert limits.check("ana", 2) == -1
    assert limits.check("bruno", 2) is None
    assert limits.check("ana", 10) is None
    with pytest.raises(ValueError):
        Cooldown(burst=0)
    many = Cooldowns(Cooldown(burst=1, every=1))
    for n in range(1030):
        many.check(f"u{n}", float(n))
    assert len(many._buckets) < 1030


def test_breaker_trips_after_the_limit_and_closes_after_the_pause() -> None:
    breaker = Breaker(limit=2, window=10, pause=30)
    assert not breaker.replied("bot2", 0)
    assert not breaker.replied("bot2", 1)
    assert breaker.replied("BOT2", 2)
    assert breaker.open_for("bot2", 3)
    assert not breaker.open_for("ana", 3)
    assert not breaker.open_for("bot2", 32)
    assert not breaker.replied("bot2", 33)


def test_bot_registration_rules() -> None:
    bot = Bot("x")
    with pytest.raises(ValueError):
        Bot(prefix="")

    @bot.command("help")  # replaces the automatic help
    def my_help(ctx: Context) -> str:
        return "mine"

    assert [c.name for c in bot.commands] == ["help"]
    with pytest.raises(ValueError, match="already registered"):
        bot.command("help")(my_help)
    with pytest.raises(ValueError):
        bot.every(0)
    with pytest.raises(RuntimeError, match="not running"):
        bot.now()


def test_load_bot_finds_the_bot(tmp_path: Path) -> None:
    one = tmp_path / "one.py"
    one.write_text("from libbatchat.bot import Bot\nmine = Bot('a')\n")
    assert load_bot(str(one)).name == "a"
    assert load_bot(str(one)) is not load_bot(str(one))  # a fresh module each time
    two = tmp_path / "two.py"
    two.write_text("from libbatchat.bot import Bot\na = Bot('a')\nb = Bot('b')\n")
    with pytest.raises(NoBot, match="several bots"):
        load_bot(str(two))
    assert load_bot(f"{two}:b").name == "b"
    with pytest.raises(NoBot, match="c is not a Bot"):
        load_bot(f"{two}:c")
    with pytest.raises(NoBot, match="no such module"):
        load_bot("no_such_module_here")
    assert load_bot(f"{one}:mine").name == "a"
