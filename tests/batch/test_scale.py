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


async def peak_tasks_with_all_pending(sb: Sandbox, n: int) -> int:
    """Submit n long jobs; once all n are pending at once, count the tasks, then leave.

    No timing in it: it waits for the state (all n pending), however long this machine
    takes to get there (bounded by the test's timeout), rather than sampling on a timer.
    """
    async with AsyncRunComfy(
        api_token=sb.token, base_url=sb.base_url, retry=RetryPolicy(initial_delay=0.01)
    ) as client:
        batch = client.map(LONG, prompts(n), max_in_flight=n, max_concurrent_requests=32,
                           cancel_timeout=60)
        async with batch as outcomes:
            while outcomes.progress.queued + outcomes.progress.running < n:
                await anyio.sleep(0.01)
            return len(asyncio.all_tasks())


async def test_two_thousand_jobs_in_flight_use_a_bounded_number_of_tasks() -> None:
    async with big_sandbox(job_seconds=600.0) as sb:
        with anyio.fail_after(90):
            peak_tasks = await peak_tasks_with_all_pending(sb, 2000)
    # Workers (32 submit + 32 poll + scheduler) plus the sandbox's own connection handlers;
    # a task per job would be thousands.
    assert peak_tasks < 250


@pytest.mark.slow
async def test_ten_thousand_jobs_in_flight() -> None:
    async with big_sandbox(job_seconds=600.0) as sb:
        with anyio.fail_after(600):
            peak_tasks = await peak_tasks_with_all_pending(sb, 10_000)
    assert peak_tasks < 250


