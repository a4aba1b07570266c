"""6. concurrent_runs: N concurrent ``run()`` calls, per-call loops against the shared scheduler.

What an async web app does: N requests arrive together and each awaits one generation. Two
variants, side by side in the same run, against the same sandbox (in its own process, with
as many workers as jobs, so that every job runs at once as on an elastic service):

- **per-call loops**: what ``run()`` was before one scheduler per client, rebuilt from the
  public API: ``client.submit``, then ``client.result`` at once and after each
  ``PollSchedule().delay(n)`` (first 1 s, growing 1.5 times, at most 10 s, jittered), each
  call in its own loop with its own timer;
- **shared scheduler**: ``client.run()`` as it is now: every wait of the client on one heap
  with one timer, polls spaced by the adaptive planner, learned per model in submission
  order (the default ``PollSchedule`` until a model has a few finished jobs).

The shared scheduler runs twice: **cold** (a new client's first N jobs of the model: it
knows nothing yet) and **warm** (the next N, with what the first N taught it: what a
long-running app sees). The per-call loops have nothing to learn, so one round stands for
both. Before every round the sandbox is made afresh with the same seed, so the k-th
submission gets the same run time.

Figures, per round: requests per job (submit included) and polls per job, counted by the
sandbox; detection lag, from the sandbox's ``finished_at`` to the moment the caller has the
result, on the wall clock both processes share (p50, p95, mean); and client CPU seconds per
job (this process: the client, the benchmark's own bookkeeping included, the same in every
round). Real time throughout: the jobs take the time they say (median 8 s in the full form,
1 s in the quick one, where the default schedule's first 1 s delay dominates).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from runcomfy_async import AsyncRunComfy, JobResult, PollSchedule

from ._harness import (
    TIMED_MODEL,
    SandboxProcess,
    cpu_seconds,
    goal,
    model,
    percentile,
    prompts,
    requests_in,
    table,
)

MEDIAN_S = 8.0  # an image model's run time (Ideogram v3 takes about 8 s)
SIGMA = 0.6
QUICK_MEDIAN_S = 1.0
SEED = 11

Call = Callable[[AsyncRunComfy, dict[str, str]], Awaitable[tuple[JobResult, float]]]


async def per_call_loop(client: AsyncRunComfy, payload: dict[str, str]) -> tuple[JobResult, float]:
    """``run()`` before the shared scheduler: submit, then poll at once and on the schedule
    in a loop of its own. Returns the result and the wall time it was seen."""
    schedule = PollSchedule()
    job = await client.submit(TIMED_MODEL, payload)
    polls = 0
    while True:
        result = await client.result(job.request_id)
        if result.state.is_terminal:
            return result, time.time()
        await asyncio.sleep(schedule.delay(polls))
        polls += 1


async def shared_run(client: AsyncRunComfy, payload: dict[str, str]) -> tuple[JobResult, float]:
    """``run()`` as it is: one wait among all the client's, on its one scheduler."""
    result = await client.run(TIMED_MODEL, payload, timeout=None)
    return result, time.time()


def _finished(result: JobResult) -> datetime | None:
    return result.finished_at if result.state.is_terminal else None


async def _round(
    sb: SandboxProcess, client: AsyncRunComfy, call: Call, name: str, n: int
) -> dict[str, Any]:
    before = sb.stats()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    answers = await asyncio.gather(*(call(client, payload) for payload in prompts(n)))
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    after = sb.stats(jobs=True)
    requests = requests_in(before, after)
    lags: list[float] = []
    failures = 0
    for result, seen in answers:
        finished = _finished(result)
        if not result.ok or finished is None:
            failures += 1
            continue
        lags.append(seen - finished.timestamp())
    durations = sorted(job["duration_s"] for job in after["jobs"])
    return {
        "variant": name,
        "jobs": n,
        "requests": requests,
        "requests_per_job": requests["total"] / n,
        "polls_per_job": (requests.get("result", 0) + requests.get("status", 0)) / n,
        "lag_p50_s": percentile(lags, 50),
        "lag_p95_s": percentile(lags, 95),
        "lag_mean_s": sum(lags) / len(lags) if lags else None,
        "client_cpu_s_per_job": cpu / n,
        "wall_s": wall,
        "failures": failures,
        "durations_checksum": round(sum(durations), 6),
    }


