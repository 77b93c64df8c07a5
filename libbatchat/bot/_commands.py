"""Commands: their arguments read from the handler's annotations, and usage.

A handler ``async def roll(ctx, dice: Dice, times: int = 1)`` makes the
command take one required and one optional word; each word is converted by
calling the annotation with it (``int("3")``, ``Dice("2d6")``), so any class
or function that takes a string and raises ``ValueError`` on bad input is a
converter. ``*words: T`` takes the remaining words; a keyword-only parameter
takes the rest of the line as it was typed (``*, text: str``).
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BadArguments", "CommandSpec", "Param", "convert_bool"]

_TRUE = {"yes", "y", "true", "on", "1", "sim", "s"}
_FALSE = {"no", "n", "false", "off", "0", "nao", "não"}


class BadArguments(ValueError):
    """The words typed do not fit the command; the text says which."""


def convert_bool(word: str) -> bool:
    folded = word.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(f"{word!r} is not yes or no")


@dataclass(frozen=True, slots=True)
class Param:
    """One argument of a command, as the handler declares it."""

    name: str
    convert: Callable[[str], Any]
    kind: typing.Literal["word", "words", "rest"]
    required: bool
    default: Any
    shown: str  # how usage names it: DICE, [TIMES], [WORDS...], TEXT
    choices: tuple[str, ...] = ()

    def parse(self, word: str) -> Any:
        if self.choices and word.casefold() not in (c.casefold() for c in self.choices):
            raise BadArguments(f"{self.name} must be one of: {', '.join(self.choices)}")
        try:
            return self.convert(word)
        except (ValueError, TypeError, KeyError) as exc:
            # A converter of the bot's own says best what is wrong; the
            # builtins' messages ("invalid literal for int()") do not.
            own = self.convert not in (int, float) and isinstance(exc, ValueError)
            detail = str(exc) if own else ""
            raise BadArguments(
                detail or f"{word!r} is not a valid {self.name.upper()}"
            ) from None


def _converter(annotation: Any) -> tuple[Callable[[str], Any], tuple[str, ...], bool]:
    """(converter, choices, optional) for one annotation."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"cannot convert a word to {annotation!r}")
        annotation = members[0]
        origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choices = tuple(str(c) for c in typing.get_args(annotation))
        by_fold = {c.casefold(): c for c in choices}
        return (lambda word: by_fold[word.casefold()]), choices, optional
    if annotation is inspect.Parameter.empty or annotation is str or annotation is Any:
        return str, (), optional
    if annotation is bool:
        return convert_bool, (), optional
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        kind = annotation
        names = tuple(m.name.lower() for m in kind)
        return (lambda word: kind[word.upper()]), names, optional
    if callable(annotation):
        return annotation, (), optional
    raise TypeError(f"cannot convert a word to {annotation!r}")


class CommandSpec:
    """A command: its name, aliases, help, and how to read its arguments."""

    def __init__(
        self,
        name: str,
        handler: Callable[..., Any],
        *,
        aliases: tuple[str, ...] = (),
        help: str | None = None,
        usage: str | None = None,
    ) -> None:
        self.name = name
        self.aliases = aliases
        self.handler = handler
        doc = inspect.getdoc(handler) or ""
        self.help = help if help is not None else (doc.splitlines() or [""])[0]
        self.params = _params(handler)
        self._usage = usage

    def usage(self, prefix: str) -> str:
        if self._usage is not None:
            return f"{prefix}{self.name} {self._usage}".rstrip()
        words = " ".join(p.shown for p in self.params)
        return f"{prefix}{self.name} {words}".rstrip()

    def parse(self, rest: str) -> tuple[list[Any], dict[str, Any]]:
        """The handler's arguments from the text after the command's name."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        remaining = rest.strip(" ")
        for param in self.params:
            if param.kind == "rest":
                if not remaining:
                    if param.required:
                        raise BadArguments(f"{param.name} is missing")
                    kwargs[param.name] = param.default
                else:
                    kwargs[param.name] = param.parse(remaining)
                remaining = ""
            elif param.kind == "words":
                args.extend(param.parse(w) for w in remaining.split())
                remaining = ""
            else:
                word, _, remaining = remaining.partition(" ")
                remaining = remaining.lstrip(" ")
                if not word:
                    if param.required:
                        raise BadArguments(f"{param.name} is missing")
                    args.append(param.default)
                else:
                    args.append(param.parse(word))
        if remaining:
            raise BadArguments(f"too many words: {remaining!r}")
        return args, kwargs


def _params(handler: Callable[..., Any]) -> tuple[Param, ...]:
    signature = inspect.signature(handler)
    try:
        hints = typing.get_type_hints(handler)
    except Exception:
        hints = {}
    found: list[Param] = []
    # The first parameter is the Context; the rest are the command's words.
    for param in list(signature.parameters.values())[1:]:
        annotation = hints.get(param.name, param.annotation)
        convert, choices, optional = _converter(annotation)
        has_default = param.default is not inspect.Parameter.empty
        default = param.default if has_default else None
        upper = param.name.upper()
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            kind: typing.Literal["word", "words", "rest"] = "words"
            required, shown = False, f"[{upper}...]"
        elif param.kind is inspect.Parameter.KEYWORD_ONLY:
            kind, required = "rest", not (has_default or optional)
            shown = upper if required else f"[{upper}]"
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        else:
            kind, required = "word", not (has_default or optional)
            shown = upper if required else f"[{upper}]"
        if choices and kind == "word":
            shown = "|".join(choices) if required else f"[{'|'.join(choices)}]"
        found.append(
            Param(param.name, convert, kind, required, default, shown, choices)
        )
    return tuple(found)
