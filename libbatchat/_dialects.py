"""The dialects the server speaks besides the canonical protocol, by name."""

from __future__ import annotations

from ._codec import Codec
from ._dialect_batchat1 import BatChat1
from ._dialect_chatsocket import ChatSocket
from ._dialect_minichat import MiniChat
from ._dialect_slashchat import SlashChat

CANONICAL = "canonical"

DIALECTS: dict[str, type[Codec]] = {
    cls.name: cls for cls in (BatChat1, SlashChat, MiniChat, ChatSocket)
}


def names() -> list[str]:
    """Every dialect a listener may speak, the canonical one first."""
    return [CANONICAL, *DIALECTS]


def codec_class(name: str) -> type[Codec] | None:
    """The codec of dialect ``name`` (None: the canonical protocol);
    ValueError names the known dialects."""
    if name == CANONICAL:
        return None
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(
            f"unknown dialect {name!r} (known: {', '.join(names())})"
        ) from None
