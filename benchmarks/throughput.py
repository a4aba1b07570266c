"""1. throughput: zero-time jobs through ``client.map`` versus a hand-written aiohttp loop.

Zero-time jobs are over when their submit is answered, so the only cost is the client's
own: what ``client.map`` (scheduler, limiter, poll planner, outcome objects) adds on top of
the two requests a job needs at the least. The baseline is the minimal loop anyone could
write: C workers, each POSTing a submit then GETting its result once, on one aiohttp
session with C connections. Both run at the same concurrency C against the same sandbox in
the same run, at C = 64 and C = 1,000, alternating at each (A B B A, repeated in the full
form) so that a drift of the shared machine hits both alike, and each is credited with its
best round at that concurrency.

``client.map`` runs as a user would run it: default ``AdaptivePoll`` (fresh, hence cold,
for each batch), ``max_in_flight = max_concurrent_requests = C`` and a connection pool of
C (the client's default pool of 100 would otherwise cap it at C = 1,000). Its overall rate
counts the cold start (the first jobs are polled on the planner's cold schedule until it
has seen a few durations: see the notes); the steady-state rate (outcomes 10 % to 100 %)
does not. §1b counts the same two variants in CPU instructions, which repeat where these
rates drift with the shared machine's load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, Protocol

import aiohttp

from runcomfy_async import AdaptivePoll, AsyncRunComfy

from ._harness import (
    ZERO_MODEL,
    SandboxProcess,
    cpu_seconds,
    goal,
    model,
    prompts,
    requests_in,
    table,
)

CONCURRENCIES = (64, 1_000)
CONCURRENCY = CONCURRENCIES[0]  # the one `profile_map` profiles
GOAL_RATIO = 0.90

# Under valgrind the client runs ~50 times slower, and at C = 1,000 opening the connections
# or reading an answer can take minutes on a busy machine: `slow=True` lengthens every
# timeout of both variants so that none expires. The same timers are armed, only for later
# (each is set, and above aiohttp's 5 s ceiling threshold either way), so the work per job
# is the same.
SLOW_CONNECT_TIMEOUT_S = 900.0
SLOW_READ_TIMEOUT_S = 1800.0
SLOW_TOTAL_TIMEOUT_S = 1800.0
# The adaptive planner refits at most once per half second: at full speed that is once per
# few hundred jobs, under valgrind once per few, and how many depends on how busy the
# machine is. With `slow=True` its throttle reads a clock slowed by about valgrind's factor,
# so that refits fall on as many jobs as at full speed.
VALGRIND_SLOWDOWN = 40.0


def _valgrind_paced_clock() -> float:
    return time.monotonic() / VALGRIND_SLOWDOWN


class Server(Protocol):
    """Where the jobs go: a `SandboxProcess`, or its address handed to a child process."""

    @property
    def base_url(self) -> str: ...

    @property
    def token(self) -> str: ...


class Variant(Protocol):
    def __call__(
        self, server: Server, n: int, c: int, marks: list[float], *, slow: bool = False
    ) -> Coroutine[Any, Any, int]: ...


async def _raw_loop(
    server: Server, n: int, c: int, marks: list[float], *, slow: bool = False
) -> int:
    """The baseline: POST submit, GET result once, per job; C workers; returns failures."""
    connector = aiohttp.TCPConnector(limit=c)
    headers = {"Authorization": f"Bearer {server.token}"}
    # aiohttp's default is total=300, sock_connect=30.
    timeout = (
        aiohttp.ClientTimeout(total=SLOW_TOTAL_TIMEOUT_S, sock_connect=SLOW_CONNECT_TIMEOUT_S)
        if slow
        else aiohttp.client.DEFAULT_TIMEOUT
    )
    submit_url = f"{server.base_url}/models/{ZERO_MODEL}"
    jobs = iter(prompts(n))
    failures = 0
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:

        async def worker() -> None:
            nonlocal failures
            for payload in jobs:
                async with session.post(submit_url, json=payload) as response:
                    job = await response.json()
                result_url = f"{server.base_url}/requests/{job['request_id']}/result"
                async with session.get(result_url) as response:
                    result = await response.json()
                if result.get("status") != "succeeded":
                    failures += 1
                marks.append(time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(c)))
    return failures


def _client(server: Server, c: int, *, slow: bool) -> AsyncRunComfy:
    """A client with a pool of C connections (and long timeouts when ``slow``)."""
    if slow:
        return AsyncRunComfy(
            api_token=server.token,
            base_url=server.base_url,
            max_connections=c,
            max_connections_per_host=c,
            connect_timeout=SLOW_CONNECT_TIMEOUT_S,
            read_timeout=SLOW_READ_TIMEOUT_S,
            total_timeout=SLOW_TOTAL_TIMEOUT_S,
        )
    return AsyncRunComfy(
        api_token=server.token,
        base_url=server.base_url,
        max_connections=c,
        max_connections_per_host=c,
    )


async def _client_map(
    server: Server, n: int, c: int, marks: list[float], *, slow: bool = False
) -> int:
    """The library: ``client.map`` with its defaults but C in flight, C requests and a
    pool of C connections."""
    failures = 0
    async with _client(server, c, slow=slow) as client, client.map(
        ZERO_MODEL,
        prompts(n),
        poll=AdaptivePoll(clock=_valgrind_paced_clock) if slow else AdaptivePoll(),
        max_in_flight=c,
        max_concurrent_requests=c,
    ) as outcomes:
        async for outcome in outcomes:
            if not outcome.ok:
                failures += 1
            marks.append(time.perf_counter())
    return failures


VARIANTS: dict[str, Variant] = {"aiohttp loop": _raw_loop, "client.map": _client_map}


async def _round(sb: SandboxProcess, name: str, n: int, c: int) -> dict[str, Any]:
    before = sb.stats()
    sandbox_cpu0 = sb.cpu_seconds()
    marks: list[float] = []
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    failures = await VARIANTS[name](sb, n, c, marks)
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    sandbox_busy = (sb.cpu_seconds() - sandbox_cpu0) / elapsed
    after = sb.stats()
    requests = requests_in(before, after)
    # Steady state: from the outcome at 10 % to the last one, past any cold start.
    first = marks[len(marks) // 10] if marks else t0
    steady = (len(marks) - len(marks) // 10) / max(marks[-1] - first, 1e-9) if marks else 0.0
    return {
        "variant": name,
        "concurrency": c,
        "jobs": n,
        "seconds": elapsed,
        "jobs_per_s": n / elapsed,
        "steady_jobs_per_s": steady,
        "client_cpu_s": cpu,
        "client_cpu_s_per_1000_jobs": 1000 * cpu / n,
        "client_core_busy": cpu / elapsed,
        # Near 100 %, the sandbox (not the client) set the pace of this round.
        "sandbox_core_busy": sandbox_busy,
        "requests": requests,
        "requests_per_job": requests["total"] / n,
        "failures": failures,
    }


def _plan(quick: bool) -> dict[int, tuple[int, int]]:
    """Jobs per round and repeats of A B B A, per concurrency.

    At C = 1,000 a round needs several times C jobs to be more than its ramp-up and
    drain; the full form keeps both concurrencies within about four minutes.
    """
    if quick:
        return {64: (500, 1), 1_000: (3_000, 1)}
    return {64: (10_000, 2), 1_000: (10_000, 2)}


def _compare(rounds: list[dict[str, Any]], c: int, n: int) -> dict[str, Any]:
    """Each variant's best round at concurrency ``c``, and their ratios."""
    mine = [r for r in rounds if r["concurrency"] == c]
    best = {
        name: max((r for r in mine if r["variant"] == name), key=lambda r: r["jobs_per_s"])
        for name in VARIANTS
    }
    raw, ours = best["aiohttp loop"], best["client.map"]
    return {
        "concurrency": c,
        "jobs": n,
        "ratio": ours["jobs_per_s"] / raw["jobs_per_s"],
        "steady_ratio": ours["steady_jobs_per_s"] / raw["steady_jobs_per_s"],
        # Above 1, client.map spends more CPU per job than the loop.
        "cpu_ratio": ours["client_cpu_s_per_1000_jobs"] / raw["client_cpu_s_per_1000_jobs"],
        "best": best,
    }


