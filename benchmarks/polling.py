"""2. polling: the adaptive planner against fixed intervals and a hand-built poller.

Jobs with log-normal run times (median 8 s, sigma 0.6, as an image model), as many sandbox
workers as jobs in flight. Every variant runs on a fresh sandbox with the same seed, so the
k-th submission gets the same run time in each; variants differ only in their planner
(``client.map`` on the same HTTP stack), except the last, which is what a user would build
without ``map``: ``aiometer.amap`` over a coroutine that submits with ``client.submit`` and
polls ``client.result`` every 2 s. An unmeasured batch runs first, so that the first
variant does not pay for first-use costs (imports, connections) the others find done.

Time is scaled so that a run takes seconds: the sandbox runs jobs ``time_scale`` times
faster, the fixed intervals are multiplied by the same factor, and lags and makespans are
divided by it, so every figure is in model seconds (what it would be against real 8 s
jobs). What does not scale is the cost of a request, the machine's own delays (tens of ms of
scheduling on a busy machine) and the library's real-time constants (the adaptive planner's
minimum interval and its cold start, used until it has seen a few durations; see the notes):
the smaller the scale, the more they weigh. The full form runs 1,000 jobs, 64 in flight, at
time scale 0.25; the quick form (CI) runs 160 jobs, 32 in flight, at 0.1: five rounds of
jobs, at a scale where those delays stay small against the lags measured.

Figures, per variant:

- requests per job, counted by the sandbox;
- detection lag: server finish (``finished_at``) to the outcome handed to the caller, on the
  wall clock both processes share; p50 and p95;
- makespan ÷ oracle makespan. The oracle runs the same jobs (the sandbox's own run times, in
  submission order) on as many slots with zero lag and zero request time;
- the client's CPU per job (its process's CPU time over the variant, over the jobs: requests,
  their handling, and planning), and of it, the time spent inside the planner's calls.

The quick form checks what holds at its size: its makespan goal compares with the best fixed
interval's makespan rather than the oracle's (a batch of five rounds spends several % of its
makespan starting and ending, whatever the polling, as the fixed intervals' own ratios
show), and whether a fixed interval beats adaptive on requests and lag is reported, not a
goal (one job in five starts cold there; the full form checks it).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiometer
import attrs

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
FIXED_INTERVALS = (0.1, 0.5, 2.0, 3.0, 5.0)  # model seconds: fal, -, RunComfy CLI, MCP, nodes
AIOMETER_INTERVAL = 2.0
MAKESPAN_GOAL = 1.05
# The planner's own work (refits, cold start, lookups) is at most this share of the client's
# CPU: the rest is the requests it decides, which the table's CPU column shows.
PLANNER_CPU_GOAL = 0.02


@attrs.frozen
class Form:
    """The size of one form of the benchmark."""

    jobs: int
    time_scale: float
    slots: int


FULL = Form(jobs=1_000, time_scale=0.25, slots=64)
QUICK = Form(jobs=160, time_scale=0.1, slots=32)


@attrs.define
class _Timed:
    """A planner whose own time is counted around every call: what planning costs, apart
    from the requests it decides. Its calls never wait, so this is CPU time (plus what the
    machine's other processes took meanwhile, and ~0.1 µs per call of measuring)."""

    planner: PollPlanner
    seconds: float = 0.0

    def next_poll_at(self, model_id: str, age: float, polls: int) -> float:
        started = time.perf_counter()
        try:
            return self.planner.next_poll_at(model_id, age, polls)
        finally:
            self.seconds += time.perf_counter() - started

    def observe(self, model_id: str, duration: float) -> None:
        started = time.perf_counter()
        try:
            self.planner.observe(model_id, duration)
        finally:
            self.seconds += time.perf_counter() - started


def _finished_ts(result: JobResult | None) -> float | None:
    if result is None or result.finished_at is None:
        return None
    return result.finished_at.timestamp()


async def _run_map(
    sb: SandboxProcess, n: int, slots: int, planner: PollPlanner
) -> tuple[list[float], list[float], float, int]:
    """(lags at hand-back, Outcome.timings.lag values, makespan, failures), real seconds."""
    lags: list[float] = []
    timing_lags: list[float] = []
    failures = 0
    async with AsyncRunComfy(api_token=sb.token, base_url=sb.base_url) as client:
        t0 = time.perf_counter()
        async with client.map(
            TIMED_MODEL, prompts(n), poll=planner, max_in_flight=slots,
            max_concurrent_requests=slots,
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
    sb: SandboxProcess, n: int, slots: int, interval: float
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
        async with aiometer.amap(submit_and_poll, prompts(n), max_at_once=slots) as results:
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
    sb: SandboxProcess, name: str, form: Form, planner: PollPlanner | None
) -> dict[str, Any]:
    n, scale = form.jobs, form.time_scale
    sb.fresh()  # same seed, numbering from 0: the same run times for every variant
    timed = _Timed(planner) if planner is not None else None
    cpu0 = cpu_seconds()
    if timed is None:
        lags, timing_lags, makespan, failures = await _run_aiometer(
            sb, n, form.slots, AIOMETER_INTERVAL * scale
        )
    else:
        lags, timing_lags, makespan, failures = await _run_map(sb, n, form.slots, timed)
    cpu = cpu_seconds() - cpu0
    stats = sb.stats(jobs=True)
    jobs = sorted(stats["jobs"], key=lambda j: j["index"])
    durations = [j["duration_s"] for j in jobs]  # model seconds, submission order
    oracle = oracle_makespan(durations, form.slots)
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
        "client_cpu_ms_per_job": cpu / n * 1000,
        "client_cpu_ms_per_request": cpu / requests * 1000,
        "planner_cpu_s": timed.seconds if timed is not None else None,
        "planner_cpu_us_per_job": timed.seconds / n * 1e6 if timed is not None else None,
        "failures": failures,
        "durations_checksum": round(sum(durations), 6),
    }


