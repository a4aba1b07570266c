"""Where ``client.map`` spends its CPU, next to the minimal aiohttp loop.

``python -m benchmarks.profile_map [--jobs N] [--out DIR]`` runs the throughput benchmark's
two variants (zero-time jobs, concurrency 64, sandbox in its own process) under cProfile
and prints, per job: CPU without and with the profiler, time by package, the hottest
functions of the library and of the event loop, and how many timers, callbacks and tasks
each job costs. The ``.prof`` files are left in DIR for ``pstats`` or snakeviz.

Not one of the benchmarks (it writes no result): a tool to find the hot spot behind a
throughput figure, and to check a fix before re-running ``python -m benchmarks throughput``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections import Counter
from pathlib import Path

from ._harness import ZERO_MODEL, SandboxProcess, model, pin_client
from .throughput import CONCURRENCY, VARIANTS

# Event-loop functions whose call counts per job say what a job costs the loop.
LOOP_COUNTERS = {
    "call_at": "timers scheduled",
    "call_soon": "callbacks scheduled",
    "create_task": "tasks created",
    "create_future": "futures created",
}


def _package(filename: str, function: str) -> str:
    if "/runcomfy_async/" in filename:
        return "runcomfy_async/" + filename.split("/runcomfy_async/")[-1]
    for name in ("aiohttp", "anyio", "asyncio", "yarl", "multidict", "attrs", "json"):
        if f"/{name}/" in filename:
            return name
    if filename == "~":
        return "builtins: " + function.split(" of ")[0].strip("<>")[:40]
    return filename.rsplit("/", 1)[-1]


def summarise(path: Path, jobs: int, top: int = 25) -> None:
    stats = pstats.Stats(str(path))
    # pstats keeps its table in an undocumented attribute, typed loosely here.
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = (
        stats.stats  # type: ignore[attr-defined]
    )
    by_package: dict[str, float] = {}
    functions: list[tuple[float, int, str]] = []
    counters: Counter[str] = Counter()
    for (filename, line, function), (_, calls, own, _cum, _) in raw.items():
        key = _package(filename, function)
        by_package[key] = by_package.get(key, 0.0) + own
        if "/runcomfy_async/" in filename or "/anyio/" in filename or "/asyncio/" in filename:
            short = filename.rsplit("/", 1)[-1]
            functions.append((own, calls, f"{short}:{line} {function}"))
        if "/asyncio/" in filename and function in LOOP_COUNTERS:
            counters[function] += calls
    total = sum(by_package.values())
    print(f"  profiled CPU: {1e6 * total / jobs:.0f} µs/job; by package (own time):")
    for name, own in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]:
        print(f"    {1e6 * own / jobs:7.1f} µs/job  {name}")
    print("  event loop work per job: " + ", ".join(
        f"{counters[f] / jobs:.1f} {label}" for f, label in LOOP_COUNTERS.items()))
    print(f"  hottest library / anyio / asyncio functions (own time), top {top}:")
    for seconds, count, label in sorted(functions, reverse=True)[:top]:
        print(f"    {1e6 * seconds / jobs:7.1f} µs/job  {count / jobs:6.2f} calls/job  {label}")


async def _main(jobs: int, out: Path) -> None:
    with SandboxProcess(models=[model(ZERO_MODEL)], workers=64) as sb:
        for variant in VARIANTS.values():  # warm-up
            await variant(sb, 300, CONCURRENCY, [])
        for name, variant in VARIANTS.items():
            cpu0, t0 = time.process_time(), time.perf_counter()
            await variant(sb, jobs, CONCURRENCY, [])
            plain_cpu, plain_wall = time.process_time() - cpu0, time.perf_counter() - t0
            profiler = cProfile.Profile()
            profiler.enable()
            await variant(sb, jobs, CONCURRENCY, [])
            profiler.disable()
            path = out / f"{name.replace(' ', '_').replace('.', '_')}.prof"
            profiler.dump_stats(str(path))
            print(f"== {name}: {jobs / plain_wall:.0f} jobs/s, "
                  f"{1e6 * plain_cpu / jobs:.0f} µs CPU/job without the profiler ({path})")
            summarise(path, jobs)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_map", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None, help="where the .prof files go")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="runcomfy-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    print(pin_client())
    asyncio.run(_main(args.jobs, out))


if __name__ == "__main__":
    main()
