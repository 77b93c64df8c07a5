"""Start and stop the servers under test, each its own process on loopback.

``asyncio``, ``threaded`` and ``uvloop`` are batchat-server from this tree
(``python -m frontends.server``) with flood control off; ``ngircd`` is the
distribution's daemon with penalties off; ``miniircd`` the package index's;
``cluster`` is two asyncio nodes on one Redis (``benchmarks.cluster``).
``floor``, ``floor-uvloop``, ``floor-noack`` and ``floor-uvloop-noack`` are
``benchmarks.floor``, a measuring baseline for ``dm`` (not a server), run
only when named.
Ours bind port 0 and report it; the peers are given a reserved free port
(``libbatchat.conformance.ports``), a fresh one if another process took it,
and must hold the listener themselves. None is fixed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from libbatchat.conformance import ports

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
NGIRCD = "/usr/sbin/ngircd"

# Flood control off, timers out of the way of a long run; everything else
# (line limits, send queues, connections per address with loopback exempt)
# stays at its default and is printed with the results.
OUR_FLAGS = (
    "--burst=1000000",
    "--rate=1000000",
    "--login-timeout=3600",
    "--ping-interval=3600",
    "--ping-timeout=7200",
    "--exempt-loopback",
)

NGIRCD_CONF = """\
[Global]
Name = bench.local
Info = batchat benchmark peer
AdminInfo1 = benchmark
AdminInfo2 = loopback
AdminEMail = bench@localhost
Listen = {host}
Ports = {port}
PidFile = {dir}/ngircd.pid
MotdPhrase = benchmark
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 3600
PongTimeout = 3600
[Options]
DNS = no
Ident = no
PAM = no
"""

BACKLOG = {"ngircd": 10, "miniircd": 5}  # listen() backlog, from `ss -ltn`
PEER_LIMITS = {
    "ngircd": "MaxPenaltyTime=0 (no flood penalty), MaxConnectionsIP=0, "
    "MaxJoins=0, MaxNickLength=30, PingTimeout=3600; listen backlog 10, "
    "so at most 9 logins in flight",
    "miniircd": "none to turn off (no flood control); select() loop, listen "
    "backlog 5, so at most 4 logins in flight",
}
CLUSTER = "cluster"  # two asyncio nodes on one Redis: benchmarks.cluster
OURS = ("asyncio", "threaded", "uvloop", CLUSTER)
PEERS = ("ngircd", "miniircd")
ALL = OURS + PEERS  # the default --servers
# The measuring baseline (benchmarks.floor): dm only, never by default.
FLOOR = ("floor", "floor-uvloop", "floor-noack", "floor-uvloop-noack")
FLOOR_LABEL = "a measuring baseline for dm, not a server"
KNOWN = ALL + FLOOR


@dataclass
class Running:
    name: str
    dialect: str
    port: int
    proc: subprocess.Popen[bytes]
    limits: str
    log: Path
    _logfile: BinaryIO
    # Logins the generator keeps in flight. The peers listen with short
    # backlogs (ngircd 10, miniircd 5): a wider burst overflows the accept
    # queue, and the SYN retries (1 s, 3 s, ...) would be measured as their
    # login time, or time out. Ours listen with the system's somaxconn.
    max_in_flight: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    # What the runner uses of any server under test (``cluster.Nodes`` too).

    @property
    def ports(self) -> list[int]:
        return [self.port]

    def pids(self) -> dict[str, int]:
        """The processes whose /proc counters are the server's cost."""
        return {"server": self.proc.pid}

    def died(self) -> str | None:
        code = self.proc.poll()
        return None if code is None else f"server died (exit {code})"

    def stop(self) -> str | None:
        return stop(self)


# Also what ``libbatchat.conformance.ports`` raises (PortTaken is one).
StartFailed = ports.StartError


def miniircd_path() -> str | None:
    here = Path(sys.executable).parent / "miniircd"
    return str(here) if here.exists() else shutil.which("miniircd")


def missing(name: str) -> str | None:
    """Why ``name`` cannot run here, or None."""
    if name == "ngircd" and not os.access(NGIRCD, os.X_OK):
        return f"{NGIRCD} not installed (Debian package ngircd)"
    if name == "miniircd" and miniircd_path() is None:
        return "miniircd not installed (pip install miniircd)"
    if "uvloop" in name and importlib.util.find_spec("uvloop") is None:
        return "uvloop not installed (pip install uvloop)"
    if name == CLUSTER:
        if redis_server_path() is None:
            return "redis-server not installed (Debian package redis-server)"
        if importlib.util.find_spec("redis") is None:
            return "redis-py not installed (pip install 'libbatchat[cluster]')"
    return None


