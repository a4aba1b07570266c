"""wait() and run(): polling /result on a schedule, deadlines, cancel-on-cancellation."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from aioresponses import aioresponses

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, PollSchedule

from .conftest import BASE, FakeClock

RID = "3f1c9a2e-0000-4000-8000-000000000003"
RESULT_URL = f"{BASE}/requests/{RID}/result"
CANCEL_URL = f"{BASE}/requests/{RID}/cancel"
QUEUED = {"request_id": RID, "status": "in_queue"}
RUNNING = {"request_id": RID, "status": "in_progress"}
DONE = {
    "request_id": RID,
    "status": "succeeded",
    "output": {"images": ["https://cdn.test/1.png", "https://cdn.test/2.png"]},
    "created_at": "2026-11-21T10:00:00+00:00",
    "finished_at": "2026-11-21T10:00:09Z",
}


def calls(http: aioresponses, method: str, url: str) -> int:
    return sum(
        len(c) for (m, u), c in http.requests.items() if m == method and str(u).split("?")[0] == url
    )


async def test_wait_polls_result_on_the_schedule_until_done(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock
) -> None:
    http.get(RESULT_URL, payload=QUEUED)
    http.get(RESULT_URL, payload=RUNNING)
    http.get(RESULT_URL, payload=RUNNING)
    http.get(RESULT_URL, payload=DONE)
    schedule = PollSchedule(first_delay=1, growth=2, max_delay=3, jitter=0)
    result = await client.wait(RID, poll=schedule, timeout=60)
    assert result.outputs == ("https://cdn.test/1.png", "https://cdn.test/2.png")
    assert clock.sleeps == [1, 2, 3]
    assert result.finished_at is not None
    assert result.finished_at.second == 9


async def test_unknown_state_keeps_polling_and_surfaces_raw(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock
) -> None:
    seen: list[rc.JobStateChanged] = []
    http.get(RESULT_URL, payload={"request_id": RID, "status": "warming_up", "extra": 1})
    http.get(RESULT_URL, payload=DONE)
    result = await client.wait(
        RID, timeout=60,
        on_event=lambda e: seen.append(e) if isinstance(e, rc.JobStateChanged) else None,
    )
    assert seen[0].state is rc.JobState.UNKNOWN
    assert seen[0].raw_state == "warming_up"
    assert result.ok


async def test_failed_job_raises_with_its_result(http: aioresponses, client: AsyncRunComfy) -> None:
    error = [{"errorCode": "E1", "error": "GPU fell over", "debugInfo": "x"}]
    http.get(RESULT_URL, payload={"request_id": RID, "status": "failed", "error": error})
    with pytest.raises(rc.JobFailedError, match="GPU fell over") as info:
        await client.wait(RID, timeout=60)
    assert info.value.error == error
    assert info.value.result.state is rc.JobState.FAILED


async def test_failed_job_returned_when_asked(http: aioresponses, client: AsyncRunComfy) -> None:
    http.get(RESULT_URL, payload={"request_id": RID, "status": "failed", "error": "boom"})
    result = await client.wait(RID, raise_on_failure=False, timeout=60)
    assert result.state is rc.JobState.FAILED


async def test_cancelled_job_raises(http: aioresponses, client: AsyncRunComfy) -> None:
    http.get(RESULT_URL, payload={"request_id": RID, "status": "canceled"})
    with pytest.raises(rc.JobCancelledError):
        await client.wait(RID, timeout=60)


async def test_wait_timeout_cancels_a_queued_job(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock
) -> None:
    for _ in range(20):
        http.get(RESULT_URL, payload=QUEUED)
    http.post(
        CANCEL_URL,
        status=202,
        payload={"request_id": RID, "status": "cancelled", "outcome": "cancelled"},
    )
    with pytest.raises(rc.WaitTimeoutError) as info:
        await client.wait(RID, cancel_on_exit=True, timeout=5, poll=PollSchedule.fixed(1))
    assert info.value.last_state is rc.JobState.QUEUED
    assert info.value.cancelled_remotely is True
    assert calls(http, "POST", CANCEL_URL) == 1
    assert "cancelled" in str(info.value)
    assert sum(clock.sleeps) == pytest.approx(5)


async def test_wait_timeout_of_a_running_job_says_it_may_be_billed(
    http: aioresponses, client: AsyncRunComfy, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(20):
        http.get(RESULT_URL, payload=RUNNING)
    with pytest.raises(rc.WaitTimeoutError) as info:
        await client.wait(RID, cancel_on_exit=True, timeout=3, poll=PollSchedule.fixed(1))
    assert info.value.last_state is rc.JobState.RUNNING
    assert info.value.cancelled_remotely is None
    assert calls(http, "POST", CANCEL_URL) == 0
    assert any(RID in r.getMessage() and "billed" in r.getMessage() for r in caplog.records)


async def test_cancelling_the_waiter_cancels_a_queued_job_remotely(
    http: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    # Real time here: the waiter is cancelled from outside, by plain asyncio.
    for _ in range(50):
        http.get(RESULT_URL, payload=QUEUED)
    http.post(
        CANCEL_URL,
        status=202,
        payload={"request_id": RID, "status": "cancelled", "outcome": "cancelled"},
    )
    async with AsyncRunComfy(api_token="t", base_url=BASE, poll=PollSchedule.fixed(0.01)) as client:
        task = asyncio.ensure_future(client.wait(RID, cancel_on_exit=True, timeout=60))
        await asyncio.sleep(0.05)
        task.cancel()
        with (
            caplog.at_level("INFO", logger="runcomfy_async"),
            pytest.raises(asyncio.CancelledError),
        ):
            await task
    assert calls(http, "POST", CANCEL_URL) == 1
    assert any(
        RID in r.getMessage() and "has been cancelled" in r.getMessage() for r in caplog.records
    )


async def test_anyio_cancel_scope_cancels_a_queued_job_remotely(http: aioresponses) -> None:
    for _ in range(50):
        http.get(RESULT_URL, payload=QUEUED)
    http.post(
        CANCEL_URL,
        status=202,
        payload={"request_id": RID, "status": "in_queue", "outcome": "cancelled"},
    )
    async with AsyncRunComfy(api_token="t", base_url=BASE, poll=PollSchedule.fixed(0.01)) as client:
        with anyio.move_on_after(0.05):
            await client.wait(RID, cancel_on_exit=True, timeout=60)
    assert calls(http, "POST", CANCEL_URL) == 1


async def test_run_is_submit_then_wait(http: aioresponses, client: AsyncRunComfy) -> None:
    http.post(f"{BASE}/models/a/b/c", payload={"request_id": RID})
    http.get(RESULT_URL, payload=DONE)
    result = await client.run("a/b/c", {"prompt": "x"}, timeout=60)
    assert result.ok
    assert result.request_id == RID


async def test_cancelled_during_submit_still_gets_the_id_and_cancels_it(
    http: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    async def slow_answer(url: object, **kwargs: object) -> None:
        await asyncio.sleep(0.1)

    http.post(f"{BASE}/models/a/b", payload={"request_id": RID}, callback=slow_answer)
    http.post(
        CANCEL_URL,
        status=202,
        payload={"request_id": RID, "status": "cancelled", "outcome": "cancelled"},
    )
    async with AsyncRunComfy(api_token="t", base_url=BASE) as client:
        task = asyncio.ensure_future(client.run("a/b", {"prompt": "x"}))
        await asyncio.sleep(0.02)
        task.cancel()
        with (
            caplog.at_level("INFO", logger="runcomfy_async"),
            pytest.raises(asyncio.CancelledError),
        ):
            await task
    assert calls(http, "POST", CANCEL_URL) == 1
    assert any(RID in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
async def test_wait_refuses_a_nonsense_timeout(client: AsyncRunComfy, timeout: float) -> None:
    with pytest.raises(rc.ConfigurationError):
        await client.wait(RID, timeout=timeout)


async def test_the_first_terminal_answer_wins_even_if_a_later_one_goes_back(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    # A result that turns back from terminal to non-terminal is not followed: the wait ends
    # at the first terminal answer, as a batch concludes its input there.
    http.get(RESULT_URL, payload=DONE)
    http.get(RESULT_URL, payload=QUEUED, repeat=True)
    result = await client.wait(RID, timeout=60)
    assert result.state is rc.JobState.SUCCEEDED
    assert calls(http, "GET", RESULT_URL) == 1
