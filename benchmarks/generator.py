"""The load generator: a separate process, asyncio inside, raw sockets.

Run by the runner as ``python -m benchmarks.generator``; it reads one JSON
line (the job) on stdin, and talks to the runner in JSON lines: at each
*mark* it prints ``{"mark": name}`` and waits for the runner to answer (the
runner samples the server's /proc between the two), and at the end it prints
``{"result": {...}}``. It never imports ``libbatchat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import resource
import sys
import time
from typing import Any

from benchmarks import workloads
from benchmarks.clients import Generator


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


async def _main() -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    control = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(control), sys.stdin
    )
    line = await control.readline()
    job = json.loads(line)
    gen = Generator(job, control)
    try:
        result = await workloads.run(gen)
    finally:
        gen.close_all()
    result["generator_marks"] = gen.marks
    nodes = [c.node for c in gen.clients]
    result["clients_per_node"] = [nodes.count(k) for k in range(len(gen.ports))]
    return result


def main() -> None:
    nofile = raise_nofile()
    use_uvloop = "--uvloop" in sys.argv
    if use_uvloop:
        runner: Any = importlib.import_module("uvloop").run
    else:
        runner = asyncio.run
    t0 = time.process_time()
    try:
        result = runner(_main())
    except Exception as exc:  # reported to the runner, which prints it
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["generator_cpu_s"] = time.process_time() - t0
    result["generator_nofile"] = nofile
    result["generator_loop"] = "uvloop" if use_uvloop else "asyncio"
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    main()