def redis_server_path() -> str | None:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    return found if os.access(found, os.X_OK) else None


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-600:].strip() or "(no output)"
    except OSError:
        return "(no log)"


def _greeting(port: int) -> str:
    """The first line a client gets: our servers advertise their limits in it."""
    data = b""
    try:
        with socket.create_connection((HOST, port), timeout=10) as s:
            while b"\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.sendall(b"SAIR\n")
    except OSError as exc:
        return f"(none: {exc})"
    return data.split(b"\n")[0].decode(errors="replace").strip() or "(none: closed)"


def _last_line(log: Path) -> str:
    """The line that says why (a traceback's last line), from the server's log."""
    lines = [line.strip() for line in _tail(log).splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def start(
    name: str, workdir: Path, tree: Path = ROOT, extra: Sequence[str] = ()
) -> Running:
    """Start server ``name``; returns once it accepts connections.

    Ours run from ``tree``, a checkout of this project (default: this one),
    with ``extra`` flags after the usual ones.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    err = log.open("wb")
    if name in FLOOR:
        # The runner's own module, from this checkout whatever the tree.
        cmd = [sys.executable, "-m", "benchmarks.floor", "--host", HOST, "--port=0"]
        cmd += [*(["--uvloop"] if "uvloop" in name else [])]
        cmd += [*(["--no-ack"] if name.endswith("-noack") else [])]
        return _start_reporting(name, cmd, ROOT, log, err)
    if name in OURS and name != CLUSTER:  # the cluster: benchmarks.cluster
        adapter = "threaded" if name == "threaded" else "asyncio"
        cmd = [sys.executable, "-m", "frontends.server", "--host", HOST, "--port=0"]
        cmd += ["--db=:memory:", f"--adapter={adapter}", "--log-level=WARNING"]
        cmd += [*OUR_FLAGS, *(["--uvloop"] if name == "uvloop" else []), *extra]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), *sys.path]))
        running = _start_reporting(name, cmd, tree, log, err, env=env)
        flags = " ".join([*OUR_FLAGS, *extra])
        running.limits = f"{flags}; {running.limits}"
        return running
    if name not in PEERS:
        err.close()
        raise StartFailed(f"unknown server {name!r}")
    # The peers take their port from their command line or config file:
    # a reserved one, moved to a fresh one if lost (ports.on_free_port).
    try:
        proc, port = ports.on_free_port(
            lambda held: _start_peer(name, held, workdir, log, err)
        )
    except StartFailed:
        err.close()
        raise
    cap = BACKLOG[name] - 1
    return Running(name, "irc", port, proc, PEER_LIMITS[name], log, err, cap)


def _start_peer(
    name: str, held: ports.Reservation, workdir: Path, log: Path, err: BinaryIO
) -> tuple[subprocess.Popen[bytes], int]:
    port = held.port
    if name == "ngircd":
        conf = workdir / "ngircd.conf"
        conf.write_text(NGIRCD_CONF.format(host=HOST, port=port, dir=workdir))
        cmd = [NGIRCD, "-n", "-f", str(conf)]
    else:
        cmd = [str(miniircd_path()), "--listen", HOST, "--ports", str(port)]
        if os.geteuid() == 0:  # it refuses root unless told to stay root
            cmd += ["--setuid", "root"]
    err.seek(0)
    err.truncate()  # the log of this attempt only
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=err, stderr=err
    )
    try:
        # Neither has an identity to check: the listener must be its socket.
        ports.wait_ready(
            proc,
            port,
            lambda: ports.listens_as(proc.pid, port),
            lambda: _tail(log),
            what=name,
            wait=15,
        )
    except StartFailed:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise
    return proc, port


def _start_reporting(
    name: str,
    cmd: list[str],
    cwd: Path,
    log: Path,
    err: BinaryIO,
    *,
    env: dict[str, str] | None = None,
) -> Running:
    """Start a server that prints ``... listening on HOST:PORT`` when ready."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode(errors="replace")
    if " listening on " not in line:
        proc.wait(10)
        err.close()
        raise StartFailed(f"{name}: {line.strip() or _tail(log)}")
    port = int(line.split(" listening on ")[1].split()[0].rsplit(":", 1)[1])
    limits = f"greeting: {_greeting(port)}"
    if name in FLOOR:
        limits = f"{FLOOR_LABEL}; {line.strip()}; {limits}"
    return Running(name, "canonical", port, proc, limits, log, err)


def stop(server: Running) -> str | None:
    """Stop the server; returns a note if it had died on its own."""
    code = server.proc.poll()
    note = (
        None if code is None else f"server died (exit {code}): {_last_line(server.log)}"
    )
    if code is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    if server.proc.stdout is not None:
        server.proc.stdout.close()
    server._logfile.close()
    with contextlib.suppress(OSError):
        server.log.unlink()
    return note