async def _main(quick: bool) -> dict[str, Any]:
    form = QUICK if quick else FULL
    n, scale, slots = form.jobs, form.time_scale, form.slots
    variants: list[tuple[str, PollPlanner | None]] = [("adaptive (default)", AdaptivePoll())]
    variants += [(f"fixed {i:g} s", FixedIntervalPoll(i * scale)) for i in FIXED_INTERVALS]
    variants.append((f"aiometer + poll every {AIOMETER_INTERVAL:g} s", None))
    with SandboxProcess(
        models=[model(TIMED_MODEL, median_s=MEDIAN_S, sigma=SIGMA)],
        workers=slots,
        time_scale=scale,
    ) as sb:
        # Unmeasured: the first variant would otherwise pay for first-use costs (imports,
        # connections, caches) that every later one finds done.
        await _run_map(sb, slots, slots, FixedIntervalPoll(FIXED_INTERVALS[1] * scale))
        results = [await _variant(sb, name, form, planner) for name, planner in variants]

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
    planner_share = adaptive["planner_cpu_s"] / adaptive["client_cpu_s"]
    dominance = goal(
        "no fixed interval beats adaptive on requests/job and lag at once",
        not dominated_by,
        "dominated by " + ", ".join(dominated_by) if dominated_by
        else "no fixed interval has both fewer requests/job and a lower lag "
        "(p50 and p95 checked separately)",
    )
    rows = [
        [
            r["variant"],
            r["requests_per_job"],
            r["lag_p50_s"],
            r["lag_p95_s"],
            r["makespan_s"],
            r["makespan_ratio"],
            r["real_requests_per_s"],
            r["client_cpu_ms_per_job"],
            r["planner_cpu_us_per_job"],
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
            "slots": slots,
            "same_run_times_in_every_variant": same_jobs,
            "variants": results,
        },
        "tables": [
            table(
                f"polling: {n:,} jobs, log-normal run times (median {MEDIAN_S:g} s, sigma "
                f"{SIGMA:g}), {slots} in flight, time scale {scale:g}; model seconds",
                ["variant", "requests/job", "lag p50 s", "lag p95 s", "makespan s",
                 "makespan ÷ oracle", "real requests/s", "client CPU ms/job",
                 "planner CPU µs/job", "failures"],
                rows,
            )
        ],
        "goals": [
            *([] if quick else [dominance]),
            _makespan_goal(adaptive, fixed, quick),
            goal(
                f"the adaptive planner's own work is under {PLANNER_CPU_GOAL:.0%} of the "
                "client's CPU",
                planner_share < PLANNER_CPU_GOAL,
                f"{adaptive['planner_cpu_us_per_job']:.0f} µs/job of "
                f"{adaptive['client_cpu_ms_per_job']:.2f} ms/job ({planner_share:.2%}): fits, "
                "cold start and lookups, counted around every call",
            ),
            goal(
                "every variant ran the same jobs and every job succeeded",
                same_jobs and all(r["failures"] == 0 for r in results),
                f"same run times: {'yes' if same_jobs else 'NO'}; "
                f"failures: {sum(r['failures'] for r in results)}",
            ),
        ],
        "notes": [
            *([
                f"'{dominance['name']}' is not a goal in the quick form: there one job in "
                "five starts before any duration is known (cold: polled from one round trip, "
                "doubling), which ties adaptive with the 0.5 s interval on requests/job and "
                "sets its lag p95; the full form checks it. In this run: "
                f"{'met' if dominance['met'] else 'not met'} ({dominance['detail']}).",
            ] if quick else []),
            f"Time scale {scale:g}: intervals ×{scale:g} for the sandbox; lags and makespans "
            f"÷{scale:g} back to model seconds. Request costs and the planner's real-time "
            f"constants do not scale: its minimum interval ({defaults.min_interval * 1000:g} ms "
            f"real = {defaults.min_interval / scale:.3g} model s) and its cold start (until "
            f"{defaults.min_samples} durations are known: a first poll at once, then each "
            "after as long as the job's age, from one round trip).",
            "Lag is measured when the outcome reaches the caller's loop (it includes the "
            "hand-back), on the wall clock the two processes share.",
            "'client CPU ms/job' is the client process's CPU time (user + system) over the "
            "variant, per job; 'planner CPU µs/job' the time spent inside the planner's calls "
            "(for a fixed interval, what measuring a call costs).",
            "'real requests/s' is the load the variant put on the sandbox; read it against the "
            "sandbox's capacity: near it, the sandbox's queueing inflates lag.",
        ],
    }


