"""Deadlines that hold, shields that guard one attempt, and answers that stay typed.

Symptoms seen on an earlier version (issue "Money safety"), each scripted exactly: the
clock is injected, so "within the deadline" is asserted on the fake clock, not on how fast
this machine runs.
"""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import anyio
import pytest
from aiohttp import web
from aioresponses import CallbackResult, aioresponses

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, RetryPolicy
from runcomfy_async._constants import CANCEL_ON_EXIT_TIMEOUT_S, WAIT_LAST_LOOK_S

from .conftest import BASE, TOKEN, FakeClock

MODEL = "ideogram/ideogram-v3/text-to-image"
RID = "req-1"
RESULT = f"{BASE}/requests/{RID}/result"
RESULT_ANY = re.compile(rf"{re.escape(RESULT)}(\?.*)?$")
CANCEL = f"{BASE}/requests/{RID}/cancel"
SUBMIT = f"{BASE}/models/{MODEL}"


async def test_wait_timeout_is_a_deadline_against_failing_polls(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock
) -> None:
    http.get(RESULT_ANY, status=502, body=b"bad gateway", repeat=True)
    http.post(CANCEL, status=202, payload={"request_id": RID, "outcome": "cancelled"})
    start = clock.now
    with pytest.raises(rc.WaitTimeoutError) as caught:
        await client.wait(RID, cancel_on_exit=True, timeout=1.0)
    assert clock.now - start <= 1.0 + WAIT_LAST_LOOK_S + CANCEL_ON_EXIT_TIMEOUT_S
    assert caught.value.cancelled_remotely is True


async def test_wait_without_answers_still_cancels_the_queued_job_at_its_deadline(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock
) -> None:
    http.get(RESULT_ANY, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    http.post(CANCEL, status=202, payload={"request_id": RID, "outcome": "cancelled"})
    start = clock.now
    with pytest.raises(rc.WaitTimeoutError) as caught:
        await client.wait(RID, cancel_on_exit=True, timeout=3.0)
    assert clock.now - start <= 3.0 + WAIT_LAST_LOOK_S + CANCEL_ON_EXIT_TIMEOUT_S
    assert caught.value.cancelled_remotely is True


async def test_submit_is_cancellable_during_a_cool_down(http: aioresponses) -> None:
    async with AsyncRunComfy(api_token=TOKEN, base_url=BASE) as client:
        client._transport.retrier.cooldown.extend(3600)
        with anyio.fail_after(20):  # an earlier version sat out the whole cool-down
            with anyio.move_on_after(0.1):
                await client.submit(MODEL, {"prompt": "a fox"})
    assert not http.requests, "nothing was sent"


async def test_a_cancelled_caller_still_hears_of_an_unknown_submit_outcome(
    http: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hang_then_drop(url: object, **kwargs: object) -> CallbackResult:
        entered.set()
        await release.wait()
        raise aiohttp.ServerDisconnectedError()

    http.post(SUBMIT, callback=hang_then_drop)
    caplog.set_level(logging.WARNING, logger="runcomfy_async")
    async with AsyncRunComfy(api_token=TOKEN, base_url=BASE) as client:
        task = asyncio.ensure_future(client.submit(MODEL, {"prompt": "a fox"}))
        await entered.wait()
        task.cancel()
        await asyncio.sleep(0)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    fingerprint = rc.input_fingerprint(MODEL, {"prompt": "a fox"})
    assert any(fingerprint[:16] in r.getMessage() for r in caplog.records), caplog.text


async def test_a_cancelled_caller_cancels_the_job_its_submit_created(
    http: aioresponses,
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hang_then_accept(url: object, **kwargs: object) -> CallbackResult:
        entered.set()
        await release.wait()
        return CallbackResult(status=200, payload={"request_id": RID})

    http.post(SUBMIT, callback=hang_then_accept)
    http.post(CANCEL, status=202, payload={"request_id": RID, "outcome": "cancelled"})
    async with AsyncRunComfy(api_token=TOKEN, base_url=BASE) as client:
        task = asyncio.ensure_future(client.submit(MODEL, {"prompt": "a fox"}))
        await entered.wait()
        task.cancel()
        await asyncio.sleep(0)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert ("POST", aiohttp.client.URL(CANCEL)) in http.requests


@pytest.mark.parametrize("call", ["result", "submit"])
async def test_asyncio_timeout_error_is_a_typed_error(http: aioresponses, call: str) -> None:
    # On Python 3.10 asyncio.TimeoutError is not the built-in TimeoutError.
    async with AsyncRunComfy(api_token=TOKEN, base_url=BASE, retry=RetryPolicy.never()) as client:
        if call == "result":
            http.get(RESULT_ANY, exception=asyncio.TimeoutError())
            with pytest.raises(rc.RequestTimeoutError):
                await client.result(RID)
        else:
            http.post(SUBMIT, exception=asyncio.TimeoutError())
            with pytest.raises(rc.SubmitOutcomeUnknownError):
                await client.submit(MODEL, {"prompt": "a fox"})


@pytest.mark.parametrize("call", ["result", "submit"])
async def test_a_deeply_nested_answer_is_a_typed_error(http: aioresponses, call: str) -> None:
    deep = b'{"output":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with AsyncRunComfy(api_token=TOKEN, base_url=BASE, retry=RetryPolicy.never()) as client:
        if call == "result":
            http.get(RESULT_ANY, body=deep, content_type="application/json")
            with pytest.raises(rc.MalformedResponseError):
                await client.result(RID)
        else:
            http.post(SUBMIT, body=deep, content_type="application/json")
            with pytest.raises(rc.SubmitOutcomeUnknownError):
                await client.submit(MODEL, {"prompt": "a fox"})


async def test_read_timeout_is_per_read_not_for_the_whole_answer() -> None:
    """An answer that trickles in, each piece well within the read timeout, is read whole
    although it takes longer than the read timeout in all."""

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        body = b'{"request_id": "req-1", "status": "in_queue"}'
        for start in range(0, len(body), 8):
            await response.write(body[start:start + 8])
            await anyio.sleep(0.25)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/requests/req-1/status", trickle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with AsyncRunComfy(api_token=TOKEN, base_url=f"http://127.0.0.1:{port}/v1",
                                 read_timeout=1.0, retry=RetryPolicy.never()) as client:
            status = await client.status("req-1")
    finally:
        await runner.cleanup()
    assert status.state is rc.JobState.QUEUED


def test_timeouts_mean_what_their_names_say() -> None:
    timeouts = rc.Timeouts(connect=2, read=3, total=40)
    # aiohttp times only the opening of a connection (the sweep times the rest) ...
    aio = timeouts.for_aiohttp()
    assert (aio.sock_connect, aio.sock_read, aio.total, aio.connect) == (2, None, None, None)
    # ... and the reads of an answer to a large upload, from the end of the upload.
    assert timeouts.for_aiohttp(time_reads=True).sock_read == 3
    with pytest.raises(rc.ConfigurationError, match="read"):
        rc.Timeouts(read=0)
