"""The REPL headless: a pipe for the keyboard, a list for the screen.

``open_repl`` builds a client (virtual clock, as in client_harness), a
``Repl`` on prompt_toolkit's pipe input and ``DummyOutput``, and a
``ListSink`` the test reads; the REPL runs in a task until the test ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from frontends.repl.app import Repl
from frontends.repl.render import Line, ListSink
from libbatchat.client import Address, Client, Identity
from tests.client_harness import client, within


@dataclass
class Typing:
    repl: Repl
    pipe: PipeInput
    sink: ListSink
    task: asyncio.Task[int]

    @property
    def client(self) -> Client:
        return self.repl.client

    @property
    def buffer_text(self) -> str:
        return self.repl.session.default_buffer.text

    def mark(self) -> int:
        return len(self.sink.lines)

    async def line(self, match: str | Callable[[Line], bool], since: int = 0) -> Line:
        return await within(self.sink.wait(match, since=since))

    async def enter(self, text: str, expect: str | None = None) -> Line | None:
        """Type ``text`` and Enter; with ``expect``, wait for a line showing it."""
        since = self.mark()
        self.pipe.send_text(text + "\r")
        if expect is None:
            return None
        return await self.line(expect, since)

    async def script(self, steps: list[tuple[str, str]]) -> None:
        """Type each line in turn, waiting for the line it should show."""
        for typed, shown in steps:
            await self.enter(typed, expect=shown)

    async def keys(self, text: str, until: Callable[[str], bool]) -> str:
        """Type ``text`` (no Enter); wait until the input line passes ``until``."""
        buffer = self.repl.session.default_buffer
        changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def check(_: object) -> None:
            if until(buffer.text) and not changed.done():
                changed.set_result(None)

        buffer.on_text_changed += check
        try:
            self.pipe.send_text(text)
            if not until(buffer.text):
                await within(changed)
        finally:
            buffer.on_text_changed -= check
        return buffer.text

    async def quit(self) -> int:
        if not self.task.done():
            self.pipe.send_text("\x15/quit\r")  # Ctrl-U first: an empty line
        return await within(self.task)


@contextlib.asynccontextmanager
async def open_repl(
    address: Address,
    identity: Identity | None = None,
    *,
    log_path: Path | None = None,
    history: History | None = None,
    **options: Any,
) -> AsyncIterator[Typing]:
    c = client(address, identity, **options)
    with create_pipe_input() as pipe:
        sink = ListSink()
        repl = Repl(
            c,
            sink=sink,
            input=pipe,
            output=DummyOutput(),
            history=history or InMemoryHistory(),
            log_path=log_path,
        )
        await within(c.start())
        task = asyncio.ensure_future(repl.run())
        typing = Typing(repl, pipe, sink, task)
        try:
            yield typing
        except BaseException:
            # The test failed: its error is the news, not a goodbye that
            # may not get through (a virtual clock nobody advances).
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await c.close()
            raise
        if not task.done():
            await typing.quit()
        await c.close()
