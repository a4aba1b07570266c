"""The synchronous client runs the same scenario as the async one, and works where an event
loop is already running in the caller's thread (as in Jupyter)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import runcomfy_async as rc
from runcomfy_async.sandbox import ThreadedSandbox

MODEL = "ideogram/ideogram-v3/text-to-image"
PROMPTS = [{"prompt": f"a fox {i}"} for i in range(5)]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    with ThreadedSandbox(time_scale=0.001) as sb:
        yield sb


def scenario_sync(sb: ThreadedSandbox) -> dict[str, Any]:
    with rc.RunComfy(api_token=sb.token, base_url=sb.base_url) as client:
        result = client.run(MODEL, {"prompt": "a fox"})
        job = client.submit(MODEL, {"prompt": "a cat"})
        waited = client.wait(job.request_id, timeout=30)
        estimate = client.estimate(MODEL, PROMPTS)
        with client.map(MODEL, PROMPTS) as outcomes:
            states = sorted(o.state.value for o in outcomes)
            spent = outcomes.progress.spent_usd
    return {"run": result.state, "wait": waited.state, "map": states,
            "estimate": estimate.total_usd, "spent": spent}


async def scenario_async(sb: ThreadedSandbox) -> dict[str, Any]:
    async with rc.AsyncRunComfy(api_token=sb.token, base_url=sb.base_url) as client:
        result = await client.run(MODEL, {"prompt": "a fox"})
        job = await client.submit(MODEL, {"prompt": "a cat"})
        waited = await client.wait(job.request_id, timeout=30)
        estimate = await client.estimate(MODEL, PROMPTS)
        async with client.map(MODEL, PROMPTS) as batch:
            states = sorted([o.state.value async for o in batch])
            spent = batch.progress.spent_usd
    return {"run": result.state, "wait": waited.state, "map": states,
            "estimate": estimate.total_usd, "spent": spent}


@pytest.mark.timeout(60)
def test_the_sync_client_gives_what_the_async_one_gives(sandbox: ThreadedSandbox) -> None:
    sync = scenario_sync(sandbox)
    assert sync == asyncio.run(scenario_async(sandbox))
    assert sync["map"] == ["succeeded"] * 5
    assert sync["estimate"] == pytest.approx(sync["spent"])
    assert sync["spent"] > 0


@pytest.mark.timeout(60)
def test_the_sync_client_works_inside_a_running_event_loop(sandbox: ThreadedSandbox) -> None:
    async def notebook_cell() -> dict[str, Any]:
        return scenario_sync(sandbox)  # sync calls, as a notebook cell makes them

    assert asyncio.run(notebook_cell())["run"] is rc.JobState.SUCCEEDED


@pytest.mark.timeout(60)
def test_leaving_a_sync_map_early_closes_the_batch(sandbox: ThreadedSandbox) -> None:
    with rc.RunComfy(api_token=sandbox.token, base_url=sandbox.base_url) as client:
        with client.map(MODEL, [{"prompt": f"p {i}"} for i in range(50)]) as outcomes:
            for outcome in outcomes:
                assert outcome.ok
                break
        # The client is still usable: the batch closed, its workers gone.
        assert client.run(MODEL, {"prompt": "after"}).ok
