"""Derived figures, the printed tables and ratios to the peers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.servers import FLOOR, FLOOR_LABEL, OURS, PEERS

Record = dict[str, Any]
# Shown as ratios to the peers: our servers, and the floor (benchmarks.floor).
MEASURED = OURS + FLOOR


def derive(rec: Record) -> None:
    """Add the per-delivery and per-connection figures to a finished record."""
    cpu = rec.get("server_cpu_s")
    if cpu is None:
        return
    kind = rec["kind"]
    if kind in ("fanout", "storm", "dm") and rec.get("delivered"):
        rec["cpu_per_delivery_us"] = cpu / rec["delivered"] * 1e6
    if kind == "dm" and rec.get("round_trips"):
        rec["cpu_per_round_trip_us"] = cpu / rec["round_trips"] * 1e6
    if kind == "idle":
        complete = rec.get("held") == rec.get("connections")
        # Compared only when every connection made it: a server that gave up
        # early (or crashed) would otherwise look fast.
        rec["login_all_s"] = rec.get("login_s") if complete else None
        rss = rec["server_rss_end_kib"] - rec["server_rss_start_kib"]
        rec["kib_per_connection"] = rss / rec["held"] if rec.get("held") else None
        if rec.get("logged_in"):
            rec["cpu_per_login_us"] = cpu / rec["logged_in"] * 1e6
    unit = rec.get("round_trips") if kind == "dm" else rec.get("delivered")
    if kind == "dm" and unit and rec.get("server_user_s") is not None:
        rec["user_per_round_trip_us"] = rec["server_user_s"] / unit * 1e6
        rec["sys_per_round_trip_us"] = rec["server_sys_s"] / unit * 1e6
    if rec.get("syscalls") and unit:
        # From perf stat (--syscalls): per round trip for dm, else per delivery.
        rec["syscalls_per_unit"] = {k: v / unit for k, v in rec["syscalls"].items()}
    if rec.get("processes") and unit:
        # Several processes (the cluster's nodes and Redis): each one's cost
        # per delivery (per round trip for dm), and the nodes' together.
        each = {k: p["cpu_s"] / unit * 1e6 for k, p in rec["processes"].items()}
        rec["cpu_by_process_us"] = each
        rec["nodes_cpu_us"] = sum(v for k, v in each.items() if k != "redis")
    marks = rec.get("generator_marks", {})
    if "start" in marks and "end" in marks and rec.get("generator_cpu_window_s"):
        wall = max(marks["end"] - marks["start"], 1e-9)
        rec["generator_cpu_pct"] = rec["generator_cpu_window_s"] / wall * 100


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) < 10 and digits == 1:
            return f"{value:.2f}"
        return f"{value:.{digits}f}"
    return f"{value:,}"


def _errs(rec: Record) -> str:
    return f"{rec.get('lost', 0)}/{rec.get('duplicated', 0)}/{rec.get('reordered', 0)}"


# Per kind: the columns (header, how to show), and the figure compared with
# the peers (key, True if lower is better).
Column = tuple[str, Callable[[Record], str]]


def _key(key: str) -> Callable[[Record], str]:
    return lambda rec: _num(rec.get(key))


COLUMNS: dict[str, list[Column]] = {
    "fanout": [
        ("deliv/s", _key("deliveries_per_s")),
        ("p50 ms", _key("p50_ms")),
        ("p99 ms", _key("p99_ms")),
        ("max ms", _key("max_ms")),
        ("lost/dup/reord", _errs),
        ("CPU us/deliv", _key("cpu_per_delivery_us")),
        ("gen CPU%", _key("generator_cpu_pct")),
        ("login s", _key("login_s")),
    ],
    "dm": [
        ("round trips/s", _key("round_trips_per_s")),
        ("RTT p50 ms", _key("p50_ms")),
        ("RTT p99 ms", _key("p99_ms")),
        ("RTT max ms", _key("max_ms")),
        ("lost/dup/reord", _errs),
        ("CPU us/RT", _key("cpu_per_round_trip_us")),
        ("user us/RT", _key("user_per_round_trip_us")),
        ("sys us/RT", _key("sys_per_round_trip_us")),
        ("gen CPU%", _key("generator_cpu_pct")),
    ],
    "idle": [
        ("logged in", _key("logged_in")),
        ("held", lambda r: f"{_num(r.get('held'))} of {_num(r.get('connections'))}"),
        ("login s", _key("login_s")),
        ("login p99 ms", lambda r: _num(r.get("login", {}).get("p99_ms"))),
        ("KiB/conn", _key("kib_per_connection")),
        ("CPU us/login", _key("cpu_per_login_us")),
    ],
    "storm": [
        ("chat p50 ms", _key("p50_ms")),
        ("chat p99 ms", _key("p99_ms")),
        ("chat max ms", _key("max_ms")),
        ("lost/dup/reord", _errs),
        ("storm logins", _key("storm_logins")),
        ("storm s", _key("storm_s")),
        ("CPU us/deliv", _key("cpu_per_delivery_us")),
    ],
}
COMPARED: dict[str, tuple[str, bool]] = {
    "fanout": ("cpu_per_delivery_us", True),
    "dm": ("round_trips_per_s", False),
    "idle": ("kib_per_connection", True),
    "storm": ("p99_ms", True),
}


def ratio(ours: Record, peer: Record | None, key: str) -> float | None:
    if peer is None or peer.get("status") != "ok" or ours.get("status") != "ok":
        return None
    a, b = ours.get(key), peer.get(key)
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    return float(a) / float(b)


def _grid(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def scenario_table(records: list[Record]) -> str:
    """One scenario, one row per server, ratios of the compared figure."""
    first = records[0]
    kind = first["kind"]
    key, lower = COMPARED[kind]
    peers = {r["server"]: r for r in records if r["server"] in PEERS}
    head = ["server", *(h for h, _ in COLUMNS[kind])]
    head += [f"x {p}" for p in PEERS if p in peers]
    rows = [head]
    notes = []
    for rec in records:
        if rec["status"] != "ok":
            rows.append([rec["server"], rec["status"], *(["-"] * (len(head) - 2))])
            notes.append(f"  {rec['server']} {rec['status']}: {rec.get('error', '')}")
            continue
        if rec.get("server_died"):
            notes.append(f"  {rec['server']}: {rec['server_died']}")
        row = [rec["server"], *(show(rec) for _, show in COLUMNS[kind])]
        for p in PEERS:
            if p in peers:
                r = ratio(rec, peers[p], key) if rec["server"] in MEASURED else None
                row.append("-" if r is None else f"{r:.2f}")
        rows.append(row)
    note = (
        f"(x peer = our {key} / the peer's: {'lower' if lower else 'higher'} is better)"
    )
    if any(r["server"] in FLOOR and r["status"] != "skipped" for r in records):
        note += f"\n(floor*: benchmarks.floor, {FLOOR_LABEL}; -noack: no CHAT-215)"
    body = "\n".join([_grid(rows), note, *(n[:300] for n in notes)])
    return f"== {first['scenario']}: {first['what']}\n{body}"


SUMMARY: list[tuple[str, str, str]] = [
    # (scenario, key, row label)
    *(
        (
            f"fanout-{n}-{m}",
            "cpu_per_delivery_us",
            f"fanout {n}, {how}: CPU us/delivery",
        )
        for n in (50, 200, 1000)
        for m, how in (("window", "one outstanding"), ("flat", "flat out"))
    ),
    *(
        (f"fanout-{n}-{m}", "p99_ms", f"fanout {n}, {how}: p99 ms")
        for n in (50, 200, 1000)
        for m, how in (("window", "one outstanding"), ("flat", "flat out"))
    ),
    ("dm", "round_trips_per_s", "DM ping-pong 50x200: round trips/s"),
    ("dm", "cpu_per_round_trip_us", "server CPU us per DM round trip"),
    ("idle-1000", "kib_per_connection", "idle 1,000: KiB per connection"),
    ("idle-1000", "login_all_s", "idle 1,000: s to connect and log in all"),
    ("idle-10000", "held", "idle 10,000: connections held"),
    ("idle-10000", "kib_per_connection", "idle 10,000: KiB per connection"),
    ("idle-10000", "login_all_s", "idle 10,000: s to connect and log in all"),
    ("login-storm", "p99_ms", "login storm: chatters' p99 ms"),
    ("login-storm", "storm_s", "login storm: s for the logins"),
]


def summary_markdown(records: list[Record]) -> str:
    """The headline figures as a Markdown table, ours with ratios to peers."""
    by = {(r["scenario"], r["server"]): r for r in records}
    servers = [s for s in (*MEASURED, *PEERS) if any(k[1] == s for k in by)]
    lines = [
        "| | " + " | ".join(servers) + " |",
        "|---|" + "---:|" * len(servers),
    ]
    for scenario, key, label in SUMMARY:
        if not any((scenario, s) in by for s in servers):
            continue
        cells = [_cell(by, scenario, s, key) for s in servers]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def short_error(rec: Record) -> str:
    """The error without its detail in parentheses, for a table cell."""
    text = str(rec.get("error", ""))
    if text.startswith("server died"):
        return text[:90]
    return text.split(" (", 1)[0][:60]


def _cell(
    by: dict[tuple[str, str], Record], scenario: str, server: str, key: str
) -> str:
    rec = by.get((scenario, server))
    if rec is None or (server in FLOOR and rec["status"] == "skipped"):
        return ""
    if rec["status"] != "ok":
        return f"{rec['status']}: {short_error(rec)}".replace("|", "/")
    value = rec.get(key)
    text = _num(value)
    if key == "held" and rec.get("connections"):
        text = f"{_num(value)} of {_num(rec['connections'])}"
        if rec.get("server_died"):
            text += f", then died ({rec.get('logged_in', 0):,} logged in)"
    if key == "login_all_s" and value is None:
        text = f"not reached: {_num(rec.get('held'))} in {_num(rec.get('login_s'))} s"
    if rec.get("lost") or rec.get("duplicated") or rec.get("reordered"):
        text += f" (lost/dup/reord {_errs(rec)})"
    if server in MEASURED and key != "held":
        ratios = []
        for peer in PEERS:
            r = ratio(rec, by.get((scenario, peer)), key)
            if r is not None:
                ratios.append(f"{r:.2f}x {peer[:2]}")
        if ratios:
            text += " (" + ", ".join(ratios) + ")"
    return text


def _get(by: dict[tuple[str, str], Record], scenario: str, server: str) -> Record:
    rec = by.get((scenario, server))
    return rec if rec is not None and rec.get("status") == "ok" else {}


def targets(records: list[Record]) -> list[tuple[str, str, str]]:
    """Issue 8's targets: (target, what this run measured, met / not met / n/a)."""
    by = {(r["scenario"], r["server"]): r for r in records}
    out: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else "met" if ok else "NOT met"

    def compare(
        label: str, scenario: str, key: str, lower: bool, server: str = "asyncio"
    ) -> None:
        ours, peer = _get(by, scenario, server), _get(by, scenario, "ngircd")
        a, b = ours.get(key), peer.get(key)
        if a is None and ours.get("held") is not None:
            # Ours did not get every connection in: not met, whatever the peer.
            got = f"not reached: {_num(ours['held'])} in {_num(ours['login_s'])} s"
            out.append((label, f"{server} {got}, ngircd {_num(b)}", verdict(False)))
            return
        if a is None or b is None:
            shown = short_error(by.get((scenario, server), {})) or "not run"
            out.append(
                (label, f"{server} {_num(a)}, ngircd {_num(b)} ({shown})", "n/a")
            )
            return
        ok = a <= b if lower else a >= b
        out.append((label, f"{server} {_num(a)}, ngircd {_num(b)}", verdict(ok)))

    for n in (50, 200, 1000):
        for mode in ("flat", "window"):
            name = f"fanout-{n}-{mode}"
            compare(
                f"{name}: CPU/delivery <= ngircd's", name, "cpu_per_delivery_us", True
            )
            compare(f"{name}: p99 <= ngircd's", name, "p99_ms", True)
    compare("dm: round trips/s >= ngircd's", "dm", "round_trips_per_s", False)
    idle = _get(by, "idle-10000", "asyncio")
    if idle:
        held, kib = idle.get("held", 0), idle.get("kib_per_connection")
        ok = held == idle["connections"] and kib is not None and kib <= 3
        out.append(
            (
                "idle-10000: all held at <= 3 KiB each",
                f"{held:,} held, {_num(kib)} KiB each",
                verdict(ok),
            )
        )
    compare(
        "idle-10000: logged in within ngircd's time", "idle-10000", "login_all_s", True
    )
    for n in (50, 200, 1000):
        for mode in ("flat", "window"):
            name = f"fanout-{n}-{mode}"
            if (name, "threaded") not in by:
                continue
            a = _get(by, name, "threaded").get("cpu_per_delivery_us")
            b = _get(by, name, "asyncio").get("cpu_per_delivery_us")
            # The threaded server failing the scenario fails the target.
            ok = False if a is None else None if b is None else a <= 3 * b
            why = f" ({short_error(by[name, 'threaded'])})" if a is None else ""
            out.append(
                (
                    f"{name}: threaded CPU/delivery <= 3x asyncio's",
                    f"threaded {_num(a)}, asyncio {_num(b)}{why}",
                    verdict(ok),
                )
            )
    thr = by.get(("idle-1000", "threaded"))
    if thr is not None:
        ok = thr.get("held") == thr.get("connections")
        out.append(
            (
                "idle-1000: threaded holds 1,000",
                f"{_num(thr.get('held'))} held in {_num(thr.get('login_s'))} s",
                verdict(ok),
            )
        )
    joined = by.get(("fanout-1000-flat", "threaded"))
    if joined is not None:
        ok = joined.get("status") == "ok"
        shown = "joined" if ok else short_error(joined)
        out.append(
            ("fanout-1000: threaded joins 1,000 without timeouts", shown, verdict(ok))
        )
    return out


def targets_markdown(records: list[Record]) -> str:
    rows = ["| target (issue 8) | measured | |", "|---|---|---|"]
    rows += [f"| {t} | {m} | {v} |" for t, m, v in targets(records)]
    return "\n".join(rows)
