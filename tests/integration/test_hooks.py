"""One hook protocol: a callable taking one event, for the client and for each call.

The client's ``on_event`` hears every request, retry and job event of the client, in
``run``/``wait`` and in batches alike; a call's own ``on_event`` hears its own. What a hook
raises is logged and swallowed, whichever event it was. The OpenTelemetry hook is one such
hook, checked here with the SDK's in-memory exporter.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import runcomfy_async as rc
from runcomfy_async.core._events import RequestFinished
from runcomfy_async.sandbox import EndpointFaults, FaultPlan, ModelSpec, Sandbox
from runcomfy_async.telemetry import SPAN_NAME, OpenTelemetryHook

pytestmark = pytest.mark.timeout(60)

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"prompt": {"type": "string"}}}
QUICK = "test/quick"
BROKEN = "test/broken"
FAST_POLLS = rc.PollSchedule(first_delay=0.01, growth=1.0, max_delay=0.01)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    models = [
        ModelSpec(QUICK, SCHEMA, median_s=1.0, base_price_usd=0.5),
        ModelSpec(BROKEN, SCHEMA, failure_rate=1.0),
    ]
    async with Sandbox(models=models, time_scale=0.01, seed=5) as sb:
        yield sb


def client_of(sb: Sandbox, **kwargs: Any) -> rc.AsyncRunComfy:
    kwargs.setdefault("retry", rc.RetryPolicy(initial_delay=0.01, max_delay=0.02))
    return rc.AsyncRunComfy(sb.token, sb.base_url, poll=FAST_POLLS, **kwargs)


def kinds(events: list[Any]) -> list[str]:
    return [type(event).__name__ for event in events]


async def test_the_client_hook_hears_requests_and_the_jobs_of_run(sandbox: Sandbox) -> None:
    events: list[Any] = []
    async with client_of(sandbox, on_event=events.append) as client:
        result = await client.run(QUICK, {"prompt": "a fox"})
    requests = [e for e in events if isinstance(e, RequestFinished)]
    assert next((r.method, r.status, r.error) for r in requests) == ("POST", None, None)
    assert {r.path.split("/")[-1] for r in requests[1:]} == {"result"}
    assert all(r.seconds >= 0 for r in requests)
    jobs = [e for e in events if not isinstance(e, RequestFinished)]
    assert kinds(jobs)[0] == "JobSubmitted"
    assert kinds(jobs)[-1] == "JobEnded"
    assert {e.request_id for e in jobs} == {result.request_id}
    assert jobs[-1].result.state is rc.JobState.SUCCEEDED


async def test_the_client_hook_hears_retries_and_batches_and_each_call_its_own(
    sandbox: Sandbox,
) -> None:
    client_events: list[Any] = []
    batch_events: list[Any] = []
    async with client_of(sandbox, on_event=client_events.append) as client:
        # Polls answered 503 until the wait's deadline: each is retried, and said so.
        sandbox.faults = FaultPlan(result=EndpointFaults(server_error=1.0),
                                   server_error_statuses=(503,))
        lone = await client.submit(QUICK, {"prompt": "alone"})
        with pytest.raises(rc.WaitTimeoutError):
            await client.wait(lone.request_id, timeout=0.3)
        sandbox.faults = FaultPlan()
        async with client.map(QUICK, [{"prompt": f"p{i}"} for i in range(3)],
                              on_event=batch_events.append) as outcomes:
            batch = [outcome async for outcome in outcomes]
    retries = [e for e in client_events if isinstance(e, rc.RetryEvent)]
    assert retries
    assert {e.request_id for e in retries} == {lone.request_id}
    assert any(isinstance(e, RequestFinished) and e.status == 503 for e in client_events)
    completed = [e for e in batch_events if isinstance(e, rc.JobCompleted)]
    assert sorted(e.outcome.index for e in completed) == [0, 1, 2]
    # The batch's hook heard its own jobs only; the client's heard both.
    batch_ids = {o.request_id for o in batch}
    assert {e.request_id for e in batch_events if isinstance(e, rc.JobSubmitted)} == batch_ids
    heard = {e.request_id for e in client_events if isinstance(e, rc.JobSubmitted)}
    assert heard == batch_ids | {lone.request_id}
    assert sum(isinstance(e, rc.JobCompleted) for e in client_events) == 3


async def test_a_hook_that_raises_is_logged_and_never_breaks_a_call(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken(event: object) -> None:
        seen.append(type(event).__name__)
        raise RuntimeError("a broken progress bar")

    with caplog.at_level(logging.ERROR, logger="runcomfy_async"):
        async with client_of(sandbox, on_event=broken) as client:
            result = await client.wait(
                (await client.submit(QUICK, {"prompt": "x"})).request_id, on_event=broken
            )
            async with client.map(QUICK, [{"prompt": "y"}], on_event=broken) as outcomes:
                (outcome,) = [o async for o in outcomes]
    assert result.ok
    assert outcome.ok
    assert {"RequestFinished", "JobSubmitted", "JobStateChanged", "JobEnded",
            "JobCompleted"} <= set(seen)
    assert "an event hook raised" in caplog.text


async def test_opentelemetry_makes_a_span_per_job(sandbox: Sandbox) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hook = OpenTelemetryHook(provider)
    async with client_of(sandbox, on_event=hook) as client:
        single = await client.run(QUICK, {"prompt": "one"}, include_cost=True)
        async with client.map(None, [(QUICK, {"prompt": "two"}), (BROKEN, {"prompt": "x"})],
                              ) as outcomes:
            batch = {o.index: o async for o in outcomes}
    assert hook.open_spans == 0
    spans = {span.attributes["runcomfy.request_id"]: span
             for span in exporter.get_finished_spans()}
    assert {span.name for span in spans.values()} == {SPAN_NAME}
    assert set(spans) == {single.request_id, batch[0].request_id, batch[1].request_id}
    one = spans[single.request_id]
    assert one.attributes["runcomfy.model_id"] == QUICK
    assert one.attributes["runcomfy.state"] == "succeeded"
    assert one.attributes["runcomfy.cost_usd"] == 0.5
    assert one.status.status_code is StatusCode.OK
    assert any(event.name == "state" for event in one.events)
    failed = spans[batch[1].request_id]
    assert failed.attributes["runcomfy.state"] == "failed"
    assert failed.attributes["runcomfy.batch_index"] == 1
    assert failed.status.status_code is StatusCode.ERROR
    assert spans[batch[0].request_id].attributes["runcomfy.cost_usd"] == 0.5


def test_spans_of_jobs_never_seen_over_are_ended_on_close() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hook = OpenTelemetryHook(provider)
    hook(rc.JobSubmitted(index=None, model_id=QUICK, request_id="r1", attempt=1))
    assert hook.open_spans == 1
    hook.close()
    (span,) = exporter.get_finished_spans()
    assert span.attributes["runcomfy.abandoned"] is True
