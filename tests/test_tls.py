"""TLS: both servers, both clients, the program and the conformance CLI.

The certificate is made on the fly for 127.0.0.1 with the ``openssl``
command line and lives only in the test's temporary directory.
"""

from __future__ import annotations

import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from libbatchat import Closing, Nick, Ping
from libbatchat.adapters import aio, threaded
from libbatchat.conformance import cli
from tests.adapters_harness import (
    HOST,
    WAIT,
    AsyncioClient,
    LoopThread,
    Serve,
    SyncClient,
    ThreadedClient,
    adapter_flags,
    serve,
    start,
)
from tests.test_server_program import FAST_FLAGS, Program

__all__ = ["serve"]  # the fixture, imported to be found

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl command line"
)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=WAIT,
    )  # fmt: skip
    return Certificate(cert, key)


@pytest.fixture(params=("asyncio", "threaded"))
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def client(
    kind: str, port: int, loops: list[LoopThread], **options: object
) -> SyncClient:
    if kind == "threaded":
        return ThreadedClient(port, **options)
    loops.append(LoopThread())
    return AsyncioClient(loops[-1], port, **options)


@pytest.fixture
def loops() -> Iterator[list[LoopThread]]:
    started: list[LoopThread] = []
    yield started
    for loop in started:
        loop.stop()


def test_tls_round_trip_and_shutdown(
    serve: Serve, certificate: Certificate, client_kind: str, loops: list[LoopThread]
) -> None:
    running = serve(tls=certificate.server_context())
    c = client(client_kind, running.port, loops, tls=True, cafile=str(certificate.cert))
    try:
        assert c.greeting.version == 2
        assert c.request(Nick(nick="seguro")).code == 218
        running.close()
        last = None
        for _ in range(100):
            push = c.push()
            if push is None:
                break
            last = push
        assert isinstance(last, Closing) and last.reason == "shutdown"
    finally:
        c.close()


def test_tls_connections_are_written_through_their_transport(
    certificate: Certificate, loops: list[LoopThread]
) -> None:
    # The flush's direct send() (plain TCP on asyncio's loop) would put
    # plaintext on a TLS socket: a TLS connection is never given its socket.
    running = start("asyncio", tls=certificate.server_context())
    try:
        c = client(
            "asyncio", running.port, loops, tls=True, cafile=str(certificate.cert)
        )
        assert c.request(Nick(nick="seguro")).code == 218
        server, loop = running.server, running.loop
        assert isinstance(server, aio.Server) and loop is not None

        async def sockets() -> list[object]:
            return [p.sock for p in server.protocols.values()]

        assert loop.run(sockets()) == [None]
        c.close()
    finally:
        running.cleanup()


def test_certificates_are_verified_by_default(
    serve: Serve, certificate: Certificate, client_kind: str, loops: list[LoopThread]
) -> None:
    running = serve(tls=certificate.server_context())
    # A self-signed certificate is not trusted by the system's authorities.
    with pytest.raises(ssl.SSLCertVerificationError):
        client(client_kind, running.port, loops, tls=True)
    # Nor is the right certificate for another name.
    context = ssl.create_default_context(cafile=str(certificate.cert))
    with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
        if client_kind == "threaded":
            threaded.Client.connect("localhost", running.port, tls=context)
        else:

            async def connect() -> aio.Client:
                return await aio.Client.connect("localhost", running.port, tls=context)

            loops.append(LoopThread())
            loops[-1].run(connect())
    # The server shrugs off the failed handshakes.
    ok = client(
        client_kind, running.port, loops, cafile=str(certificate.cert), tls=True
    )
    ok.close()


def test_cafile_without_tls_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="cafile needs tls"):
        threaded.Client.connect(HOST, 1, cafile="x.pem")


@pytest.mark.parametrize("adapter", ("asyncio", "threaded"))
def test_program_with_tls_passes_conformance(
    tmp_path: Path,
    certificate: Certificate,
    adapter: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    program = Program(
        tmp_path,
        "--port", "0", "--db", ":memory:", *adapter_flags(adapter),
        "--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key),
        *FAST_FLAGS,
    )  # fmt: skip
    try:
        port = program.listening()
        status = cli.main(
            [
                f"{HOST}:{port}",
                "--cafile", str(certificate.cert),
                "--select", "commands/*", "--select", "messages/*",
                "-q",
            ]
        )  # fmt: skip
        out = capsys.readouterr().out
        assert status == cli.EXIT_OK, out
        # Without TLS the suite cannot talk to it, and says so.
        assert cli.main([f"{HOST}:{port}", "--select", "commands/*"]) == cli.EXIT_USAGE
        program.proc.send_signal(signal.SIGTERM)
        assert program.wait() == 0
        assert "Traceback" not in program.stderr()
    finally:
        program.stop()


def test_program_tls_flags_go_together(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "frontends.server", "--tls-cert", "x.pem"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 2
    assert "--tls-cert and --tls-key go together" in result.stderr


def test_program_bad_certificate_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.pem"
    result = subprocess.run(
        [
            sys.executable, "-m", "frontends.server", "--port", "0",
            "--tls-cert", str(missing), "--tls-key", str(missing),
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("batchat-server: error: cannot load the TLS")
    assert "Traceback" not in result.stderr


def test_batchat_bot_speaks_tls(tmp_path: Path, certificate: Certificate) -> None:
    from tests.test_bot_program import BOT, EXAMPLES, running

    server = Program(
        tmp_path,
        "--port", "0", "--db", ":memory:",
        "--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key),
        *FAST_FLAGS,
    )  # fmt: skip
    bot = None
    try:
        port = server.listening()
        bot = Program(
            tmp_path,
            str(EXAMPLES / "echo.py"), "--server", f"{HOST}:{port}",
            "--tls", "--cafile", str(certificate.cert),
            command=BOT,
        )  # fmt: skip
        assert running(bot) == "echo"
        bot.proc.send_signal(signal.SIGTERM)
        assert bot.wait() == 0
        assert "Traceback" not in bot.stderr()
        context = ssl.create_default_context(cafile=str(certificate.cert))
        with threaded.Client.connect(HOST, port, tls=context) as probe:
            assert probe.request(Ping(token="barrier")).ok  # the server caught up
        assert "echo logged out (quit)" in server.stderr()
    finally:
        if bot is not None:
            bot.stop()
        server.stop()
