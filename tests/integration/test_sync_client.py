"""The synchronous client runs the same scenario as the async one, and works where an event
loop is already running in the caller's thread (as in Jupyter)."""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from typing_extensions import Unpack

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, ConfigurationError, MapKnobs, MapOptions, RunComfy
from runcomfy_async.batch._options import knob_default
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


# The blocking map's keywords, as the async map's.

KNOBS = list(MapKnobs.__annotations__)


@pytest.fixture
def offline_client() -> Iterator[RunComfy]:
    # Nothing is sent: a batch does no I/O until it is entered.
    with RunComfy("token", "http://127.0.0.1:9", allow_insecure_http=True) as c:
        yield c


def test_the_sync_map_declares_its_keywords_as_the_async_map_does() -> None:
    hints = typing.get_type_hints(RunComfy.map, include_extras=True)
    assert hints["knobs"] == Unpack[MapKnobs]
    assert hints["options"] == MapOptions | None
    sync = inspect.signature(RunComfy.map).parameters
    async_ = inspect.signature(AsyncRunComfy.map).parameters
    assert list(sync) == list(async_)
    assert {name: sync[name].default for name in KNOBS} == {
        name: knob_default(name) for name in KNOBS
    }
    assert all(p.kind is not p.VAR_KEYWORD for p in sync.values())


def test_the_sync_map_passes_knobs_and_options_on_as_before(offline_client: RunComfy) -> None:
    batch = offline_client.map(MODEL, [], max_in_flight=3, job_timeout=5.0)
    assert batch._batch.options == MapOptions.build(max_in_flight=3, job_timeout=5.0)
    options = MapOptions.build(max_in_flight=7)
    assert offline_client.map(MODEL, [], options=options)._batch.options is options
    assert offline_client.map(MODEL, [], options=None)._batch.options == MapOptions.build()


def test_the_sync_map_refuses_what_the_async_map_refuses(offline_client: RunComfy) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        offline_client.map(MODEL, [], options=MapOptions(), max_in_flight=3)
    with pytest.raises(TypeError, match="not one of MapKnobs"):
        offline_client.map(MODEL, [], **{"max_in_flght": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^max_in_flight must be"):
        offline_client.map(MODEL, [], max_in_flight=0)
