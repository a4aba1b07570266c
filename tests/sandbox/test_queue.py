"""The queue: positions at scale, determinism by seed, and restarts that keep jobs."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest

from runcomfy_async.sandbox import EndpointFaults, FaultPlan, ModelSpec, Sandbox
from runcomfy_async.sandbox._positions import QueuePositions

from ._support import INSTANT, PROMPT_SCHEMA, STUCK, auth, call, submit, wait_result

QUEUED = 10_000


def test_queue_positions_match_a_plain_count_under_random_removals() -> None:
    rng = random.Random(0)
    positions = QueuePositions()
    waiting: list[int] = []
    for _ in range(3000):
        if waiting and rng.random() < 0.4:
            slot = waiting.pop(rng.randrange(len(waiting)))
            positions.remove(slot)
        else:
            waiting.append(positions.append())
        for slot in rng.sample(waiting, min(3, len(waiting))):
            assert positions.waiting_before(slot) == sum(other < slot for other in waiting)


async def test_ten_thousand_queued_jobs_answer_their_positions() -> None:
    # How cheaply is a benchmark's question (python -m benchmarks sandbox), not this suite's.
    async with Sandbox(workers=1, models=[STUCK]) as sb:
        core = sb._core
        assert core is not None
        model = core.registry.get(STUCK.model_id)
        assert model is not None
        jobs = [core.create_job(sb.token, model, {"prompt": str(n)}, {}) for n in range(QUEUED)]
        for job in jobs[1::3]:
            core.queue.cancel(job)
        waiting = [job for job in jobs[1:] if job.state == "in_queue"]
        positions = [core.queue.position(job) for job in waiting]

    assert positions == list(range(len(waiting)))


async def fates(seed: int) -> list[tuple[str, float, str]]:
    """(request id, drawn run time, outcome) of six jobs on a sandbox seeded with `seed`."""
    coin = ModelSpec("test/coin", PROMPT_SCHEMA, median_s=10.0, sigma=0.5, failure_rate=0.5)
    async with (
        Sandbox(seed=seed, time_scale=0.0005, models=[coin]) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        for n in range(6):
            job = await submit(session, sb.base_url, coin.model_id, {"prompt": str(n)})
            await wait_result(session, job["result_url"])
        return [(r.request_id, r.duration_s, r.outcome) for r in sb.stats.jobs]


async def test_the_same_seed_gives_the_same_ids_run_times_and_failures() -> None:
    first = await fates(seed=7)
    again = await fates(seed=7)
    other = await fates(seed=8)

    assert first == again
    assert {outcome for _, _, outcome in first} == {"succeeded", "failed"}
    assert len({duration for _, duration, _ in first}) == 6
    assert [rid for rid, _, _ in first] != [rid for rid, _, _ in other]


async def test_restart_comes_back_on_the_same_port_with_the_jobs() -> None:
    async with (
        Sandbox(models=[STUCK, INSTANT]) as sb,
        aiohttp.ClientSession(
            headers=auth(sb.token), connector=aiohttp.TCPConnector(force_close=True)
        ) as session,
    ):
        base_url = sb.base_url
        running = await submit(session, base_url, STUCK.model_id, {"prompt": "long"})
        restart = asyncio.create_task(sb.restart(downtime_s=0.3))
        await asyncio.sleep(0.1)
        with pytest.raises(aiohttp.ClientConnectorError):
            await call(session, "GET", running["status_url"])
        await restart
        _, status = await call(session, "GET", running["status_url"])
        await submit(session, base_url, INSTANT.model_id, {"prompt": "after"})

        assert sb.base_url == base_url
        assert status["status"] == "in_progress"
        assert sb.stats.restarts == 1


async def test_restart_drops_open_connections(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(models=EndpointFaults(slow=1.0), slow_s=10.0)
    pending = asyncio.create_task(call(session, "GET", f"{sandbox.base_url}/models"))
    await asyncio.sleep(0.1)

    await sandbox.restart()

    with pytest.raises(aiohttp.ClientConnectionError):
        await asyncio.wait_for(pending, timeout=2.0)
