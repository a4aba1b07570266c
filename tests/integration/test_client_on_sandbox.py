"""The client against the sandbox over real loopback HTTP: every call, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, JobState
from runcomfy_async.ideogram import ColorPalette, V2Generate, V3TextToImage
from runcomfy_async.sandbox import EndpointFaults, FaultPlan, ModelSpec, Sandbox

T2I = "ideogram/ideogram-v3/text-to-image"
SLOW = "test/queue-sitter"
SCHEMA = {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    slow = ModelSpec(SLOW, SCHEMA, median_s=300.0)
    async with Sandbox(models=[slow], workers=1, time_scale=0.01) as sb:
        yield sb


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[AsyncRunComfy]:
    async with AsyncRunComfy(api_token=sandbox.token, base_url=sandbox.base_url) as c:
        yield c


async def test_submit_status_result_wait(client: AsyncRunComfy) -> None:
    job = await client.submit(T2I, {"prompt": "a fox", "aspect_ratio": "1:1"})
    status = await client.status(job.request_id)
    assert status.state in (JobState.QUEUED, JobState.RUNNING, JobState.COMPLETED)
    result = await client.wait(job.request_id, timeout=30)
    assert result.ok
    assert len(result.outputs) == 1
    assert result.created_at is not None
    assert result.finished_at is not None
    final = await client.status(job.request_id)
    assert final.state is JobState.COMPLETED


async def test_typed_inputs_submit_without_a_model_id(client: AsyncRunComfy) -> None:
    result = await client.run(
        V3TextToImage(prompt="a fox", color_palette=ColorPalette.preset("ember")), timeout=30
    )
    assert result.ok
    assert (await client.run(V2Generate(prompt="a hare", style="anime"), timeout=30)).ok


async def test_include_cost(client: AsyncRunComfy) -> None:
    job = await client.submit(T2I, {"prompt": "a fox"})
    await client.wait(job.request_id, timeout=30)
    assert (await client.result(job.request_id, include_cost=True)).cost is not None


async def test_cancel_a_queued_job_and_one_that_runs(client: AsyncRunComfy) -> None:
    running = await client.submit(SLOW, {"prompt": "first takes the only worker"})
    queued = await client.submit(SLOW, {"prompt": "second waits"})
    assert (await client.status(queued.request_id)).queue_position == 0
    assert (await client.cancel(queued.request_id)).cancelled
    answer = await client.cancel(running.request_id)
    assert answer.outcome is rc.CancelOutcome.NOT_CANCELLABLE
    with pytest.raises(rc.JobCancelledError):
        await client.wait(queued.request_id, timeout=5)


async def test_wait_timeout_cancels_the_queued_job_on_the_server(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    await client.submit(SLOW, {"prompt": "hog the worker"})
    queued = await client.submit(SLOW, {"prompt": "never runs"})
    with pytest.raises(rc.WaitTimeoutError) as info:
        await client.wait(queued.request_id, cancel_on_exit=True, timeout=0.3,
                          poll=rc.PollSchedule.fixed(0.05))
    assert info.value.cancelled_remotely is True
    assert sandbox.stats.snapshot().cancellations == 1


async def test_cancelled_waiter_cancels_the_queued_job_on_the_server(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    await client.submit(SLOW, {"prompt": "hog the worker"})
    queued = await client.submit(SLOW, {"prompt": "never runs"})
    with anyio.move_on_after(0.2):
        await client.wait(queued.request_id, cancel_on_exit=True, poll=rc.PollSchedule.fixed(0.02))
    assert sandbox.stats.snapshot().cancellations == 1
    assert (await client.status(queued.request_id)).state is JobState.CANCELLED


async def test_a_waiter_that_does_not_own_the_job_leaves_it_queued(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    # A web handler waiting on a job submitted elsewhere: its client going away (the wait
    # cancelled) or its patience running out must not cancel someone's job.
    await client.submit(SLOW, {"prompt": "hog the worker"})
    queued = await client.submit(SLOW, {"prompt": "someone else's"})
    with anyio.move_on_after(0.2):
        await client.wait(queued.request_id, poll=rc.PollSchedule.fixed(0.02))
    with pytest.raises(rc.WaitTimeoutError) as info:
        await client.wait(queued.request_id, timeout=0.2, poll=rc.PollSchedule.fixed(0.05))
    assert info.value.cancelled_remotely is None
    assert sandbox.stats.snapshot().cancellations == 0
    assert (await client.status(queued.request_id)).state is JobState.QUEUED


async def test_run_owns_its_job_and_cancels_it_while_queued_when_left(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    await client.submit(SLOW, {"prompt": "hog the worker"})
    with pytest.raises(rc.WaitTimeoutError) as info:
        await client.run(SLOW, {"prompt": "mine"}, timeout=0.3)
    assert info.value.cancelled_remotely is True
    assert sandbox.stats.snapshot().cancellations == 1


async def test_validate_refuses_bad_input_before_sending(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    before = sandbox.stats.snapshot().requests_by_endpoint.get("submit", 0)
    with pytest.raises(rc.InvalidInputError) as info:
        await client.submit(T2I, {"prompt": "x", "aspect_ratio": "7:5", "seed": -4}, validate=True)
    assert set(info.value.fields) == {"aspect_ratio", "seed"}
    assert sandbox.stats.snapshot().requests_by_endpoint.get("submit", 0) == before


async def test_server_side_validation_names_the_fields(client: AsyncRunComfy) -> None:
    with pytest.raises(rc.InvalidRequestError) as info:
        await client.submit(T2I, {"aspect_ratio": "7:5"})
    assert info.value.error_code == 422001
    assert "prompt" in str(info.value)
    assert "aspect_ratio" in str(info.value)


async def test_models_catalog_is_read_and_cached(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    listed = await client.models.list()
    assert {T2I, SLOW} <= {m.model_id for m in listed}
    info = await client.models.get(T2I)
    again = await client.models.get(T2I)
    assert info is again
    assert info.input_schema is not None
    assert "prompt" in info.input_schema["properties"]
    assert sandbox.stats.snapshot().requests_by_endpoint.get("models", 0) >= 2


async def test_wrong_token_is_an_authentication_error(sandbox: Sandbox) -> None:
    async with AsyncRunComfy(api_token="nope", base_url=sandbox.base_url) as client:
        with pytest.raises(rc.AuthenticationError):
            await client.submit(T2I, {"prompt": "x"})


async def test_another_users_request_is_permission_denied(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    job = await client.submit(T2I, {"prompt": "mine"})
    async with AsyncRunComfy(api_token=sandbox.add_token(), base_url=sandbox.base_url) as other:
        with pytest.raises(rc.PermissionDeniedError):
            await other.result(job.request_id)


async def test_unknown_request_is_not_found(client: AsyncRunComfy) -> None:
    with pytest.raises(rc.NotFoundError, match="unknown or expired"):
        await client.result("00000000-0000-4000-8000-000000000000")


async def test_unknown_model_is_an_invalid_request(client: AsyncRunComfy) -> None:
    with pytest.raises(rc.InvalidRequestError) as info:
        await client.submit("nobody/no-such-model", {"prompt": "x"})
    assert info.value.error_code == 400001


async def test_a_model_the_catalog_answers_404_for_is_named_in_the_error() -> None:
    # The sandbox names an unknown model in its own 400001 message; a bare 404 (a gateway's,
    # or a route the service dropped) says nothing, so the client must name the model.
    from aiohttp import web

    from tests._rig import scripted_api

    async def not_found(request: web.Request) -> web.Response:
        return web.json_response({"detail": "Not Found"}, status=404)

    routes = [web.get("/v1/models/{model:.*}", not_found)]
    async with scripted_api(routes) as base_url, AsyncRunComfy(
        api_token="t", base_url=base_url
    ) as client:
        with pytest.raises(rc.NotFoundError) as info:
            await client.models.get("acme/x")
    assert info.value.model_id == "acme/x"
    assert "acme/x" in str(info.value)


async def test_a_failed_catalog_listing_names_its_route(sandbox: Sandbox) -> None:
    sandbox.faults = FaultPlan(models=EndpointFaults(server_error=1.0))
    async with AsyncRunComfy(
        api_token=sandbox.token, base_url=sandbox.base_url, retry=rc.RetryPolicy(max_attempts=1)
    ) as client:
        with pytest.raises(rc.ServerError) as info:
            await client.models.list()
    assert "GET /models" in str(info.value)
