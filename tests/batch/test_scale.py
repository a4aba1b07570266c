"""Many jobs in flight at once: a fixed set of workers, not a task per job.

Timing claims live in benchmarks/ (see `python -m benchmarks scale`); these tests check the
structure that makes scale possible: how many tasks exist while thousands of jobs wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from runcomfy_async import AsyncRunComfy, RetryPolicy
from runcomfy_async.sandbox import ModelSpec, Sandbox

from .conftest import SCHEMA, prompts

LONG = "test/long"


@asynccontextmanager
async def big_sandbox(job_seconds: float) -> AsyncIterator[Sandbox]:
    """Jobs of about ``job_seconds`` with a worker each, so that they all run at once."""
    spec = ModelSpec(LONG, SCHEMA, median_s=job_seconds * 100, sigma=0.1)
    async with Sandbox(models=[spec], workers=20_000, time_scale=0.01) as sb:
        yield sb


async def run_with_peak_tasks(sb: Sandbox, n: int) -> tuple[int, int, int]:
    """Run n jobs all in flight; return (outcomes, peak pending jobs, peak tasks)."""
    peak_pending = peak_tasks = 0
    async with AsyncRunComfy(
        api_token=sb.token, base_url=sb.base_url, retry=RetryPolicy(initial_delay=0.01)
    ) as client:
        batch = client.map(LONG, prompts(n), max_in_flight=n, max_concurrent_requests=32)
        done = 0
        async with batch as outcomes:

            async def watch() -> None:
                nonlocal peak_pending, peak_tasks
                while True:
                    progress = outcomes.progress
                    peak_pending = max(peak_pending, progress.queued + progress.running)
                    peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
                    await anyio.sleep(0.05)

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                async for outcome in outcomes:
                    assert outcome.ok
                    done += 1
                tg.cancel_scope.cancel()
    return done, peak_pending, peak_tasks


async def test_two_thousand_jobs_in_flight_use_a_bounded_number_of_tasks() -> None:
    async with big_sandbox(job_seconds=2.0) as sb:
        done, peak_pending, peak_tasks = await run_with_peak_tasks(sb, 2000)
    assert done == 2000
    assert peak_pending >= 1800, "nearly all jobs should have been pending at once"
    # Workers (32 submit + 32 poll + scheduler) plus the sandbox's own connection handlers;
    # a task per job would be thousands.
    assert peak_tasks < 250


@pytest.mark.slow
async def test_ten_thousand_jobs_in_flight() -> None:
    async with big_sandbox(job_seconds=8.0) as sb:
        done, peak_pending, peak_tasks = await run_with_peak_tasks(sb, 10_000)
    assert done == 10_000
    assert peak_pending >= 9000
    assert peak_tasks < 250


