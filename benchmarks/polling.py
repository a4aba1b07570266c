"""2. polling: the adaptive planner against fixed intervals and a hand-built poller.

Jobs with log-normal run times (median 8 s, sigma 0.6, as an image model), 64 sandbox
workers and 64 jobs in flight. Every variant runs on a fresh sandbox with the same seed, so
the k-th submission gets the same run time in each; variants differ only in their planner
(``client.map`` on the same HTTP stack), except the last, which is what a user would build
without ``map``: ``aiometer.amap`` over a coroutine that submits with ``client.submit`` and
polls ``client.result`` every 2 s.

Time is scaled so that a run takes seconds: the sandbox runs jobs ``TIME_SCALE`` times
faster, the fixed intervals are multiplied by the same factor, and lags and makespans are
divided by it, so every figure is in model seconds (what it would be against real 8 s
jobs). What does not scale is the cost of a request and the library's own real-time
constants (the adaptive planner's minimum interval and its cold schedule, used until it
has seen a few durations; their values are in the notes): the smaller the scale, the more
they weigh. Hence a larger scale in the full form.

Figures, per variant:

- requests per job, counted by the sandbox;
- detection lag: server finish (``finished_at``) to the outcome handed to the caller, on the
  wall clock both processes share; p50 and p95;
- makespan ÷ oracle makespan. The oracle runs the same jobs (the sandbox's own run times, in
  submission order) on 64 slots with zero lag and zero request time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiometer

from runcomfy_async import AdaptivePoll, AsyncRunComfy, FixedIntervalPoll, JobResult, PollPlanner

from ._harness import (
    TIMED_MODEL,
    SandboxProcess,
    cpu_seconds,
    goal,
    model,
    oracle_makespan,
    percentile,
    prompts,
    table,
)

MEDIAN_S = 8.0
SIGMA = 0.6
SLOTS = 64
FIXED_INTERVALS = (0.1, 0.5, 2.0, 3.0, 5.0)  # model seconds: fal, -, RunComfy CLI, MCP, nodes
AIOMETER_INTERVAL = 2.0
MAKESPAN_GOAL = 1.05


def _finished_ts(result: JobResult | None) -> float | None:
    if result is None or result.finished_at is None:
        return None
    return result.finished_at.timestamp()


async def _run_map(
    sb: SandboxProcess, n: int, planner: PollPlanner
) -> tuple[list[float], list[float], float, int]:
    """(lags at hand-back, Outcome.timings.lag values, makespan, failures), real seconds."""
    lags: list[float] = []
    timing_lags: list[float] = []
    failures = 0
    async with AsyncRunComfy(api_token=sb.token, base_url=sb.base_url) as client:
        t0 = time.perf_counter()
        async with client.map(
            TIMED_MODEL, prompts(n), poll=planner, max_in_flight=SLOTS,
            max_concurrent_requests=SLOTS,
        ) as outcomes:
            async for outcome in outcomes:
                received = time.time()
                finished = _finished_ts(outcome.result)
                if not outcome.ok or finished is None:
                    failures += 1
                    continue
                lags.append(received - finished)
                if outcome.timings.lag is not None:
                    timing_lags.append(outcome.timings.lag)
        makespan = time.perf_counter() - t0
    return lags, timing_lags, makespan, failures


async def _run_aiometer(
    sb: SandboxProcess, n: int, interval: float
) -> tuple[list[float], list[float], float, int]:
    """What a user would write without ``map``: amap over submit-then-poll coroutines."""
    lags: list[float] = []
    failures = 0
    async with AsyncRunComfy(api_token=sb.token, base_url=sb.base_url) as client:

        async def submit_and_poll(payload: dict[str, str]) -> JobResult:
            job = await client.submit(TIMED_MODEL, payload)
            while True:
                await asyncio.sleep(interval)
                result = await client.result(job.request_id)
                if result.state.is_terminal:
                    return result

        t0 = time.perf_counter()
        async with aiometer.amap(submit_and_poll, prompts(n), max_at_once=SLOTS) as results:
            async for result in results:
                received = time.time()
                finished = _finished_ts(result)
                if not result.state.is_terminal or finished is None:
                    failures += 1
                    continue
                lags.append(received - finished)
        makespan = time.perf_counter() - t0
    return lags, [], makespan, failures


async def _variant(
    sb: SandboxProcess, name: str, n: int, scale: float, planner: PollPlanner | None
) -> dict[str, Any]:
    sb.fresh()  # same seed, numbering from 0: the same run times for every variant
    cpu0 = cpu_seconds()
    if planner is None:
        lags, timing_lags, makespan, failures = await _run_aiometer(
            sb, n, AIOMETER_INTERVAL * scale
        )
    else:
        lags, timing_lags, makespan, failures = await _run_map(sb, n, planner)
    cpu = cpu_seconds() - cpu0
    stats = sb.stats(jobs=True)
    jobs = sorted(stats["jobs"], key=lambda j: j["index"])
    durations = [j["duration_s"] for j in jobs]  # model seconds, submission order
    oracle = oracle_makespan(durations, SLOTS)
    requests = stats["total_requests"]
    return {
        "variant": name,
        "jobs": n,
        "requests": requests,
        "requests_by_endpoint": stats["requests_by_endpoint"],
        "requests_per_job": requests / n,
        "lag_p50_s": percentile(lags, 50) / scale,
        "lag_p95_s": percentile(lags, 95) / scale,
        "lag_mean_s": (sum(lags) / len(lags) / scale) if lags else None,
        "timings_lag_p50_s": percentile(timing_lags, 50) / scale if timing_lags else None,
        "makespan_s": makespan / scale,
        "oracle_makespan_s": oracle,
        "makespan_ratio": (makespan / scale) / oracle,
        "real_makespan_s": makespan,
        "real_requests_per_s": requests / makespan,
        "client_cpu_s": cpu,
        "failures": failures,
        "durations_checksum": round(sum(durations), 6),
    }


async def _main(quick: bool) -> dict[str, Any]:
    n = 128 if quick else 1_000
    scale = 0.03 if quick else 0.25
    variants: list[tuple[str, PollPlanner | None]] = [("adaptive (default)", AdaptivePoll())]
    variants += [(f"fixed {i:g} s", FixedIntervalPoll(i * scale)) for i in FIXED_INTERVALS]
    variants.append((f"aiometer + poll every {AIOMETER_INTERVAL:g} s", None))
    with SandboxProcess(
        models=[model(TIMED_MODEL, median_s=MEDIAN_S, sigma=SIGMA)],
        workers=SLOTS,
        time_scale=scale,
    ) as sb:
        results = [await _variant(sb, name, n, scale, planner) for name, planner in variants]

    same_jobs = len({r["durations_checksum"] for r in results}) == 1
    defaults = AdaptivePoll()  # for the notes: the values the adaptive variant ran with
    adaptive = results[0]
    fixed = [r for r in results if r["variant"].startswith("fixed")]
    dominated_by = [
        f"{r['variant']} ({which})"
        for r in fixed
        for which, key in (("p50", "lag_p50_s"), ("p95", "lag_p95_s"))
        if r["requests_per_job"] < adaptive["requests_per_job"] and r[key] < adaptive[key]
    ]
    rows = [
        [
            r["variant"],
            r["requests_per_job"],
            r["lag_p50_s"],
            r["lag_p95_s"],
            r["makespan_s"],
            r["makespan_ratio"],
            r["real_requests_per_s"],
            r["failures"],
        ]
        for r in results
    ]
    return {
        "figures": {
            "jobs": n,
            "time_scale": scale,
            "median_s": MEDIAN_S,
            "sigma": SIGMA,
            "slots": SLOTS,
            "same_run_times_in_every_variant": same_jobs,
            "variants": results,
        },
        "tables": [
            table(
                f"polling: {n:,} jobs, log-normal run times (median {MEDIAN_S:g} s, sigma "
                f"{SIGMA:g}), {SLOTS} in flight, time scale {scale:g}; model seconds",
                ["variant", "requests/job", "lag p50 s", "lag p95 s", "makespan s",
                 "makespan ÷ oracle", "real requests/s", "failures"],
                rows,
            )
        ],
        "goals": [
            goal(
                "no fixed interval beats adaptive on requests/job and lag at once",
                not dominated_by,
                "dominated by " + ", ".join(dominated_by) if dominated_by
                else "no fixed interval has both fewer requests/job and a lower lag "
                "(p50 and p95 checked separately)",
            ),
            goal(
                f"adaptive makespan within {MAKESPAN_GOAL - 1:.0%} of the oracle",
                adaptive["makespan_ratio"] <= MAKESPAN_GOAL,
                f"{adaptive['makespan_ratio']:.3f} × oracle "
                f"({adaptive['makespan_s']:.1f} s vs {adaptive['oracle_makespan_s']:.1f} s)",
            ),
            goal(
                "every variant ran the same jobs and every job succeeded",
                same_jobs and all(r["failures"] == 0 for r in results),
                f"same run times: {'yes' if same_jobs else 'NO'}; "
                f"failures: {sum(r['failures'] for r in results)}",
            ),
        ],
        "notes": [
            f"Time scale {scale:g}: intervals ×{scale:g} for the sandbox; lags and makespans "
            f"÷{scale:g} back to model seconds. Request costs and the planner's real-time "
            f"constants do not scale: its minimum interval ({defaults.min_interval * 1000:g} ms "
            f"real = {defaults.min_interval / scale:.3g} model s) and its cold schedule (first "
            f"poll {defaults.cold.first_delay:g} s real = {defaults.cold.first_delay / scale:.3g} "
            f"model s after submit, until {defaults.min_samples} durations are known).",
            "Lag is measured when the outcome reaches the caller's loop (it includes the "
            "hand-back), on the wall clock the two processes share.",
            "'real requests/s' is the load the variant put on the sandbox; read it against the "
            "sandbox's capacity: near it, the sandbox's queueing inflates lag.",
        ],
    }


def run(quick: bool) -> dict[str, Any]:
    return asyncio.run(_main(quick))
