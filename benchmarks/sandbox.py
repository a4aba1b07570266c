"""5. sandbox: how many requests per second the sandbox itself serves.

Every other figure is read against this one: a client cannot go faster than the server it
talks to, and a benchmark that drives the sandbox near this rate measures the sandbox too.

A separate loader process (`_loader`, a bare asyncio HTTP/1.1 client, far cheaper per
request than any client library) keeps 64 keep-alive connections busy with submit + result
pairs of zero-time jobs, faults off. The sandbox is pinned to one core and the loader to the
other; the sandbox's own CPU use shows whether it was the bottleneck (near 100 % of its
core) or the loader was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from ._harness import (
    CLIENT_CPU,
    REPO_ROOT,
    ZERO_MODEL,
    SandboxProcess,
    goal,
    model,
    requests_in,
    sandbox_cpu,
    table,
)

CONNECTIONS = 64


def _load(sb: SandboxProcess, pairs: int) -> dict[str, Any]:
    config = {
        "base_url": sb.base_url,
        "token": sb.token,
        "model_id": ZERO_MODEL,
        "pairs": pairs,
        "connections": CONNECTIONS,
        "cpu": CLIENT_CPU if sandbox_cpu() is not None else None,
    }
    before = sb.stats()
    sandbox_cpu0 = sb.cpu_seconds()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._loader", json.dumps(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    sandbox_cpu1 = sb.cpu_seconds()
    after = sb.stats()
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = result["seconds"]
    served = requests_in(before, after)["total"]
    result.update(
        served=served,
        requests_per_s=served / seconds,
        pairs_per_s=result["pairs"] / seconds,
        # The stats and cpu commands themselves fall outside the loader's window but are
        # tiny next to thousands of requests.
        sandbox_cpu_s=sandbox_cpu1 - sandbox_cpu0,
        sandbox_core_busy=(sandbox_cpu1 - sandbox_cpu0) / seconds,
        loader_core_busy=result["cpu_s"] / seconds,
        sandbox_cpu_us_per_request=1e6 * (sandbox_cpu1 - sandbox_cpu0) / max(served, 1),
    )
    return result


def run(quick: bool) -> dict[str, Any]:
    pairs = 3_000 if quick else 30_000
    repeats = 2 if quick else 3
    with SandboxProcess(models=[model(ZERO_MODEL)], workers=64) as sb:
        _load(sb, 500)  # warm-up: connections, code paths, allocator
        runs = [_load(sb, pairs) for _ in range(repeats)]
    # A shared machine only ever slows a run down: the best run is the least disturbed.
    best = max(runs, key=lambda r: r["requests_per_s"])
    rows = [
        [
            f"run {i + 1}" + (" (best)" if r is best else ""),
            r["pairs"],
            r["requests_per_s"],
            r["pairs_per_s"],
            r["sandbox_core_busy"] * 100,
            r["sandbox_cpu_us_per_request"],
            r["loader_core_busy"] * 100,
            r["failures"],
        ]
        for i, r in enumerate(runs)
    ]
    sandbox_bound = best["sandbox_core_busy"] >= 0.85
    # What the sandbox would serve with its core to itself: its CPU cost per request is
    # steadier on a shared machine than its rate, which others' load can halve.
    one_core = 1e6 / min(r["sandbox_cpu_us_per_request"] for r in runs)
    notes = [
        f"{CONNECTIONS} keep-alive connections from a separate loader process; zero-time jobs "
        "(a job is over when its submit is answered), faults off; best of "
        f"{repeats} runs after a warm-up.",
        "The sandbox was the bottleneck (its core near fully busy): the figure is its capacity."
        if sandbox_bound
        else "The sandbox's core was not fully busy: the loader or the shared machine limited "
        "the run, so the figure is a lower bound of the sandbox's capacity.",
    ]
    return {
        "figures": {
            "connections": CONNECTIONS,
            "pairs_per_run": pairs,
            "requests_per_s": best["requests_per_s"],
            "pairs_per_s": best["pairs_per_s"],
            "sandbox_core_busy": best["sandbox_core_busy"],
            "sandbox_cpu_us_per_request": best["sandbox_cpu_us_per_request"],
            "loader_core_busy": best["loader_core_busy"],
            "sandbox_bound": sandbox_bound,
            "one_core_capacity_requests_per_s": one_core,
            "runs": runs,
        },
        "tables": [
            table(
                "sandbox capacity",
                ["figure", "value"],
                [
                    ["requests/s served (best run)", best["requests_per_s"]],
                    ["submit + result pairs/s (best run)", best["pairs_per_s"]],
                    ["sandbox CPU per request (µs, lowest run)",
                     min(r["sandbox_cpu_us_per_request"] for r in runs)],
                    ["requests/s with a core to itself (1e6 ÷ CPU µs per request)", one_core],
                ],
            ),
            table(
                "sandbox capacity: every run (submit + result pairs from a separate loader "
                "process)",
                [
                    "run",
                    "pairs",
                    "requests/s",
                    "pairs/s",
                    "sandbox core busy %",
                    "sandbox CPU µs/request",
                    "loader core busy %",
                    "failures",
                ],
                rows,
            )
        ],
        "goals": [
            goal(
                "no request failed",
                all(r["failures"] == 0 for r in runs),
                f"{sum(r['failures'] for r in runs)} failed answers",
            )
        ],
        "notes": notes,
    }
