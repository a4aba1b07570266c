"""3. scale: memory and responsiveness with huge batches.

(a) A long batch: 100,000 inputs from a generator, 1,000 in flight, zero-time jobs. Peak RSS,
    and RSS growth per job past the warm-up (10 % of the run, and at least the 11,000 jobs
    that fill the batch's fixed window of 10,000 recently ended ids, kept to catch a
    repeated request id) to the end: a batch holds only what is in flight, so past the
    warm-up memory should stay flat, whatever the input size.
(b) A wide batch: 10,000 jobs in flight at once (``max_in_flight=10_000``), on a model whose
    jobs last 20–30 s, with a sandbox worker per job so none waits in a queue, run as a
    user runs a bulk batch: with a journal and every output downloaded to a folder. One
    input among them carries a 24 MB inline image (a ``data:`` URI). Event-loop lag (a
    probe task sleeping 10 ms in a loop records how late it wakes) over the whole run, from
    the first submit to the last file on disk, against one encoding of that largest payload
    (measured in the same process): encoding a single JSON string holds the GIL whichever
    thread does it, so one encoding is the stall no client can avoid. Also, over the window
    in which all jobs are in flight and only polls happen (from the last submit to the
    first outcome): client CPU per 1,000 polls, and RSS per in-flight job.

Each part runs its client in a fresh interpreter (spawned, on the client's core) so that its
memory figures are its own, not what an earlier part left behind.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from runcomfy_async import AsyncRunComfy
from runcomfy_async._constants import REPEATED_ID_WINDOW
from runcomfy_async.http._transport import encode_body

from ._harness import (
    TIMED_MODEL,
    ZERO_MODEL,
    LoopLagProbe,
    RssSampler,
    SandboxProcess,
    cpu_seconds,
    goal,
    max_concurrent,
    model,
    peak_rss_bytes,
    percentile,
    prompts,
    rss_bytes,
    run_isolated,
    table,
)

MIB = 1024 * 1024
REQUESTS = 64  # max_concurrent_requests in both parts, as in the throughput benchmark
LAG_P99_GOAL_MS = 10.0
BIG_PAYLOAD_BYTES = 24 * 1000 * 1000  # the 24 MB inline image


# --- (a) a long batch ----------------------------------------------------------------------


async def _long_batch(base_url: str, token: str, n: int, in_flight: int) -> dict[str, Any]:
    async with AsyncRunComfy(api_token=token, base_url=base_url) as client:
        # Warm-up: the session, its connections and every code path exist before the baseline.
        async with client.map(ZERO_MODEL, prompts(200), max_in_flight=64) as outcomes:
            async for _ in outcomes:
                pass
        rss_start = rss_bytes()
        marks: list[tuple[int, int]] = []  # (outcomes so far, RSS) at every 1 %
        step = max(1, n // 100)
        failures = 0
        done = 0
        inputs = ({"prompt": f"p{i}"} for i in range(n))  # lazy: never a list of n inputs
        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        with RssSampler() as sampler:
            async with client.map(
                ZERO_MODEL, inputs, max_in_flight=in_flight, max_concurrent_requests=REQUESTS
            ) as outcomes:
                async for outcome in outcomes:
                    done += 1
                    if not outcome.ok:
                        failures += 1
                    if done % step == 0:
                        marks.append((done, rss_bytes()))
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0
    # Past the warm-up: 10 % of the jobs, and the batch's window of recently ended ids full
    # (a fixed size, which a short batch would otherwise count as growth).
    start = max(n // 10, REPEATED_ID_WINDOW + in_flight)
    at_10 = next(rss for count, rss in marks if count >= start)
    at_end = marks[-1][1]
    return {
        "jobs": n,
        "in_flight": in_flight,
        "seconds": elapsed,
        "jobs_per_s": n / elapsed,
        "client_cpu_s_per_1000_jobs": 1000 * cpu / n,
        "rss_start_mib": rss_start / MIB,
        "rss_at_10pct_mib": at_10 / MIB,
        "rss_end_mib": at_end / MIB,
        "growth_from_job": start,
        "rss_growth_bytes_per_job": (at_end - at_10) / (n - start),
        "peak_rss_sampled_mib": sampler.peak / MIB,
        "peak_rss_mib": peak_rss_bytes() / MIB,
        "rss_marks_mib": [(count, round(rss / MIB, 2)) for count, rss in marks],
        "failures": failures,
    }


def long_batch(base_url: str, token: str, n: int, in_flight: int) -> dict[str, Any]:
    """Part (a), in the spawned process."""
    return asyncio.run(_long_batch(base_url, token, n, in_flight))


# --- (b) a wide batch ----------------------------------------------------------------------


def _big_input(size: int) -> dict[str, str]:
    """An input with an inline image of about ``size`` bytes: random bytes, base64-encoded in
    a ``data:`` URI, as a user's own image would be (the benchmark model's schema takes any
    extra field; the sandbox reads the body but draws nothing from it)."""
    raw = os.urandom(size * 3 // 4)
    return {"prompt": "the largest payload",
            "reference": "data:image/png;base64," + base64.b64encode(raw).decode("ascii")}


def _one_encoding_s(payload: dict[str, str]) -> float:
    """The best of three encodings of ``payload`` by the client's own encoder, in seconds."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        encode_body(payload, model_id=TIMED_MODEL)
        best = min(best, time.perf_counter() - t0)
    return best