async def _main(quick: bool) -> dict[str, Any]:
    plan = _plan(quick)
    # Zero-time jobs finish as their submit is answered, so the sandbox's workers bound
    # nothing here; its server takes any number of connections.
    rounds: list[dict[str, Any]] = []
    orders: dict[int, list[str]] = {}
    with SandboxProcess(models=[model(ZERO_MODEL)], workers=64) as sb:
        for c in CONCURRENCIES:
            n, repeats = plan[c]
            # A B B A: each variant gets an early and a late slot; the full form does it
            # more than once, since bursts of load from other processes come and go.
            orders[c] = ["aiohttp loop", "client.map", "client.map", "aiohttp loop"] * repeats
            for name in VARIANTS:  # warm-up: imports, code paths, the allocator
                await _round(sb, name, min(n, max(200, c)), c)
            rounds += [await _round(sb, name, n, c) for name in orders[c]]
    comparisons = [_compare(rounds, c, plan[c][0]) for c in CONCURRENCIES]
    summary: list[list[Any]] = []
    for comp in comparisons:
        c, raw, ours = comp["concurrency"], comp["best"]["aiohttp loop"], comp["best"]["client.map"]
        summary += [
            [c, "jobs/s (best round)", raw["jobs_per_s"], ours["jobs_per_s"], comp["ratio"]],
            [c, "steady jobs/s (10–100 %)", raw["steady_jobs_per_s"],
             ours["steady_jobs_per_s"], comp["steady_ratio"]],
            [c, "client CPU s / 1,000 jobs", raw["client_cpu_s_per_1000_jobs"],
             ours["client_cpu_s_per_1000_jobs"], comp["cpu_ratio"]],
            [c, "requests / job", raw["requests_per_job"], ours["requests_per_job"],
             ours["requests_per_job"] / raw["requests_per_job"]],
        ]
    rows = [
        [
            r["concurrency"],
            r["variant"],
            i + 1,
            r["jobs"],
            r["jobs_per_s"],
            r["steady_jobs_per_s"],
            r["client_cpu_s_per_1000_jobs"],
            r["client_core_busy"] * 100,
            r["sandbox_core_busy"] * 100,
            r["requests_per_job"],
            r["failures"],
        ]
        for i, r in enumerate(rounds)
    ]
    cold = AdaptivePoll()
    notes = [
        "At each concurrency, rounds in the order "
        + "; ".join(f"C = {c:,}: {', '.join(order)}" for c, order in orders.items())
        + ", after a warm-up round of each variant; each variant is credited with its best "
        "round at that concurrency.",
        f"AdaptivePoll's cold start: until {cold.min_samples} durations are known, the first "
        "poll of a job follows the planner's cold schedule; zero-time jobs are done when "
        "their submit is answered, so every first poll finds them done.",
        "Requests per job are counted by the sandbox, not by the client.",
        "'client core busy' near 100 % means the client's CPU was the limit; well below, "
        "latency was (waits between requests, or other processes on the shared machine). "
        "'sandbox core busy' near 100 % means the sandbox was.",
    ]
    for comp in comparisons:
        raw = comp["best"]["aiohttp loop"]
        if raw["sandbox_core_busy"] >= 0.9:
            notes.append(
                f"At C = {comp['concurrency']:,}, in the aiohttp loop's best round the "
                f"sandbox's core was {raw['sandbox_core_busy']:.0%} busy: the baseline was "
                "held back by the sandbox, so against a faster server the jobs/s ratio would "
                "be lower still; the CPU-per-job ratio does not depend on the server."
            )
    goals = [
        goal(
            f"client.map reaches ≥ {GOAL_RATIO:.0%} of the aiohttp loop's jobs/s at "
            f"concurrency {comp['concurrency']:,}",
            comp["ratio"] >= GOAL_RATIO,
            f"{comp['ratio']:.2f} by jobs/s ({comp['best']['client.map']['jobs_per_s']:.0f} "
            f"vs {comp['best']['aiohttp loop']['jobs_per_s']:.0f}); "
            f"{comp['steady_ratio']:.2f} in steady state; {1 / comp['cpu_ratio']:.2f} by CPU "
            "per job (loop ÷ client.map: the ratio once the client's core is the bottleneck)",
        )
        for comp in comparisons
    ]
    goals.append(
        goal(
            "every job succeeded",
            all(r["failures"] == 0 for r in rounds),
            f"{sum(r['failures'] for r in rounds)} failures",
        )
    )
    return {
        "figures": {
            "concurrencies": list(CONCURRENCIES),
            "by_concurrency": {str(comp["concurrency"]): comp for comp in comparisons},
            "rounds": rounds,
        },
        "tables": [
            table(
                "throughput: zero-time jobs at concurrency "
                + " and ".join(f"{c:,} ({plan[c][0]:,} jobs a round)" for c in CONCURRENCIES)
                + ", best round of each",
                ["concurrency", "figure", "aiohttp loop", "client.map", "client.map ÷ loop"],
                summary,
            ),
            table(
                "throughput: every round, in the order run",
                ["concurrency", "variant", "round", "jobs", "jobs/s", "steady jobs/s",
                 "client CPU s / 1,000 jobs", "client core busy %", "sandbox core busy %",
                 "requests/job", "failures"],
                rows,
            ),
        ],
        "goals": goals,
        "notes": notes,
    }


def run(quick: bool) -> dict[str, Any]:
    return asyncio.run(_main(quick))