async def _main(quick: bool) -> dict[str, Any]:
    n = 40 if quick else 500
    median = QUICK_MEDIAN_S if quick else MEDIAN_S
    with SandboxProcess(
        models=[model(TIMED_MODEL, median_s=median, sigma=SIGMA)], workers=n, seed=SEED
    ) as sb:
        async with AsyncRunComfy(api_token=sb.token, base_url=sb.base_url) as client:
            loops = await _round(sb, client, per_call_loop, "per-call loops", n)
        sb.fresh()
        async with AsyncRunComfy(api_token=sb.token, base_url=sb.base_url) as client:
            cold = await _round(sb, client, shared_run, "shared scheduler, cold", n)
            learned = client._waiter.learner
        sb.fresh()
        async with AsyncRunComfy(api_token=sb.token, base_url=sb.base_url) as client:
            # A fresh sandbox (same run times again) has a new port, hence a new client; it
            # is given what the first one learned, as if the app had kept its client.
            client._waiter.learner = learned
            warm = await _round(sb, client, shared_run, "shared scheduler, warm", n)
    results = [loops, cold, warm]
    same_jobs = len({r["durations_checksum"] for r in results}) == 1

    def beats(r: dict[str, Any]) -> tuple[bool, str]:
        fewer = r["requests_per_job"] < loops["requests_per_job"]
        p50 = r["lag_p50_s"] <= loops["lag_p50_s"]
        p95 = r["lag_p95_s"] <= loops["lag_p95_s"]
        detail = (
            f"{r['requests_per_job']:.2f} vs {loops['requests_per_job']:.2f} requests/job; "
            f"lag p50 {r['lag_p50_s']:.2f} vs {loops['lag_p50_s']:.2f} s, "
            f"p95 {r['lag_p95_s']:.2f} vs {loops['lag_p95_s']:.2f} s"
        )
        return fewer and p50 and p95, detail

    warm_met, warm_detail = beats(warm)
    cold_met, cold_detail = beats(cold)
    rows = [
        [r["variant"], r["requests_per_job"], r["polls_per_job"], r["lag_p50_s"],
         r["lag_p95_s"], r["lag_mean_s"], r["client_cpu_s_per_job"] * 1000, r["wall_s"],
         r["failures"]]
        for r in results
    ]
    return {
        "figures": {
            "jobs": n,
            "median_s": median,
            "sigma": SIGMA,
            "seed": SEED,
            "same_run_times_in_every_round": same_jobs,
            "variants": results,
        },
        "tables": [
            table(
                f"concurrent_runs: {n:,} concurrent run() calls, log-normal run times (median "
                f"{median:g} s, sigma {SIGMA:g}), real time, {n:,} sandbox workers",
                ["variant", "requests/job", "polls/job", "lag p50 s", "lag p95 s",
                 "lag mean s", "client CPU ms/job", "wall s", "failures"],
                rows,
            )
        ],
        "goals": [
            goal("warm: fewer requests per job than per-call loops, at the same or lower lag "
                 "(p50 and p95)", warm_met, warm_detail),
            goal("cold (the client's first jobs of the model): the same", cold_met,
                 cold_detail),
            goal(
                "every round ran the same jobs and every job succeeded",
                same_jobs and all(r["failures"] == 0 for r in results),
                f"same run times: {'yes' if same_jobs else 'NO'}; "
                f"failures: {sum(r['failures'] for r in results)}",
            ),
        ],
        "notes": [
            "requests/job counts every request the sandbox saw in the round (the submit "
            "included); polls/job only GET /result (and /status: none here).",
            "Lag is measured when the caller has the result, on the wall clock the two "
            "processes share; the sandbox stamps finished_at when the job ends.",
            "Both variants use one client (one HTTP session and connection pool) for the "
            "round's N calls; only how they wait differs.",
        ],
    }


def run(quick: bool) -> dict[str, Any]:
    return asyncio.run(_main(quick))
