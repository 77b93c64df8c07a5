"""The benchmark runner in smoke mode: every scenario tiny, on every server.

Correctness only (nothing lost, duplicated, reordered, every idle connection
held); speed is never asserted. Peers run only where installed.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cluster, runner, servers, syscalls
from benchmarks.clients import alternate
from benchmarks.scenarios import SCENARIOS
from benchmarks.workloads import pair_nodes

SERVERS = ["asyncio", "threaded", "uvloop", "cluster", "ngircd", "miniircd"]
SERVERS += ["floor", "floor-uvloop"]


@pytest.mark.parametrize("server", SERVERS)
def test_every_scenario_is_correct(server: str, tmp_path: Path) -> None:
    why = servers.missing(server)
    if why is not None:
        pytest.skip(why)
    out = tmp_path / "smoke.json"
    assert (
        runner.main(["--smoke", "--quiet", "--servers", server, "--json", str(out)])
        == 0
    )
    records = json.loads(out.read_text())["records"]
    assert [r["scenario"] for r in records] == [s.name for s in SCENARIOS]
    for rec in records:
        if rec["status"] == "skipped":
            assert rec["error"], rec
            continue
        assert rec["status"] == "ok", (rec["scenario"], rec.get("error"))
        if rec["kind"] == "idle":
            assert rec["held"] == rec["connections"], rec
            continue
        facts = {k: rec[k] for k in ("lost", "duplicated", "reordered", "unexpected")}
        assert facts == dict.fromkeys(facts, 0), (rec["scenario"], facts)
        assert rec["delivered"] == rec["expected"] > 0, rec["scenario"]
        assert rec["server_cpu_s"] >= 0
        if server == "cluster":
            _spread_over_two_nodes(rec)


def _spread_over_two_nodes(rec: dict[str, Any]) -> None:
    """The cluster's clients were on both nodes, and messages crossed."""
    per_node = rec["clients_per_node"]
    assert len(per_node) == 2 and min(per_node) > 0, (rec["scenario"], per_node)
    assert set(rec["processes"]) == {"node0", "node1", "redis"}, rec["processes"]
    if rec["kind"] == "dm":
        # Every pair has one user on each node: every round trip crossed.
        assert rec["cross_delivered"] == rec["round_trips"], rec
    elif rec["kind"] != "idle":
        assert 0 < rec["cross_delivered"] < rec["delivered"], rec


# The generator, and the floor it measures: neither uses the code under test.
GENERATOR = ("clients.py", "generator.py", "workloads.py", "wire.py", "floor.py")


@pytest.mark.parametrize("module", GENERATOR)
def test_generator_does_not_use_the_code_under_test(module: str) -> None:
    path = Path(runner.__file__).with_name(module)
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            assert name.split(".")[0] not in ("libbatchat", "frontends"), name
            if name.startswith("benchmarks."):
                assert name.split(".")[1] + ".py" in GENERATOR, name


def test_scenarios_are_chosen_by_name_or_prefix() -> None:
    names = [s.name for s in runner.select("fanout-200,dm")]
    assert names == ["fanout-200-flat", "fanout-200-window", "dm"]
    assert len(runner.select("all")) == len(SCENARIOS)
    with pytest.raises(SystemExit, match="unknown scenario"):
        runner.select("nope")


def test_dm_pairs_are_split_over_the_nodes() -> None:
    for pairs in (1, 3, 4, 50):
        place = pair_nodes(pairs)
        assert {place(i, 1) for i in range(2 * pairs)} == {0}
        for i in range(pairs):
            assert place(i, 2) != place(pairs + i, 2), (pairs, i)
        sides = [place(i, 2) for i in range(2 * pairs)]
        assert sides.count(0) == sides.count(1) == pairs
    assert [alternate(i, 2) for i in range(4)] == [0, 1, 0, 1]


