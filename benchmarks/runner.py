"""``python -m benchmarks``: every scenario on every server, a table and JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import cluster, cluster_report, procfs, report, servers, syscalls
from benchmarks.scenarios import BY_NAME, SCENARIOS, Scenario

# The generator gives up by itself (setup and stall timeouts); this is the
# last resort against a generator that hangs anyway.
GENERATOR_LIMIT = 900.0
FD_MARGIN = 200


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Benchmark batchat-server (asyncio, threaded, uvloop) against ngircd "
            "and miniircd on loopback, driven by a separate load generator."
        ),
    )
    p.add_argument(
        "--scenario",
        default="all",
        help="comma-separated names or prefixes (fanout, fanout-200, dm, idle, "
        "login-storm); default all. --list shows them",
    )
    p.add_argument(
        "--servers",
        default=",".join(servers.ALL),
        help=f"comma-separated, from {','.join(servers.ALL)} (default all; "
        "ones not installed are skipped with the reason); also "
        f"{','.join(servers.FLOOR)}: benchmarks.floor, a measuring baseline "
        "for dm (not a server), only when named",
    )
    p.add_argument(
        "--syscalls",
        action="store_true",
        help="count the server's system calls in each window with perf stat "
        "(root, or kernel.perf_event_paranoid=-1); CPU figures run a little high",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="fewer messages per sender, 300 storm logins, no idle-10000 (~3 min)",
    )
    size.add_argument(
        "--smoke",
        action="store_true",
        help="every scenario tiny: checks correctness only (what the tests run)",
    )
    p.add_argument("--json", metavar="PATH", help="write every record as JSON here")
    p.add_argument(
        "--concurrency",
        type=int,
        default=100,
        help="logins in flight at once from the generator (default 100)",
    )
    p.add_argument(
        "--generator-loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop of the load generator (default: uvloop if installed)",
    )
    p.add_argument(
        "--server-tree",
        metavar="DIR",
        default=str(servers.ROOT),
        help="run batchat-server from this checkout (default: this one), "
        "to measure another branch with this runner",
    )
    p.add_argument(
        "--from-json",
        metavar="PATH",
        help="print the tables of a run saved with --json, and exit",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def select(spec: str) -> list[Scenario]:
    if spec == "all":
        return list(SCENARIOS)
    chosen: list[Scenario] = []
    for word in (w.strip() for w in spec.split(",") if w.strip()):
        hits = [s for s in SCENARIOS if s.name == word or s.name.startswith(word + "-")]
        if not hits:
            raise SystemExit(f"unknown scenario {word!r}; known: {', '.join(BY_NAME)}")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def raise_nofile() -> tuple[int, int]:
    """Soft limit up to the hard one (server and generator inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def machine(tree: Path) -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*words: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(tree), *words],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    # The last commit that changed what is measured (the benchmarks' own
    # commits do not change the servers).
    server_commit = git("log", "-1", "--format=%h", "--", "libbatchat", "frontends")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "tree": str(tree),
        "commit": commit,
        "server_commit": server_commit,
        "loadavg_start": os.getloadavg(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    }


def _generator_cmd(loop: str) -> list[str]:
    cmd = [sys.executable, "-m", "benchmarks.generator"]
    if loop == "uvloop" or (loop == "auto" and servers.missing("uvloop") is None):
        cmd.append("--uvloop")
    return cmd


Server = servers.Running | cluster.Nodes


def _start(name: str, workdir: Path, tree: Path) -> Server:
    if name == servers.CLUSTER:
        return cluster.start(workdir, tree)
    return servers.start(name, workdir, tree)


