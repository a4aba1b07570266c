"""Each retry rule, with exact delays from an injected clock and random source."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import aiohttp
import pytest
from aioresponses import aioresponses

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, RetryPolicy

from .conftest import BASE, FakeClock

RID = "3f1c9a2e-0000-4000-8000-000000000002"
RESULT_URL = f"{BASE}/requests/{RID}/result"
SUBMIT_URL = f"{BASE}/models/ideogram/ideogram-v3/text-to-image"
MODEL = "ideogram/ideogram-v3/text-to-image"
DONE = {"request_id": RID, "status": "succeeded", "output": {"image": "https://cdn.test/a.png"}}


def post_count(http: aioresponses, url: str) -> int:
    return sum(
        len(calls)
        for (method, u), calls in http.requests.items()
        if method == "POST" and str(u) == url
    )


def get_count(http: aioresponses, url: str) -> int:
    return sum(
        len(calls)
        for (method, u), calls in http.requests.items()
        if method == "GET" and str(u).split("?")[0] == url
    )


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_gets_retry_transient_statuses(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock, status: int
) -> None:
    http.get(RESULT_URL, status=status, payload={"error_code": status * 1000 + 1})
    http.get(RESULT_URL, status=200, payload=DONE)
    result = await client.result(RID)
    assert result.state is rc.JobState.SUCCEEDED
    assert get_count(http, RESULT_URL) == 2


async def test_backoff_is_full_jitter_exponential_and_capped(
    http: aioresponses, clock: FakeClock
) -> None:
    policy = RetryPolicy(
        max_attempts=6, initial_delay=1.0, multiplier=2.0, max_delay=5.0, max_elapsed=1000
    )
    async with AsyncRunComfy(
        api_token="t", base_url=BASE, retry=policy, clock=clock, sleep=clock.sleep, rand=lambda: 0.5
    ) as client:
        for _ in range(5):
            http.get(RESULT_URL, status=500)
        http.get(RESULT_URL, status=200, payload=DONE)
        await client.result(RID)
    # cap per attempt: 1, 2, 4, 5 (capped), 5; full jitter with rand=0.5 halves each.
    assert clock.sleeps == [0.5, 1.0, 2.0, 2.5, 2.5]


async def test_gets_give_up_after_max_attempts(http: aioresponses, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=3)
    async with AsyncRunComfy(
        api_token="t", base_url=BASE, retry=policy, clock=clock, sleep=clock.sleep, rand=lambda: 0.0
    ) as client:
        for _ in range(3):
            http.get(RESULT_URL, status=503)
        with pytest.raises(rc.ServerError):
            await client.result(RID)
    assert get_count(http, RESULT_URL) == 3


async def test_gets_give_up_past_max_elapsed(http: aioresponses, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=100, initial_delay=10, max_delay=10, max_elapsed=25)
    async with AsyncRunComfy(
        api_token="t",
        base_url=BASE,
        retry=policy,
        clock=clock,
        sleep=clock.sleep,
        rand=lambda: 0.999,
    ) as client:
        for _ in range(10):
            http.get(RESULT_URL, status=500)
        with pytest.raises(rc.ServerError):
            await client.result(RID)
    assert sum(clock.sleeps) <= 25


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_other_4xx_are_never_retried(
    http: aioresponses, client: AsyncRunComfy, status: int
) -> None:
    http.get(RESULT_URL, status=status, payload={"error_code": status * 1000 + 1})
    with pytest.raises(rc.APIError):
        await client.result(RID)
    assert get_count(http, RESULT_URL) == 1


async def test_retry_after_seconds_is_honoured(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock
) -> None:
    http.get(RESULT_URL, status=429, headers={"Retry-After": "7"})
    http.get(RESULT_URL, status=200, payload=DONE)
    await client.result(RID)
    assert clock.sleeps == [7.0]


async def test_retry_after_http_date_is_honoured(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock
) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    http.get(RESULT_URL, status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    http.get(RESULT_URL, status=200, payload=DONE)
    await client.result(RID)
    assert len(clock.sleeps) == 1
    assert 27 <= clock.sleeps[0] <= 31


async def test_retry_after_beyond_the_cap_raises_rate_limited(
    http: aioresponses, clock: FakeClock
) -> None:
    policy = RetryPolicy(retry_after_cap=60)
    async with AsyncRunComfy(
        api_token="t", base_url=BASE, retry=policy, clock=clock, sleep=clock.sleep
    ) as client:
        http.get(RESULT_URL, status=429, headers={"Retry-After": "3600"})
        with pytest.raises(rc.RateLimitedError) as info:
            await client.result(RID)
    assert info.value.retry_after == 3600
    assert clock.sleeps == []
    assert "3600" in str(info.value)
    # Why the client gave up is its own attribute, told in str(); the message stays the
    # server's (a retried error is not edited in place).
    assert info.value.gave_up is not None
    assert "Retry-After 3600 s" in info.value.gave_up
    assert "Retry-After" not in info.value.message
    assert info.value.gave_up in str(info.value)


async def test_a_429_cools_down_every_request_of_the_client(
    http: aioresponses, client: AsyncRunComfy, clock: FakeClock
) -> None:
    other = "3f1c9a2e-0000-4000-8000-0000000000ff"
    http.get(RESULT_URL, status=429, headers={"Retry-After": "5"})
    http.get(RESULT_URL, status=200, payload=DONE)
    http.get(f"{BASE}/requests/{other}/result", status=200, payload={**DONE, "request_id": other})
    await client.result(RID)
    start = clock.now
    clock.now -= 2  # pretend the other request starts 2 s into the 5 s cool-down
    await client.result(other)
    assert clock.sleeps[-1] == pytest.approx(2.0)
    assert clock.now == pytest.approx(start)


async def test_retry_after_can_be_switched_off(http: aioresponses, clock: FakeClock) -> None:
    policy = RetryPolicy(honour_retry_after=False, initial_delay=1, multiplier=2)
    async with AsyncRunComfy(
        api_token="t", base_url=BASE, retry=policy, clock=clock, sleep=clock.sleep, rand=lambda: 0.5
    ) as client:
        http.get(RESULT_URL, status=429, headers={"Retry-After": "30"})
        http.get(RESULT_URL, status=200, payload=DONE)
        await client.result(RID)
    assert clock.sleeps == [0.5]


async def test_retry_hook_and_log_line_for_every_retry(
    http: aioresponses, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[rc.RetryEvent] = []
    async with AsyncRunComfy(
        api_token="t",
        base_url=BASE,
        clock=clock,
        sleep=clock.sleep,
        rand=lambda: 0.5,
        on_event=lambda e: events.append(e) if isinstance(e, rc.RetryEvent) else None,
    ) as client:
        http.get(RESULT_URL, status=503)
        http.get(RESULT_URL, status=500)
        http.get(RESULT_URL, status=200, payload=DONE)
        with caplog.at_level("INFO", logger="runcomfy_async"):
            await client.result(RID)
    assert [e.attempt for e in events] == [1, 2]
    assert all(e.request_id == RID and e.method == "GET" for e in events)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retry ")]
    assert lines[0].startswith("retry 1/6 in 0.25 s: service unavailable (503)")
    assert lines[1].startswith("retry 2/6 in 0.50 s: server error (HTTP 500)")


# --- Submits: retried only when they certainly did not arrive ------------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_ambiguous_submit_status_is_not_retried(
    http: aioresponses, client: AsyncRunComfy, status: int
) -> None:
    http.post(SUBMIT_URL, status=status, body="oops")
    with pytest.raises(rc.SubmitOutcomeUnknownError) as info:
        await client.submit(MODEL, {"prompt": "a fox"})
    assert post_count(http, SUBMIT_URL) == 1
    assert info.value.model_id == MODEL
    assert info.value.fingerprint == rc.input_fingerprint(MODEL, {"prompt": "a fox"})


async def test_submit_reset_after_sending_is_not_retried(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    http.post(SUBMIT_URL, exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(rc.SubmitOutcomeUnknownError):
        await client.submit(MODEL, {"prompt": "a fox"})
    assert post_count(http, SUBMIT_URL) == 1


async def test_submit_read_timeout_is_not_retried(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    http.post(SUBMIT_URL, exception=aiohttp.SocketTimeoutError("read"))
    with pytest.raises(rc.SubmitOutcomeUnknownError):
        await client.submit(MODEL, {"prompt": "a fox"})
    assert post_count(http, SUBMIT_URL) == 1


async def test_submit_200_with_5xx_code_is_ambiguous(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    http.post(SUBMIT_URL, status=200, payload={"error_code": 500001, "error_message": "x"})
    with pytest.raises(rc.SubmitOutcomeUnknownError):
        await client.submit(MODEL, {"prompt": "a fox"})
    assert post_count(http, SUBMIT_URL) == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_submit_declined_by_the_server_is_retried(
    http: aioresponses, client: AsyncRunComfy, status: int
) -> None:
    http.post(SUBMIT_URL, status=status, headers={"Retry-After": "1"})
    http.post(SUBMIT_URL, status=200, payload={"request_id": RID})
    job = await client.submit(MODEL, {"prompt": "a fox"})
    assert job.request_id == RID
    assert post_count(http, SUBMIT_URL) == 2


async def test_submit_connect_timeout_is_retried(http: aioresponses, client: AsyncRunComfy) -> None:
    http.post(SUBMIT_URL, exception=aiohttp.ConnectionTimeoutError("connect"))
    http.post(SUBMIT_URL, status=200, payload={"request_id": RID})
    job = await client.submit(MODEL, {"prompt": "a fox"})
    assert job.request_id == RID


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_submit_to_a_refused_connection_is_retried_then_fails_clearly(
    clock: FakeClock,
) -> None:
    port = _closed_port()
    attempts: list[rc.RetryEvent] = []
    async with AsyncRunComfy(
        api_token="t",
        base_url=f"http://127.0.0.1:{port}/v1",
        retry=RetryPolicy(max_attempts=3),
        clock=clock,
        sleep=clock.sleep,
        on_event=lambda e: attempts.append(e) if isinstance(e, rc.RetryEvent) else None,
    ) as client:
        with pytest.raises(rc.ConnectionFailedError, match="could not connect"):
            await client.submit(MODEL, {"prompt": "a fox"})
    assert len(attempts) == 2  # really retried, over real loopback, since nothing was sent


async def test_oversized_body_is_refused_before_sending(
    http: aioresponses, client: AsyncRunComfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runcomfy_async.http._transport.MAX_REQUEST_BYTES", 100)
    with pytest.raises(rc.InvalidInputError, match="at most 100 bytes"):
        await client.submit(MODEL, {"prompt": "x" * 200})
    assert post_count(http, SUBMIT_URL) == 0
