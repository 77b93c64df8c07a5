"""The benchmark runner in smoke mode: every scenario tiny, on every server.

Correctness only (nothing lost, duplicated, reordered, every idle connection
held); speed is never asserted. Peers run only where installed.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from benchmarks import runner, servers
from benchmarks.scenarios import SCENARIOS

SERVERS = ["asyncio", "threaded", "uvloop", "ngircd", "miniircd"]


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


GENERATOR = ("clients.py", "generator.py", "workloads.py", "wire.py")


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