def _drive(
    server: Server,
    job: dict[str, Any],
    cmd: list[str],
    workdir: Path,
    count_syscalls: bool = False,
) -> dict[str, Any]:
    """Run one generator against ``server``, sampling /proc at each mark
    (and counting its system calls between them, if asked)."""
    errlog = workdir / "generator.log"
    pids = server.pids()
    counter = None
    if count_syscalls:
        counter = syscalls.Counter(list(pids.values()), workdir / "perf")
    with errlog.open("wb") as err:
        gen = subprocess.Popen(
            cmd,
            cwd=servers.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    assert gen.stdin is not None and gen.stdout is not None
    watchdog = threading.Timer(GENERATOR_LIMIT, gen.kill)
    watchdog.start()
    samples: dict[str, dict[str, procfs.Sample | None]] = {}
    result: dict[str, Any] = {"error": "generator ended without a result"}
    counted: dict[str, Any] = {}
    try:
        gen.stdin.write(json.dumps(job).encode() + b"\n")
        gen.stdin.flush()
        for line in gen.stdout:
            msg = json.loads(line)
            if "mark" in msg:
                if counter is not None and msg["mark"] == "end":
                    counter.disable()
                samples[msg["mark"]] = {
                    label: procfs.sample(pid) for label, pid in pids.items()
                } | {"generator": procfs.sample(gen.pid)}
                if counter is not None and msg["mark"] == "start":
                    counter.enable()
                gen.stdin.write(b"ok\n")
                gen.stdin.flush()
            elif "result" in msg:
                result = msg["result"]
                break
        gen.stdin.close()
        gen.wait(60)
    finally:
        watchdog.cancel()
        if gen.poll() is None:
            gen.kill()
            gen.wait()
        gen.stdout.close()
        if counter is not None:
            try:
                counted["syscalls"] = counter.stop()
            except syscalls.Unavailable as exc:
                counted["syscalls_error"] = str(exc)
    result |= counted
    if "error" in result and gen.returncode not in (0, None):
        result["error"] += " / " + errlog.read_text(errors="replace")[-400:].strip()
    start, end = samples.get("start", {}), samples.get("end", {})
    procs = {}
    for label in pids:
        s0, s1 = start.get(label), end.get(label)
        if s0 and s1:
            procs[label] = {
                "cpu_s": s1.cpu_s - s0.cpu_s,
                "user_s": s1.user_s - s0.user_s,
                "sys_s": s1.sys_s - s0.sys_s,
                "rss_start_kib": s0.rss_kib,
                "rss_end_kib": s1.rss_kib,
                "threads": s1.threads,
            }
    if len(procs) == len(pids):
        # The server's cost is the sum over its processes (for the cluster:
        # both nodes and Redis), each one's kept too.
        total = {
            key: sum(p[key] for p in procs.values())
            for key in (
                "cpu_s",
                "user_s",
                "sys_s",
                "rss_start_kib",
                "rss_end_kib",
                "threads",
            )
        }
        result["server_cpu_s"] = total["cpu_s"]
        result["server_user_s"] = total["user_s"]
        result["server_sys_s"] = total["sys_s"]
        result["server_rss_start_kib"] = total["rss_start_kib"]
        result["server_rss_end_kib"] = total["rss_end_kib"]
        result["server_threads"] = total["threads"]
        if len(procs) > 1:
            result["processes"] = procs
    g0, g1 = start.get("generator"), end.get("generator")
    if g0 and g1:
        result["generator_cpu_window_s"] = g1.cpu_s - g0.cpu_s
    return result


def run_one(
    scenario: Scenario,
    size: str,
    name: str,
    args: argparse.Namespace,
    workdir: Path,
    *,
    shared: Server | None = None,
    tag: str = "",
) -> dict[str, Any]:
    """One scenario on one server: a fresh server, or ``shared`` (smoke mode)."""
    params = scenario.params(size)
    rec: dict[str, Any] = {
        "scenario": scenario.name,
        "kind": scenario.kind,
        "what": scenario.what,
        "server": name,
        "params": params,
    }
    if size != "full" and params is not None:
        # ``what`` describes the full size; say what this run did instead.
        sizes = {k: v for k, v in params.items() if k in scenario.full}
        rec["what"] += (
            f" [{size}: " + ", ".join(f"{k}={v}" for k, v in sizes.items()) + "]"
        )
    why = servers.missing(name) or scenario.skip.get(name)
    if name in servers.FLOOR and scenario.kind != "dm":
        why = "floor runs dm only"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if why is None and scenario.needs_fds + FD_MARGIN > hard:
        why = f"ulimit -n hard limit {hard} is below {scenario.needs_fds + FD_MARGIN}"
    if why is not None:
        return rec | {"status": "skipped", "error": why}
    t0 = time.monotonic()
    if shared is not None:
        server = shared
    else:
        try:
            server = _start(name, workdir, Path(args.server_tree))
        except servers.StartFailed as exc:
            return rec | {"status": "error", "error": f"start failed: {exc}"}
    rec["limits"] = server.limits
    try:
        job = {
            "host": servers.HOST,
            "ports": server.ports,
            "dialect": server.dialect,
            "kind": scenario.kind,
            "params": params,
            "concurrency": min(args.concurrency, server.max_in_flight or 1 << 30),
            "tag": tag,
        }
        cmd = _generator_cmd(args.generator_loop)
        rec |= _drive(server, job, cmd, workdir, args.syscalls)
    finally:
        died = server.stop() if shared is None else server.died()
    rec["wall_s"] = time.monotonic() - t0
    if died:
        rec["server_died"] = died
    rec["status"] = "error" if "error" in rec else "ok"
    if died and rec["status"] == "ok" and scenario.kind != "idle":
        rec["status"], rec["error"] = "error", died
    report.derive(rec)
    return rec


def _smoke(
    chosen: list[Scenario],
    names: list[str],
    args: argparse.Namespace,
    tmp: Path,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Smoke mode: one server per name for every scenario (start-up dominates
    tiny scenarios), each scenario under its own names."""
    records: list[dict[str, Any]] = []
    for name in names:
        shared = None
        if servers.missing(name) is None:
            try:
                shared = _start(name, tmp / name, Path(args.server_tree))
            except servers.StartFailed as exc:
                records += [
                    {
                        "scenario": s.name,
                        "kind": s.kind,
                        "what": s.what,
                        "server": name,
                        "status": "error",
                        "error": f"start failed: {exc}",
                    }
                    for s in chosen
                ]
                continue
        try:
            for k, scenario in enumerate(chosen):
                rec = run_one(
                    scenario, "smoke", name, args, tmp, shared=shared, tag=f"t{k}"
                )
                say(f"  {scenario.name} on {name}: {rec['status']}")
                records.append(rec)
        finally:
            if shared is not None:
                died = shared.stop()
                if died:
                    records[-1].setdefault("server_died", died)
                    records[-1]["status"] = "error"
                    records[-1].setdefault("error", died)
    for scenario in chosen:
        print_scenario([r for r in records if r["scenario"] == scenario.name])
    return records


def print_scenario(batch: list[dict[str, Any]]) -> None:
    """One scenario's table, and its two-node comparison if it ran on both."""
    parts = [report.scenario_table(batch), cluster_report.nodes_table(batch)]
    parts.append(syscalls.table(batch))
    print("\n".join(p for p in parts if p) + "\n", flush=True)


def print_summary(records: list[dict[str, Any]], limits: dict[str, str]) -> None:
    print("Limits in force:")
    for name, text in limits.items():
        print(f"  {name}: {text}")
    print("\nSummary (value, then our figure / the peer's):\n")
    print(report.summary_markdown(records))
    print("\nTargets of issue 8 (asyncio unless named; ngircd in the same run):\n")
    print(report.targets_markdown(records))
    nodes = cluster_report.nodes_markdown(records)
    if nodes:
        print("\nTwo nodes on one Redis beside one node (same run):\n")
        print(nodes)


def reprint(path: str) -> int:
    """The tables of a run saved with --json, without running anything."""
    saved = json.loads(Path(path).read_text())
    records = saved["records"]
    for rec in records:
        report.derive(rec)
    for name in dict.fromkeys(r["scenario"] for r in records):
        print_scenario([r for r in records if r["scenario"] == name])
    print_summary(records, saved.get("limits", {}))
    info = saved.get("machine", {})
    print(f"\n{saved.get('size')} run of commit {info.get('commit')}: {info}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.from_json:
        return reprint(args.from_json)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:20} {s.what}")
        return 0
    chosen = select(args.scenario)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in names if n not in servers.KNOWN]
    if unknown:
        raise SystemExit(f"unknown server(s) {unknown}; known: {servers.KNOWN}")
    if args.syscalls:
        why = syscalls.missing()
        if why is not None:
            raise SystemExit(f"--syscalls: {why}")
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    soft, hard = raise_nofile()
    info = machine(Path(args.server_tree))

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    say(f"open files: soft {soft}, hard {hard}; {info['cores']} cores, {info['cpu']}")
    records: list[dict[str, Any]] = []
    started = time.monotonic()
    chosen = [s for s in chosen if s.params(size) is not None]
    with tempfile.TemporaryDirectory(prefix="batchat-bench-") as tmp:
        if size == "smoke":
            records = _smoke(chosen, names, args, Path(tmp), say)
        for scenario in [] if size == "smoke" else chosen:
            batch = []
            for name in names:
                rec = run_one(scenario, size, name, args, Path(tmp) / name)
                say(
                    f"  {scenario.name} on {name}: {rec['status']}"
                    f" ({rec.get('wall_s', 0):.1f} s)"
                )
                batch.append(rec)
            records += batch
            print_scenario(batch)
    limits = {r["server"]: r["limits"] for r in records if "limits" in r}
    print_summary(records, limits)
    info["loadavg_end"] = os.getloadavg()
    info["run_s"] = time.monotonic() - started
    print(
        f"\n{size} run, {info['run_s']:.0f} s, commit {info['commit']} "
        f"(server code as of {info['server_commit']}), "
        f"load average {info['loadavg_start'][0]:.2f} -> {info['loadavg_end'][0]:.2f}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"size": size, "machine": info, "limits": limits, "records": records},
                indent=1,
            )
        )
    return 0