def test_the_cluster_is_skipped_without_redis_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servers, "redis_server_path", lambda: None)
    out = tmp_path / "smoke.json"
    argv = ["--smoke", "--quiet", "--servers", "cluster", "--json", str(out)]
    assert runner.main([*argv, "--scenario", "dm"]) == 0
    (rec,) = json.loads(out.read_text())["records"]
    assert rec["status"] == "skipped"
    assert "redis-server not installed" in rec["error"]


def test_the_cluster_stops_redis_and_both_nodes(tmp_path: Path) -> None:
    why = servers.missing("cluster")
    if why is not None:
        pytest.skip(why)
    group = cluster.start(tmp_path)
    procs = [group.redis.proc, *(node.proc for node in group.nodes)]
    assert len(set(group.ports)) == 2
    assert set(group.pids()) == {"node0", "node1", "redis"}
    assert group.died() is None
    assert group.stop() is None
    assert all(p.poll() is not None for p in procs)


def _smoke_records(tmp_path: Path, *argv: str) -> list[dict[str, Any]]:
    out = tmp_path / "smoke.json"
    assert runner.main(["--smoke", "--quiet", "--json", str(out), *argv]) == 0
    records: list[dict[str, Any]] = json.loads(out.read_text())["records"]
    return records


def test_the_floor_runs_dm_alone_and_loses_nothing(tmp_path: Path) -> None:
    """The measuring baseline: dm complete with and without the ack; every
    other scenario skipped, saying why."""
    records = _smoke_records(tmp_path, "--servers", "floor,floor-noack")
    for rec in records:
        if rec["kind"] != "dm":
            assert rec["status"] == "skipped", rec
            assert rec["error"] == "floor runs dm only"
            continue
        assert rec["status"] == "ok", rec.get("error")
        assert "not a server" in rec["limits"]
        facts = {k: rec[k] for k in ("lost", "duplicated", "reordered", "unexpected")}
        assert facts == dict.fromkeys(facts, 0), (rec["server"], facts)
        assert rec["delivered"] == rec["expected"] == 2 * rec["round_trips"] > 0
        assert rec["server_user_s"] >= 0 and rec["server_sys_s"] >= 0


def test_the_floor_is_run_only_when_named() -> None:
    default = runner.build_parser().parse_args([]).servers.split(",")
    assert default == list(servers.ALL)
    assert not set(default) & set(servers.FLOOR)
    with pytest.raises(SystemExit, match="unknown server"):
        runner.main(["--smoke", "--servers", "floor-nope"])


def test_system_calls_are_counted_in_the_window(tmp_path: Path) -> None:
    why = syscalls.missing()
    if why is not None:
        pytest.skip(why)
    argv = ["--servers", "floor,floor-noack", "--scenario", "dm", "--syscalls"]
    ack, noack = _smoke_records(tmp_path, *argv)
    for rec in (ack, noack):
        assert rec["status"] == "ok", rec.get("error")
        assert "syscalls_error" not in rec, rec["syscalls_error"]
        each = rec["syscalls_per_unit"]
        # Each round trip is two reads at least (the generator's two CHATs).
        assert each["recvfrom"] >= 2 and each["all"] >= each["sendto"] > 0, each
    # Without the ack the floor writes two lines a round trip, not four.
    assert noack["syscalls"]["sendto"] < ack["syscalls"]["sendto"]


def test_perf_output_is_read_by_event() -> None:
    lines = [
        f"{n},,{tp},1000,100.00,," for n, tp in enumerate(syscalls.EVENTS.values())
    ]
    counts = syscalls.parse("# started on a day\n\n" + "\n".join(lines))
    assert counts == {name: n for n, name in enumerate(syscalls.EVENTS)}
    not_counted = lines[:]
    not_counted[0] = "<not counted>,,syscalls:sys_enter_sendto,0,0.00,,"
    with pytest.raises(syscalls.Unavailable, match="sendto"):
        syscalls.parse("\n".join(not_counted))