def _inputs(n: int, big: dict[str, str]) -> list[dict[str, str]]:
    inputs: list[dict[str, str]] = list(prompts(n))
    inputs[n // 2] = big  # mid-batch: encoded while thousands of jobs are being polled
    return inputs


async def _wide_batch(base_url: str, token: str, n: int, big_bytes: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    big = _big_input(big_bytes)
    encoding_s = _one_encoding_s(big)
    work = Path(tempfile.mkdtemp(prefix="runcomfy-scale-"))
    async with AsyncRunComfy(api_token=token, base_url=base_url) as client, LoopLagProbe() as probe:
        await asyncio.sleep(0.5)  # the probe's own baseline, before any load
        idle_lags = probe.between(0.0, loop.time())
        rss_start = rss_bytes()
        batch = client.map(TIMED_MODEL, _inputs(n, big), max_in_flight=n,
                           max_concurrent_requests=REQUESTS, journal=work / "journal.sqlite",
                           download_to=work / "out", download_hosts=["127.0.0.1"])
        del big
        window: dict[str, Any] = {}

        async def watch() -> None:
            # Checks every 20 ms whether every job has been submitted; cheap next to the
            # thousands of polls per second it watches.
            while batch.progress.submits < n:
                await asyncio.sleep(0.02)
            window.update(start=loop.time(), cpu0=cpu_seconds(), polls0=batch.progress.polls,
                          rss_all_in=rss_bytes())

        failures = 0
        files = 0
        names: set[str] = set()
        t0 = loop.time()
        async with batch as outcomes:
            watcher = asyncio.create_task(watch())
            first = True
            async for outcome in outcomes:
                if first:
                    first = False
                    window.update(end=loop.time(), cpu1=cpu_seconds(),
                                  polls1=batch.progress.polls, rss_first_out=rss_bytes())
                if not outcome.ok:
                    failures += 1
                files += len(outcome.files)
                names.update(stored.path for stored in outcome.files)
            watcher.cancel()
        t_end = loop.time()
    on_disk = len(set(os.listdir(work / "out")) & names)
    shutil.rmtree(work, ignore_errors=True)
    run_lags = probe.between(t0, t_end)
    all_in = "start" in window and window["start"] < window["end"]
    result: dict[str, Any] = {
        "jobs": n,
        "all_submitted_before_first_outcome": all_in,
        "seconds": t_end - t0,
        "largest_payload_bytes": big_bytes,
        "one_encoding_of_largest_payload_ms": 1000 * encoding_s,
        "files_downloaded": files,
        "files_on_disk": on_disk,
        "idle_loop_lag_p50_ms": 1000 * percentile(idle_lags, 50),
        "run_loop_lag_p50_ms": 1000 * percentile(run_lags, 50),
        "run_loop_lag_p99_ms": 1000 * percentile(run_lags, 99),
        "run_loop_lag_max_ms": 1000 * max(run_lags, default=float("nan")),
        "rss_start_mib": rss_start / MIB,
        "failures": failures,
    }
    if all_in:
        lags = probe.between(window["start"], window["end"])
        polls = window["polls1"] - window["polls0"]
        seconds = window["end"] - window["start"]
        result.update(
            window_s=seconds,
            submit_phase_s=window["start"] - t0,
            window_polls=polls,
            window_polls_per_s=polls / seconds,
            loop_lag_p50_ms=1000 * percentile(lags, 50),
            loop_lag_p99_ms=1000 * percentile(lags, 99),
            loop_lag_max_ms=1000 * max(lags, default=float("nan")),
            cpu_s_per_1000_polls=1000 * (window["cpu1"] - window["cpu0"]) / max(polls, 1),
            client_core_busy=(window["cpu1"] - window["cpu0"]) / seconds,
            rss_all_in_mib=window["rss_all_in"] / MIB,
            rss_per_in_flight_job_kib=(window["rss_all_in"] - rss_start) / n / 1024,
        )
    return result


def wide_batch(base_url: str, token: str, n: int, big_bytes: int) -> dict[str, Any]:
    """Part (b), in the spawned process."""
    return asyncio.run(_wide_batch(base_url, token, n, big_bytes))


# --- Both ----------------------------------------------------------------------------------


def run(quick: bool) -> dict[str, Any]:
    n_long, in_flight = (25_000, 1_000) if quick else (100_000, 1_000)
    n_wide = 1_000 if quick else 10_000
    # Long enough that every job is submitted before the first one ends, at a few thousand
    # submits per second; sigma small so that the shortest job is not much shorter.
    wide_median = 4.0 if quick else 25.0
    with SandboxProcess(models=[model(ZERO_MODEL)], workers=64) as sb:
        a = run_isolated(long_batch, sb.base_url, sb.token, n_long, in_flight)
    with SandboxProcess(
        models=[model(TIMED_MODEL, median_s=wide_median, sigma=0.05)], workers=n_wide
    ) as sb:
        b = run_isolated(wide_batch, sb.base_url, sb.token, n_wide, BIG_PAYLOAD_BYTES)
        jobs = sb.stats(jobs=True)["jobs"]
    b["max_jobs_in_flight_at_sandbox"] = max_concurrent(
        (j["submitted_s"], j["finished_s"]) for j in jobs if j["finished_s"] is not None
    )
    b["job_median_s"] = wide_median

    growth_kib = a["rss_growth_bytes_per_job"] / 1024
    big_mb = BIG_PAYLOAD_BYTES / 1e6
    max_bound_ms = 2 * b["one_encoding_of_largest_payload_ms"]
    tables = [
        table(
            f"scale (a): {n_long:,} inputs from a generator, {in_flight:,} in flight, "
            "zero-time jobs",
            ["figure", "value"],
            [
                ["jobs/s", a["jobs_per_s"]],
                ["RSS before the batch (MiB)", a["rss_start_mib"]],
                [f"RSS at job {a['growth_from_job']:,} (MiB)", a["rss_at_10pct_mib"]],
                ["RSS at the end (MiB)", a["rss_end_mib"]],
                ["peak RSS (MiB)", a["peak_rss_mib"]],
                ["RSS growth from there to the end, per job (bytes)",
                 a["rss_growth_bytes_per_job"]],
                ["failures", a["failures"]],
            ],
        ),
        table(
            f"scale (b): {n_wide:,} jobs in flight at once (jobs of ~{wide_median:g} s), "
            "journaled, every output downloaded",
            ["figure", "value"],
            [
                ["event-loop lag p50 / p99, whole run (ms)",
                 f"{b['run_loop_lag_p50_ms']:.2f} / {b['run_loop_lag_p99_ms']:.2f}"],
                ["event-loop lag max, whole run (ms)", b["run_loop_lag_max_ms"]],
                [f"one encoding of the largest payload ({big_mb:g} MB) (ms)",
                 b["one_encoding_of_largest_payload_ms"]],
                ["files downloaded / on disk",
                 f"{b['files_downloaded']:,} / {b['files_on_disk']:,}"],
                ["most jobs in flight at once (sandbox's count)",
                 b["max_jobs_in_flight_at_sandbox"]],
                ["all submitted before the first outcome", b["all_submitted_before_first_outcome"]],
                ["submit phase (s)", b.get("submit_phase_s")],
                ["measured window: all in flight, polling only (s)", b.get("window_s")],
                ["polls/s in the window", b.get("window_polls_per_s")],
                ["event-loop lag p50 in the window (ms)", b.get("loop_lag_p50_ms")],
                ["event-loop lag p99 in the window (ms)", b.get("loop_lag_p99_ms")],
                ["event-loop lag p50 idle, before the batch (ms)", b["idle_loop_lag_p50_ms"]],
                ["client CPU s per 1,000 polls", b.get("cpu_s_per_1000_polls")],
                ["client core busy in the window (%)",
                 None if "client_core_busy" not in b else 100 * b["client_core_busy"]],
                ["RSS per in-flight job (KiB)", b.get("rss_per_in_flight_job_kib")],
                ["failures", b["failures"]],
            ],
        ),
    ]
    return {
        "figures": {"long": a, "wide": b},
        "tables": tables,
        "goals": [
            goal(
                "memory stays flat over a long batch (growth < 100 bytes per job)",
                a["rss_growth_bytes_per_job"] < 100,
                f"{a['rss_growth_bytes_per_job']:.1f} bytes/job ({growth_kib:.3f} KiB) "
                f"from job {a['growth_from_job']:,} to the end of {n_long:,} jobs",
            ),
            goal(
                f"all {n_wide:,} jobs were in flight at once",
                b["max_jobs_in_flight_at_sandbox"] >= n_wide
                and b["all_submitted_before_first_outcome"],
                f"at most {b['max_jobs_in_flight_at_sandbox']:,} at once at the sandbox",
            ),
            goal(
                f"event-loop lag p99 < {LAG_P99_GOAL_MS:g} ms over the whole wide batch, "
                "journaled and downloading",
                b["run_loop_lag_p99_ms"] < LAG_P99_GOAL_MS,
                f"p99 {b['run_loop_lag_p99_ms']:.2f} ms over {b['seconds']:.1f} s",
            ),
            goal(
                "event-loop lag max < 2 × one encoding of the largest payload",
                b["run_loop_lag_max_ms"] < max_bound_ms,
                f"max {b['run_loop_lag_max_ms']:.1f} ms; 2 × one encoding of "
                f"{big_mb:g} MB is {max_bound_ms:.1f} ms",
            ),
            goal(
                "every output is on disk",
                b["files_on_disk"] == b["files_downloaded"] >= n_wide,
                f"{b['files_on_disk']:,} files for {n_wide:,} jobs",
            ),
            goal(
                "every job succeeded",
                a["failures"] == 0 and b["failures"] == 0,
                f"{a['failures'] + b['failures']} failures",
            ),
        ],
        "notes": [
            "Each part's client runs in a fresh spawned interpreter on the client core; "
            f"max_concurrent_requests={REQUESTS} in both parts.",
            "RSS is sampled every 1 % of outcomes for the growth figure and every 50 ms by a "
            "thread for the peak; peak RSS is the process's high-water mark (getrusage).",
            "The 100-bytes-per-job bound is this benchmark's own: the brief sets no number.",
        ],
    }
