"""``batchat-conformance``: run the conformance suite against a server.

Exit status: 0 every case passed (or was N/A or skipped), 1 some case failed
(or the suite hit an error), 2 bad usage, unreachable server, or a server
command that would not start.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shlex
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence

from libbatchat.adapters._tls import client_context
from libbatchat.client import add_tls_flags
from libbatchat.conformance import _report, _spec, ports
from libbatchat.conformance._engine import (
    Case,
    Result,
    Target,
    Unreachable,
    all_cases,
    choose,
    parse_target,
    probe,
    run,
)
from libbatchat.conformance.dialects import Dialect, available, load

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="batchat-conformance",
        description="Check a BatChat server against docs/protocol.md, case by case.",
        epilog="exit status: 0 all passed, 1 some failed, 2 bad usage or unreachable",
    )
    p.add_argument(
        "target",
        nargs="?",
        help="HOST:PORT of a running server (HOST alone: port 50000)",
    )
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="another address of the same server (a cluster's node): each "
        "case spreads its sessions over every address; repeatable",
    )
    add_tls_flags(p, cafile_implies_tls=True)
    p.add_argument(
        "--server-cmd",
        metavar="CMD",
        help="start this server on a free port first, e.g. "
        "'batchat-server --port {port} --db :memory:'; stopped afterwards",
    )
    p.add_argument(
        "--dialect",
        default="canonical",
        help=f"wire dialect driver (shipped: {', '.join(available())}; "
        "or a dotted module path)",
    )
    p.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only cases whose id matches this glob, or spec section "
        "('9' or '9.3'); repeatable",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="skip matching cases (same patterns); repeatable",
    )
    p.add_argument("--json", metavar="FILE", help="write a JSON report")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--jobs", type=int, default=4, help="cases run at once (default 4)")
    p.add_argument(
        "--budget",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="longest a case may wait on a server clock (login timeout, "
        "flood delay); longer cases are skipped (default 30)",
    )
    p.add_argument(
        "--timeout-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="multiply every timeout (slow or distant servers)",
    )
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="how long --server-cmd may take to accept connections",
    )
    p.add_argument(
        "--list", action="store_true", help="list the selected cases and exit"
    )
    p.add_argument(
        "--coverage",
        action="store_true",
        help="list spec sections and the cases checking them, and exit",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="print only failures and the summary"
    )
    return p


@contextlib.contextmanager
def started_server(command: str, startup: float) -> Iterator[Target]:
    """Start ``command`` with ``{port}`` filled in; yield once it accepts.

    A port lost to another process before the server bound it is replaced
    by a fresh one (``ports.on_free_port``); a listener there that is not
    the command's process is not taken for it.
    """
    if "{port}" not in command:
        raise UsageError("--server-cmd must contain {port}")
    try:
        proc, port = ports.on_free_port(lambda held: _start(command, held, startup))
    except ports.StartError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield Target("127.0.0.1", port)
    finally:
        _stop(proc)


def _start(
    command: str, held: ports.Reservation, startup: float
) -> tuple[subprocess.Popen[bytes], int]:
    argv = shlex.split(command.replace("{port}", str(held.port)))
    # Any program may be given, and not every one sets SO_REUSEADDR: the
    # port is let go just before, and a loss is caught after.
    held.release()
    # A file, not a pipe: nobody reads the server's log while the suite runs,
    # and a full pipe would block the server. The server keeps its own
    # descriptor of it once this one is closed.
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        except OSError as exc:
            raise UsageError(f"cannot start {argv[0]}: {exc}") from None

        def output() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")

        try:
            ports.wait_ready(
                proc,
                held.port,
                lambda: ports.listens_as(proc.pid, held.port),
                output,
                what="the server command",
                wait=startup,
            )
        except ports.StartError:
            _stop(proc)
            raise
    return proc, held.port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def coverage_text(cases: Sequence[Case]) -> str:
    spec = _spec.sections()
    by_section: dict[str, list[str]] = {}
    for c in cases:
        by_section.setdefault(c.section, []).append(c.id)
    lines = [
        f"{s:<6} {', '.join(by_section.get(s, [])) or '-- NO CASE --'}" for s in spec
    ]
    extra = sorted(set(by_section) - set(spec), key=_spec_key)
    lines += [
        f"{s:<6} {', '.join(by_section[s])} (not a numbered paragraph)" for s in extra
    ]
    missing = _spec.uncovered(spec, by_section)
    lines.append(f"{len(spec) - len(missing)}/{len(spec)} spec sections have cases")
    return "\n".join(lines)


def _spec_key(section: str) -> tuple[int, ...]:
    return tuple(int(p) for p in section.split(".") if p.isdigit())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _main(args, parser)
    except UsageError as exc:
        print(f"batchat-conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Unreachable as exc:
        print(f"batchat-conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        dialect = load(args.dialect)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cases = choose(all_cases(), args.select, args.exclude)
    if args.coverage:
        print(coverage_text(all_cases()))
        return EXIT_OK
    if args.list:
        for c in cases:
            print(f"{c.id:<42} {c.section:<6} {c.title}")
        return EXIT_OK
    if not cases:
        raise UsageError("no case matches --select/--exclude")
    if args.jobs < 1 or args.budget < 0 or args.timeout_scale <= 0:
        raise UsageError("--jobs must be >= 1, --budget >= 0, --timeout-scale > 0")
    try:
        tls = client_context(args.tls or args.cafile is not None, args.cafile)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot use --cafile {args.cafile}: {exc}") from None
    if args.server_cmd:
        if args.target or args.also:
            raise UsageError("give HOST:PORT (and --also) or --server-cmd, not both")
        with started_server(args.server_cmd, args.startup_timeout) as target:
            return _run(args, dataclasses.replace(target, tls=tls), dialect, cases)
    if not args.target:
        parser.print_usage(sys.stderr)
        raise UsageError("give HOST:PORT or --server-cmd")
    try:
        target = parse_target(args.target, tls)
        also = tuple((t.host, t.port) for t in map(parse_target, args.also))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return _run(args, dataclasses.replace(target, also=also), dialect, cases)


def _run(
    args: argparse.Namespace, target: Target, dialect: Dialect, cases: Sequence[Case]
) -> int:
    found = probe(target, dialect, scale=args.timeout_scale)
    if not args.quiet:
        version = found.greeting.version if found.greeting else "no greeting"
        print(
            f"{target}: {version}, round trip {found.timing.rtt * 1000:.2f} ms, "
            f"reply timeout {found.timing.timeout:.1f}s"
        )
        print(_report.header())

    def show(result: Result) -> None:
        if not args.quiet or result.verdict not in ("PASS", "N/A", "SKIP"):
            print(_report.row(result), flush=True)

    start = time.monotonic()
    results = run(
        cases,
        target=target,
        dialect=dialect,
        timing=found.timing,
        budget=args.budget,
        jobs=args.jobs,
        greeting=found.greeting,
        on_result=show,
    )
    spec = _spec.sections()
    report = _report.Run(
        target=target,
        dialect=dialect.name,
        results=results,
        seconds=time.monotonic() - start,
        rtt=found.timing.rtt,
        grace=found.timing.grace,
        greeting=dict(found.greeting.limits) if found.greeting else {},
        version=found.greeting.version if found.greeting else "",
        uncovered=_spec.uncovered(spec, (c.section for c in all_cases())),
    )
    text = _report.details(report)
    if text:
        print()
        print(text)
    print()
    print(_report.summary(report))
    if args.json:
        _report.write_json(report, args.json)
    if args.junit:
        _report.write_junit(report, args.junit)
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
