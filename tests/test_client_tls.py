"""The client layer and the REPL over TLS, against a real TLS server."""

from __future__ import annotations

import pytest
from prompt_toolkit.input import create_pipe_input

from libbatchat.adapters import aio
from libbatchat.client import (
    Address,
    ConnectError,
    Guest,
    LoggedIn,
    Reconnecting,
)
from tests.client_harness import HOST, LIMITS, async_test, client, vclock, within
from tests.test_repl_cli import Program
from tests.test_tls import Certificate, certificate

__all__ = ["certificate"]  # the fixture, imported so pytest finds it


@async_test
async def test_tls_logs_in_verifies_and_comes_back(certificate: Certificate) -> None:
    server = aio.Server(HOST, 0, limits=LIMITS, tls=certificate.server_context())
    await server.start()
    port = server.port
    address = Address(HOST, port)
    try:
        c = client(address, Guest("ana"), tls=True, cafile=str(certificate.cert))
        await within(c.start())
        assert c.me == "ana"
        waiting = c.expect(Reconnecting)
        await server.close()
        wait = await within(waiting)
        server = aio.Server(HOST, port, limits=LIMITS, tls=certificate.server_context())
        await server.start()
        back = c.expect(LoggedIn)
        await vclock(c).advance(wait.delay)
        assert (await within(back)).again
        await c.close()
        # The system's authorities do not know a self-signed certificate.
        untrusted = client(address, Guest("bob"), tls=True)
        with pytest.raises(ConnectError, match="certificate is not trusted"):
            await within(untrusted.start())
    finally:
        await server.close()


def test_a_cafile_needs_tls() -> None:
    with pytest.raises(ValueError, match="cafile needs tls"):
        client("h", cafile="x.pem")


@async_test
async def test_the_repl_speaks_tls(certificate: Certificate, tmp_path) -> None:
    server = aio.Server(HOST, 0, limits=LIMITS, tls=certificate.server_context())
    await server.start()
    where = f"{HOST}:{server.port}"
    try:
        with create_pipe_input() as pipe:
            p = Program(tmp_path, pipe)
            argv = [where, "--nick", "ana", "--tls", "--cafile", str(certificate.cert)]
            assert await p.run(argv) == 0
            assert any("logged in as guest ana" in t for t in p.sink.texts)
        for argv, message in [
            ([where, "--nick", "x", "--cafile", "c.pem"], "--cafile needs --tls"),
            ([where, "--nick", "x", "--tls", "--cafile", "no.pem"], "--cafile: "),
            ([where, "--nick", "x", "--tls"], "certificate is not trusted"),
        ]:
            with create_pipe_input() as pipe:
                p = Program(tmp_path, pipe)
                assert await p.run(argv) == 1
                assert message in p.stderr.getvalue(), p.stderr.getvalue()
    finally:
        await server.close()
