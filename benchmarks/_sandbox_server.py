"""The sandbox, in its own process: ``python -m benchmarks._sandbox_server CONFIG_JSON``.

The benchmarks run the sandbox in a child process so that it never shares an event loop
(or, on a machine with two cores or more, a core) with the client being measured.

CONFIG_JSON holds: ``seed``, ``workers``, ``time_scale``, ``models`` (a list of
``{model_id, median_s, sigma, failure_rate, output_kind}``), ``faults`` (optional:
``{submit: {...}, result: {...}, ..., retry_after_s}`` with `EndpointFaults` rates), ``cpu``
(the core to pin to, or null) and ``stats_file`` (optional path).

Protocol: once serving, one "hello" JSON line ``{"base_url", "token", "pid"}`` on stdout. Then one
JSON command per line on stdin, each answered by one JSON line on stdout:

- ``{"cmd": "stats", "jobs": false}``: the stats snapshot (job records only when asked,
  since 100,000 of them make a large line);
- ``{"cmd": "reset"}``: clear the counters (job fates keep counting);
- ``{"cmd": "fresh"}``: replace the sandbox by a new one built from the same config (new
  ports, job numbering from 0: the same run times again); answered by a new hello line;
- ``{"cmd": "cpu"}``: this process's CPU seconds so far (user + system).

It serves until stdin closes or SIGTERM/SIGINT, then writes the final snapshot to
``stats_file`` when one was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from runcomfy_async.sandbox import EndpointFaults, FaultPlan, ModelSpec, Sandbox

# Every benchmark model takes one required string: the sandbox still validates each submit
# against a real schema (part of the cost a real service has), but no more than that.
BENCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"prompt": {"type": "string"}},
    "required": ["prompt"],
}


def _fault_plan(spec: dict[str, Any] | None) -> FaultPlan:
    if not spec:
        return FaultPlan()

    def rates(endpoint: str) -> EndpointFaults:
        return EndpointFaults(**spec.get(endpoint, {}))

    return FaultPlan(
        submit=rates("submit"),
        status=rates("status"),
        result=rates("result"),
        cancel=rates("cancel"),
        models=rates("models"),
        retry_after_s=float(spec.get("retry_after_s", 1.0)),
        retry_after_form="http-date" if spec.get("retry_after_form") == "http-date" else "seconds",
    )


def build_sandbox(config: dict[str, Any]) -> Sandbox:
    """A `Sandbox` from the JSON config (see the module's docstring)."""
    models = [
        ModelSpec(
            m["model_id"],
            BENCH_SCHEMA,
            output_kind=m.get("output_kind", "image"),
            median_s=float(m.get("median_s", 0.0)),
            sigma=float(m.get("sigma", 0.0)),
            failure_rate=float(m.get("failure_rate", 0.0)),
        )
        for m in config.get("models", [])
    ]
    return Sandbox(
        seed=int(config.get("seed", 0)),
        workers=int(config.get("workers", 64)),
        time_scale=float(config.get("time_scale", 1.0)),
        faults=_fault_plan(config.get("faults")),
        models=models,
    )


# aiohttp listens with a backlog of 128 and `Sandbox` takes no other: when 1,000 clients
# connect at once (the throughput benchmark at C = 1,000) the kernel drops the overflow and
# those clients retry their SYN a second later, a stall that measures the backlog, not the
# client. The sandbox in this process listens as a production server would (nginx: 511;
# the kernel caps it at net.core.somaxconn).
LISTEN_BACKLOG = 4096


def _deepen_listen_backlog() -> None:
    defaults = web.TCPSite.__init__.__kwdefaults__
    if defaults is not None and "backlog" in defaults:
        defaults["backlog"] = max(int(defaults["backlog"]), LISTEN_BACKLOG)


def _write_line(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _serve(config: dict[str, Any]) -> dict[str, Any] | None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    sandbox = build_sandbox(config)
    await sandbox.start()

    def hello() -> None:
        _write_line({"base_url": sandbox.base_url, "token": sandbox.token, "pid": os.getpid()})

    async def commands() -> None:
        nonlocal sandbox
        while True:
            line = await reader.readline()
            if not line:  # stdin closed: the parent is done with us
                stop.set()
                return
            command = json.loads(line)
            name = command.get("cmd")
            if name == "stats":
                data = sandbox.stats.snapshot().to_json_dict()
                if not command.get("jobs", False):
                    data.pop("jobs")
                # One entry per distinct input: large, and no benchmark reads it.
                data.pop("submissions_by_input", None)
                _write_line({"ok": True, "stats": data})
            elif name == "reset":
                sandbox.stats.reset()
                _write_line({"ok": True})
            elif name == "fresh":
                # A brand-new sandbox (new ports, job numbering from 0, so the same seed
                # draws the same run times again), without paying for a new interpreter.
                await sandbox.close()
                sandbox = build_sandbox(config)
                await sandbox.start()
                hello()
            elif name == "cpu":
                times = os.times()
                _write_line({"ok": True, "cpu_s": times.user + times.system})
            else:
                _write_line({"ok": False, "error": f"unknown command {name!r}"})

    try:
        hello()
        task = asyncio.create_task(commands())
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        final = sandbox.stats.snapshot().to_json_dict()
    finally:
        await sandbox.close()
    return final


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    cpu = config.get("cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        # Unpinned is still a valid run (the metadata says what was asked for).
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {int(cpu)})
    _deepen_listen_backlog()
    final = asyncio.run(_serve(config))
    stats_file = config.get("stats_file")
    if stats_file and final is not None:
        Path(stats_file).write_text(json.dumps(final), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
