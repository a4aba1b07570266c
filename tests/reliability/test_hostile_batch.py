"""A whole batch against a hostile server: whatever ``/result`` (and ``/cancel``) answer,
every input gets exactly one outcome and no exception escapes the batch.

The server accepts every submit and then answers each poll from a script drawn by
hypothesis: arbitrary JSON, odd states, absurd numbers and timestamps, error bodies in 200s.
A job whose script never ends is given up on at the job timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator

import anyio
import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runcomfy_async as rc
from runcomfy_async import FixedIntervalPoll, RetryPolicy

SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MODEL = "acme/model"
INPUTS = 3
JOB_TIMEOUT_S = 0.15
BATCH_BOUND_S = 10.0


@attrs.define
class Script:
    answers: list[tuple[int, bytes]] = attrs.field(factory=list)
    polls: dict[str, int] = attrs.field(factory=dict)
    submit_answer: tuple[int, bytes] | None = None


@attrs.define
class Rig:
    loop: asyncio.AbstractEventLoop
    script: Script
    base_url: str


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    script = Script()
    ids = itertools.count()

    async def submit(_: web.Request) -> web.StreamResponse:
        if script.submit_answer is not None:
            status, body = script.submit_answer
            return web.Response(status=status, body=body, content_type="application/json")
        return web.json_response({"request_id": f"r-{next(ids)}"})

    async def result(request: web.Request) -> web.StreamResponse:
        rid = request.match_info["rid"]
        n = script.polls.get(rid, 0)
        script.polls[rid] = n + 1
        status, body = script.answers[min(n, len(script.answers) - 1)]
        return web.Response(status=status, body=body, content_type="application/json")

    async def cancel(request: web.Request) -> web.StreamResponse:
        return web.json_response({"request_id": request.match_info["rid"], "status": "cancelled",
                                  "outcome": "cancelled"}, status=202)

    app = web.Application()
    app.router.add_post("/v1/models/{model:.+}", submit)
    app.router.add_get("/v1/requests/{rid}/result", result)
    app.router.add_post("/v1/requests/{rid}/cancel", cancel)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    yield Rig(loop, script, f"http://127.0.0.1:{port}/v1")
    loop.run_until_complete(runner.cleanup())
    loop.close()


async def _run_batch(base_url: str) -> list[rc.Outcome]:
    retry = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.002,
                        retry_after_cap=0.01, max_elapsed=0.5)
    client = rc.AsyncRunComfy(api_token="tok-hostile-batch", base_url=base_url, retry=retry,
                              read_timeout=0.5)
    with anyio.fail_after(BATCH_BOUND_S):
        async with client, client.map(
            MODEL, [{"prompt": f"p{i}"} for i in range(INPUTS)], job_timeout=JOB_TIMEOUT_S,
            poll=FixedIntervalPoll(0.01, first_at_once=True), include_cost=True,
            cancel_timeout=1.0,
        ) as batch:
            return [o async for o in batch]


STATES = ["succeeded", "failed", "completed", "cancelled", "canceled", "in_queue", "in_progress",
          "pending", "SUCCEEDED", "mystery", "", None, 7]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8,
)
timestamps = st.one_of(
    st.sampled_from(["2026-01-01T00:00:00Z", "not a date", "0001-01-01T00:00:00+23:59",
                     "9999-12-31T23:59:59-23:59", "", "2026-13-45T99:99:99"]),
    st.integers(-(10**12), 10**12), st.floats(allow_nan=False), json_values,
)
result_bodies = st.fixed_dictionaries(
    {"status": st.sampled_from(STATES) | json_values},
    optional={
        "request_id": st.sampled_from(["r-0", "someone-else", ""]) | json_values,
        "output": json_values | st.fixed_dictionaries(
            {"images": st.lists(st.sampled_from(["https://cdn.runcomfy.net/a.png",
                                                 "http://127.0.0.1:9/x.png", "nope"]))}),
        "error": json_values,
        "cost": st.floats(allow_nan=False) | st.integers(-(10**30), 10**30) | json_values,
        "created_at": timestamps,
        "finished_at": timestamps,
        "started_at": timestamps,
        "queue_position": st.integers() | st.text(max_size=4) | json_values,
        "error_code": st.sampled_from([0, 500001, 404001, 429001, "x", None]) | json_values,
        "error_message": json_values,
    },
)
answers = st.tuples(
    st.sampled_from([200, 200, 200, 202, 404, 429, 500, 503]),
    result_bodies.map(lambda b: json.dumps(b).encode()) | st.binary(max_size=30),
)


@SETTINGS
@given(script=st.lists(answers, min_size=1, max_size=4))
def test_any_result_answers_give_each_input_one_outcome_and_raise_nothing(
    rig: Rig, script: list[tuple[int, bytes]]
) -> None:
    rig.script.answers, rig.script.submit_answer = script, None
    outcomes = rig.loop.run_until_complete(_run_batch(rig.base_url))
    assert sorted(o.index for o in outcomes) == list(range(INPUTS))
    for outcome in outcomes:
        assert outcome.ok or isinstance(outcome.error, rc.RunComfyError)


SUBMIT_IDS = st.sampled_from(["", " ", "../../models/x", "a/b", "a?b#c", "x" * 5000, "é", "%2e%2e",
                              "r-1\r\nX-Injected: 1"]) | json_values


@settings(SETTINGS, max_examples=15)
@given(status=st.sampled_from([200, 201, 202, 400, 409, 500, 503]),
       body=st.fixed_dictionaries({"request_id": SUBMIT_IDS},
                                  optional={"status": json_values, "error_code": json_values})
       .map(lambda b: json.dumps(b).encode()) | st.binary(max_size=30))
def test_any_submit_answer_gives_each_input_one_outcome_and_raises_nothing(
    rig: Rig, status: int, body: bytes
) -> None:
    rig.script.submit_answer = (status, body)
    rig.script.answers = [(200, b'{"status": "succeeded", "output": {}}')]
    try:
        outcomes = rig.loop.run_until_complete(_run_batch(rig.base_url))
    finally:
        rig.script.submit_answer = None
    assert sorted(o.index for o in outcomes) == list(range(INPUTS))


# Numbers beyond float range once escaped the parsers as OverflowError (found by this suite).
ABSURD_NUMBERS = {
    "huge-cost": b'{"request_id": "r", "status": "succeeded", "cost": 1' + b"0" * 400 + b"}",
    "infinite-error-code": b'{"request_id": "r", "status": "succeeded", "error_code": 1e999}',
}


@pytest.mark.parametrize("body", list(ABSURD_NUMBERS.values()), ids=list(ABSURD_NUMBERS))
def test_an_absurd_number_in_a_result_does_not_break_the_batch(rig: Rig, body: bytes) -> None:
    rig.script.answers = [(200, body)]
    outcomes = rig.loop.run_until_complete(_run_batch(rig.base_url))
    assert sorted(o.index for o in outcomes) == list(range(INPUTS))
