"""Faults on demand, per endpoint: each kind, their determinism, and their validation."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import aiohttp
import pytest

from runcomfy_async.sandbox import EndpointFaults, FaultPlan, Sandbox

from ._support import INSTANT, auth, call, submit

INPUT = {"prompt": "paid once"}
CANONICAL_INPUT = '{"prompt":"paid once"}'


async def test_rate_limit_answers_429_with_retry_after_in_seconds(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(models=EndpointFaults(rate_limit=1.0), retry_after_s=0.25)

    async with session.get(f"{sandbox.base_url}/models") as response:
        status, retry_after = response.status, response.headers["Retry-After"]

    assert (status, retry_after) == (429, "0.25")
    assert sandbox.stats.faults_by_kind["rate_limit"] == 1
    assert sandbox.stats.responses_by_status[429] == 1


async def test_rate_limit_can_write_retry_after_as_an_http_date(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(
        models=EndpointFaults(rate_limit=1.0), retry_after_s=30, retry_after_form="http-date"
    )

    async with session.get(f"{sandbox.base_url}/models") as response:
        when = parsedate_to_datetime(response.headers["Retry-After"])

    wait_s = (when - datetime.now(timezone.utc)).total_seconds()
    assert 28 <= wait_s <= 31


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_error_answers_the_status_with_a_json_body(
    sandbox: Sandbox, session: aiohttp.ClientSession, status: int
) -> None:
    sandbox.faults = FaultPlan(
        status=EndpointFaults(server_error=1.0),
        server_error_statuses=(status,),
        server_error_html_fraction=0.0,
    )

    code, body = await call(session, "GET", f"{sandbox.base_url}/requests/any/status")

    assert (code, body["error_code"]) == (status, 500001)


async def test_server_error_can_answer_an_html_page(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(
        result=EndpointFaults(server_error=1.0),
        server_error_statuses=(502,),
        server_error_html_fraction=1.0,
    )

    async with session.get(f"{sandbox.base_url}/requests/any/result") as response:
        status, content_type, text = response.status, response.content_type, await response.text()

    assert (status, content_type) == (502, "text/html")
    assert "502 Bad Gateway" in text


async def test_reset_drops_the_connection_without_an_answer(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(cancel=EndpointFaults(reset=1.0))

    with pytest.raises(aiohttp.ClientConnectionError):
        await call(session, "POST", f"{sandbox.base_url}/requests/any/cancel")

    assert sandbox.stats.faults_by_kind["reset"] == 1
    assert sum(sandbox.stats.responses_by_status.values()) == 0


async def test_slow_answers_after_the_delay(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(models=EndpointFaults(slow=1.0), slow_s=0.2)
    started = time.monotonic()

    status, _ = await call(session, "GET", f"{sandbox.base_url}/models")

    assert status == 200
    assert time.monotonic() - started >= 0.2


async def test_error_in_200_carries_an_error_code(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(submit=EndpointFaults(error_in_200=1.0))

    status, body = await call(
        session, "POST", f"{sandbox.base_url}/models/{INSTANT.model_id}", json=INPUT
    )

    assert (status, body["error_code"]) == (200, 500001)
    assert sandbox.stats.jobs_created == 0


async def test_accepted_then_dropped_creates_the_job_but_resets_the_connection(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(submit=EndpointFaults(accepted_then_dropped=1.0))

    with pytest.raises(aiohttp.ClientConnectionError):
        await call(session, "POST", f"{sandbox.base_url}/models/{INSTANT.model_id}", json=INPUT)

    stats = sandbox.stats
    assert stats.jobs_created == 1
    assert stats.submissions_by_input == {CANONICAL_INPUT: 1}
    assert stats.faults_by_kind["accepted_then_dropped"] == 1
    sandbox.faults = FaultPlan()
    status, body = await call(
        session, "GET", f"{sandbox.base_url}/requests/{stats.jobs[0].request_id}/result"
    )
    assert (status, body["status"]) == (200, "succeeded")


async def test_accepted_then_dropped_answers_a_refused_input_normally(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(submit=EndpointFaults(accepted_then_dropped=1.0))

    status, _ = await call(
        session, "POST", f"{sandbox.base_url}/models/{INSTANT.model_id}", json={"no": "prompt"}
    )

    assert status == 422
    assert sandbox.stats.jobs_created == 0


async def test_faults_hit_only_their_endpoint(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan(status=EndpointFaults(rate_limit=1.0))

    job = await submit(session, sandbox.base_url, INSTANT.model_id, INPUT)
    status_code, _ = await call(session, "GET", job["status_url"])
    result_code, _ = await call(session, "GET", job["result_url"])

    assert (status_code, result_code) == (429, 200)


async def test_faults_can_be_turned_off_at_run_time(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.faults = FaultPlan.uniform(rate_limit=1.0)
    faulted, _ = await call(session, "GET", f"{sandbox.base_url}/models")

    sandbox.faults = FaultPlan()
    healthy, _ = await call(session, "GET", f"{sandbox.base_url}/models")

    assert (faulted, healthy) == (429, 200)


async def statuses_for(seed: int, count: int) -> list[int]:
    """The statuses of `count` catalog calls on a faulty sandbox seeded with `seed`."""
    plan = FaultPlan.uniform(rate_limit=0.3, server_error=0.3, error_in_200=0.2)
    async with (
        Sandbox(seed=seed, faults=plan) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        statuses = []
        for _ in range(count):
            async with session.get(f"{sb.base_url}/models") as response:
                body = await response.read()
                statuses.append(response.status * (2 if b"error_code" in body else 1))
        return statuses


async def test_faults_are_the_same_for_the_same_seed() -> None:
    first = await statuses_for(seed=3, count=40)
    again = await statuses_for(seed=3, count=40)
    other = await statuses_for(seed=4, count=40)

    assert first == again
    assert first != other
    assert len(set(first)) > 2


@pytest.mark.parametrize(
    "build",
    [
        lambda: EndpointFaults(rate_limit=1.5),
        lambda: EndpointFaults(reset=-0.1),
        lambda: EndpointFaults(rate_limit=0.6, server_error=0.6),
        lambda: FaultPlan(status=EndpointFaults(accepted_then_dropped=0.1)),
        lambda: FaultPlan(retry_after_s=float("inf")),
        lambda: FaultPlan(server_error_statuses=(404,)),
    ],
    ids=[
        "above one",
        "negative",
        "sum above one",
        "dropped off submit",
        "infinite wait",
        "not 5xx",
    ],
)
def test_fault_plans_reject_nonsense(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()
