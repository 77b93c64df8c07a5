"""The two-node figures beside the one-node ones of the same scenario and run.

For each scenario run on ``cluster`` (two asyncio nodes on one Redis): the
latency of the deliveries that crossed nodes, the CPU per delivery (per round
trip for ``dm``) of each node and of Redis, their sum, and that sum over the
one-node asyncio server's figure from the same run; ngircd for reference.
"""

from __future__ import annotations

from benchmarks.report import Record, _errs, _grid, _num, short_error
from benchmarks.servers import CLUSTER

ONE_NODE = "asyncio"
SHOWN = (ONE_NODE, CLUSTER, "ngircd")
HEAD = [
    "server",
    "p50 ms",
    "p99 ms",
    "max ms",
    "cross p50",
    "cross p99",
    "cross max",
    "lost/dup/reord",
    "node0 us",
    "node1 us",
    "Redis us",
    "all us",
    "x one node",
]


def _cost(rec: Record) -> float | None:
    key = "cpu_per_round_trip_us" if rec["kind"] == "dm" else "cpu_per_delivery_us"
    value = rec.get(key)
    return value if isinstance(value, int | float) else None


def _row(rec: Record, one: Record | None) -> list[str]:
    label = "cluster (2 nodes)" if rec["server"] == CLUSTER else rec["server"]
    if rec["status"] != "ok":
        return [label, f"{rec['status']}: {short_error(rec)}", *["-"] * 11]
    each = rec.get("cpu_by_process_us", {})
    cost, base = _cost(rec), None if one is None else _cost(one)
    times = "-" if cost is None or not base else f"{cost / base:.2f}"
    return [
        label,
        *(_num(rec.get(k)) for k in ("p50_ms", "p99_ms", "max_ms")),
        *(_num(rec.get(f"cross_{k}")) for k in ("p50_ms", "p99_ms", "max_ms")),
        _errs(rec),
        *(_num(each.get(k)) for k in ("node0", "node1", "redis")),
        _num(cost),
        times,
    ]


def _batches(records: list[Record]) -> list[tuple[str, list[Record]]]:
    """Per scenario with a cluster record: the records shown, in order."""
    out = []
    for name in dict.fromkeys(r["scenario"] for r in records):
        by = {r["server"]: r for r in records if r["scenario"] == name}
        if CLUSTER in by and by[CLUSTER]["kind"] in ("fanout", "dm", "storm"):
            out.append((name, [by[s] for s in SHOWN if s in by]))
    return out


def _rows(batch: list[Record]) -> list[list[str]]:
    one = next((r for r in batch if r["server"] == ONE_NODE), None)
    ok = one if one is not None and one["status"] == "ok" else None
    return [_row(rec, ok) for rec in batch]


NOTE = (
    "(cross: deliveries whose sender is on the other node; for dm every one, "
    "and the latency is the round trip. CPU in us per delivery, per round trip "
    "for dm: each node's, Redis's, and all of them; x one node = all / the "
    "asyncio server's alone)"
)


def nodes_table(records: list[Record]) -> str:
    """The two-node comparison of one scenario's records, or '' if none."""
    parts = []
    for name, batch in _batches(records):
        parts.append(f"-- {name}: two nodes beside one\n{_grid([HEAD, *_rows(batch)])}")
    return "\n".join([*parts, NOTE]) if parts else ""


def nodes_markdown(records: list[Record]) -> str:
    """Every scenario's two-node comparison as one Markdown table."""
    lines = [
        "| scenario | " + " | ".join(HEAD) + " |",
        "|---|---|" + "---:|" * (len(HEAD) - 1),
    ]
    for name, batch in _batches(records):
        for row in _rows(batch):
            cells = [c.replace("|", "/") for c in row]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""