def _makespan_goal(
    adaptive: dict[str, Any], fixed: list[dict[str, Any]], quick: bool
) -> dict[str, Any]:
    if not quick:
        return goal(
            f"adaptive makespan within {MAKESPAN_GOAL - 1:.0%} of the oracle",
            adaptive["makespan_ratio"] <= MAKESPAN_GOAL,
            f"{adaptive['makespan_ratio']:.3f} × oracle "
            f"({adaptive['makespan_s']:.1f} s vs {adaptive['oracle_makespan_s']:.1f} s)",
        )
    # A batch of a few rounds spends a good part of its makespan starting and ending,
    # whatever the polling (even the fastest fixed interval is several % off the oracle):
    # the quick form compares with the best fixed interval instead, which shares those.
    best = min(fixed, key=lambda r: r["makespan_s"])
    ratio = adaptive["makespan_s"] / best["makespan_s"]
    return goal(
        f"adaptive makespan within {MAKESPAN_GOAL - 1:.0%} of the best fixed interval's",
        ratio <= MAKESPAN_GOAL,
        f"{ratio:.3f} × {best['variant']}'s ({adaptive['makespan_s']:.1f} s vs "
        f"{best['makespan_s']:.1f} s, {best['makespan_ratio']:.3f} × oracle), at "
        f"{adaptive['requests_per_job'] / best['requests_per_job']:.2f} × its requests/job",
    )


def run(quick: bool) -> dict[str, Any]:
    return asyncio.run(_main(quick))
