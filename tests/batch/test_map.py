"""client.map: exactly one outcome per input, lazily, with bounded in-flight work."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, OutcomeState
from runcomfy_async.sandbox import EndpointFaults, FaultPlan, Sandbox

from .conftest import FAST, FLAKY, SLOW, VARIED, CountingInputs, make_client, prompts


async def collect(batch: rc.Batch) -> list[rc.Outcome]:
    async with batch as outcomes:
        return [outcome async for outcome in outcomes]


async def test_every_input_gets_exactly_one_outcome(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    outcomes = await collect(client.map(VARIED, prompts(120), max_in_flight=32))
    assert sorted(o.index for o in outcomes) == list(range(120))
    assert all(o.ok for o in outcomes)
    assert all(o.outputs and o.request_id for o in outcomes)
    assert {o.input["prompt"] for o in outcomes} == {f"p {i}" for i in range(120)}
    counts = sandbox.stats.snapshot().submissions_by_input
    assert len(counts) == 120
    assert set(counts.values()) == {1}


async def test_inputs_are_pulled_lazily(client: AsyncRunComfy) -> None:
    inputs = CountingInputs(prompts(200))
    async with client.map(FAST, inputs, max_in_flight=8) as outcomes:
        seen = 0
        async for _ in outcomes:
            seen += 1
            # Never more than max_in_flight pulled beyond what was handed back.
            assert inputs.pulled <= seen + 8
            if seen == 20:
                await anyio.sleep(0.05)  # a slow consumer: the batch must wait for it
                assert inputs.pulled <= seen + 8
    assert seen == 200


async def test_async_iterable_inputs(client: AsyncRunComfy) -> None:
    async def gen() -> Any:
        for i in range(30):
            await anyio.lowlevel.checkpoint()
            yield {"prompt": f"a {i}"}

    outcomes = await collect(client.map(FAST, gen()))
    assert sorted(o.index for o in outcomes) == list(range(30))


async def test_ordered_mode_hands_back_in_input_order(client: AsyncRunComfy) -> None:
    outcomes = await collect(client.map(VARIED, prompts(60), ordered=True, max_in_flight=16))
    assert [o.index for o in outcomes] == list(range(60))


async def test_failed_jobs_are_outcomes_not_exceptions(client: AsyncRunComfy) -> None:
    outcomes = await collect(client.map(FLAKY, prompts(60)))
    states = Counter(o.state for o in outcomes)
    assert states[OutcomeState.FAILED] > 5
    assert states[OutcomeState.SUCCEEDED] > 5
    failed = next(o for o in outcomes if o.state is OutcomeState.FAILED)
    assert isinstance(failed.error, rc.JobFailedError)
    assert failed.result is not None
    assert failed.result.error is not None
    ok = next(o for o in outcomes if o.ok)
    assert len(ok.outputs) == 2


async def test_resubmit_failed_only_when_asked(client: AsyncRunComfy, sandbox: Sandbox) -> None:
    outcomes = await collect(client.map(FLAKY, prompts(40), resubmit_failed=3))
    retried = [o for o in outcomes if o.attempts > 1]
    assert retried, "some jobs should have been resubmitted"
    counts = sandbox.stats.snapshot().submissions_by_input
    for o in outcomes:
        assert counts[f'{{"prompt":"{o.input["prompt"]}"}}'] == o.attempts
    assert sum(1 for o in outcomes if o.ok) > sum(1 for o in outcomes if not o.ok)


async def test_fail_fast_raises_at_the_first_failure(client: AsyncRunComfy) -> None:
    with pytest.raises(rc.BatchAbortedError) as info:
        await collect(client.map(FLAKY, prompts(60), fail_fast=True))
    assert info.value.outcome.state is OutcomeState.FAILED


async def test_invalid_inputs_are_rejected_outcomes_without_a_request(
    client: AsyncRunComfy, sandbox: Sandbox
) -> None:
    inputs: list[Any] = [{"prompt": "fine"}, "not a mapping", {"prompt": "also fine"}]
    outcomes = await collect(client.map(FAST, inputs))
    by_index = {o.index: o for o in outcomes}
    assert by_index[1].state is OutcomeState.REFUSED
    assert isinstance(by_index[1].error, rc.InvalidInputError)
    assert by_index[1].request_id is None
    assert sandbox.stats.snapshot().jobs_created == 2


async def test_server_side_422_is_a_rejected_outcome(client: AsyncRunComfy) -> None:
    outcomes = await collect(client.map(FAST, [{"prompt": "ok"}, {"seed": 3}]))
    by_index = {o.index: o for o in outcomes}
    assert by_index[0].ok
    assert by_index[1].state is OutcomeState.REFUSED
    assert isinstance(by_index[1].error, rc.InvalidRequestError)
    assert "prompt" in str(by_index[1].error)


async def test_mixed_model_batch(client: AsyncRunComfy) -> None:
    inputs = [(FAST, {"prompt": "a"}), (FLAKY, {"prompt": "b"}), (VARIED, {"prompt": "c"})]
    outcomes = await collect(client.map(None, inputs))
    assert {o.model_id for o in outcomes} == {FAST, FLAKY, VARIED}


async def test_mixed_batch_needs_a_model_for_each_input(client: AsyncRunComfy) -> None:
    outcomes = await collect(client.map(None, [{"prompt": "no model"}]))
    assert outcomes[0].state is OutcomeState.REFUSED


def our_tasks() -> set[asyncio.Task[Any]]:
    """Tasks running the library's code (the sandbox's server tasks excluded)."""
    out = set()
    for task in asyncio.all_tasks():
        module = getattr(task.get_coro(), "cr_code", None)
        filename = module.co_filename if module is not None else ""
        if "runcomfy_async" in filename and "sandbox" not in filename:
            out.add(task)
    return out


async def test_early_break_cancels_queued_jobs_and_leaves_no_task(sandbox: Sandbox) -> None:
    before = our_tasks()
    async with make_client(sandbox) as client:
        batch = client.map(SLOW, prompts(40), max_in_flight=30)
        async with batch as outcomes:
            async for first in outcomes:
                assert first.ok
                break
    report = batch.cancel_report
    assert report is not None
    assert report.cancelled
    assert sandbox.stats.snapshot().cancellations == len(report.cancelled)
    assert our_tasks() == before


async def test_leaving_the_block_early_cancels_queued_jobs(sandbox: Sandbox) -> None:
    events: list[Any] = []
    before = our_tasks()
    async with make_client(sandbox) as client:
        batch = client.map(SLOW, prompts(40), max_in_flight=20, on_event=events.append)
        async with batch as outcomes:
            while outcomes.progress.submits < 20:
                await anyio.sleep(0.01)
    report = batch.cancel_report
    assert report is not None
    # 8 sandbox workers run jobs; the other 12 were queued and are cancelled.
    assert len(report.cancelled) == 12
    assert len(report.not_cancelled) == 8
    assert sandbox.stats.snapshot().cancellations == 12
    assert any(isinstance(e, rc.CancelReport) for e in events)
    assert our_tasks() == before


async def test_consumer_exception_propagates_after_cleanup(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        batch = client.map(VARIED, prompts(40), max_in_flight=30)
        async def consume() -> None:
            async with batch as outcomes:
                async for _ in outcomes:
                    raise KeyError("consumer bug")

        with pytest.raises(KeyError, match="consumer bug"):
            await consume()
    assert batch.cancel_report is not None
    assert sandbox.stats.snapshot().cancellations == len(batch.cancel_report.cancelled)


async def test_cancelling_the_consuming_task_cleans_up(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        batch = client.map(SLOW, prompts(30), max_in_flight=30)

        async def consume() -> None:
            async with batch as outcomes:
                async for _ in outcomes:
                    pass

        task = asyncio.ensure_future(consume())
        await anyio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert batch.cancel_report is not None
    assert len(batch.cancel_report.cancelled) == 22


async def test_per_job_timeout_withdraws_queued_jobs_and_times_out_running_ones(
    sandbox: Sandbox,
) -> None:
    async with make_client(sandbox) as client:
        outcomes = await collect(client.map(SLOW, prompts(12), job_timeout=0.3))
    queued = [o for o in outcomes if o.state is OutcomeState.WITHDRAWN]
    running = [o for o in outcomes if o.state is OutcomeState.TIMED_OUT]
    assert len(queued) == 4
    assert len(running) == 8
    assert all(o.error.cancelled_remotely for o in queued)  # type: ignore[union-attr]
    assert not any(o.error.cancelled_remotely for o in running)  # type: ignore[union-attr]
    assert sandbox.stats.snapshot().cancellations == 4


async def test_batch_deadline_stops_pulling_inputs(sandbox: Sandbox) -> None:
    inputs = CountingInputs(prompts(1000))
    async with make_client(sandbox) as client:
        outcomes = await collect(client.map(SLOW, inputs, deadline=0.3, max_in_flight=10))
    assert len(outcomes) == inputs.pulled <= 10
    assert {o.state for o in outcomes} <= {OutcomeState.TIMED_OUT, OutcomeState.WITHDRAWN}


async def test_authentication_failure_ends_the_batch(sandbox: Sandbox) -> None:
    async with rc.AsyncRunComfy(api_token="wrong", base_url=sandbox.base_url) as client:
        with pytest.raises(rc.AuthenticationError):
            await collect(client.map(FAST, prompts(10)))


async def test_events_and_progress(client: AsyncRunComfy) -> None:
    events: list[Any] = []
    batch = client.map(FAST, prompts(10), on_event=events.append)
    outcomes = await collect(batch)
    kinds = Counter(type(e).__name__ for e in events)
    assert kinds["JobSubmitted"] == 10
    assert kinds["JobCompleted"] == 10
    assert batch.progress.succeeded == 10
    assert batch.progress.in_flight == 0
    assert batch.progress.submits == 10
    assert batch.progress.polls >= 10
    assert len(outcomes) == 10


async def test_timings_and_lag(client: AsyncRunComfy) -> None:
    outcomes = await collect(client.map(VARIED, prompts(20)))
    for o in outcomes:
        t = o.timings
        assert t.submitted_at
        assert t.finished_at
        assert t.detected_at
        assert t.submitted_at <= t.detected_at
        assert t.lag is not None
        assert t.lag > -0.05  # clocks of one machine; no bound on how late (no timing)


async def test_using_the_batch_without_async_with_is_a_clear_error(
    client: AsyncRunComfy,
) -> None:
    with pytest.raises(TypeError, match="async with"):
        async for _ in client.map(FAST, prompts(1)):
            pass  # pragma: no cover


async def test_a_429_storm_slows_submits_and_fails_nothing(sandbox: Sandbox) -> None:
    sandbox.faults = FaultPlan(
        submit=EndpointFaults(rate_limit=0.3), result=EndpointFaults(rate_limit=0.3),
        retry_after_s=0.02,
    )
    events: list[Any] = []
    async with make_client(sandbox) as client:
        outcomes = await collect(client.map(FAST, prompts(150), on_event=events.append))
    assert all(o.ok for o in outcomes)
    assert len(outcomes) == 150
    assert any(isinstance(e, rc.RateChanged) for e in events)
    counts = sandbox.stats.snapshot().submissions_by_input
    assert set(counts.values()) == {1}


async def test_with_every_fault_each_input_has_one_outcome_and_no_double_submit(
    sandbox: Sandbox,
) -> None:
    sandbox.faults = FaultPlan.uniform(
        rate_limit=0.05, server_error=0.1, reset=0.02, slow=0.01, error_in_200=0.02,
        accepted_then_dropped=0.02, retry_after_s=0.01, slow_s=0.05,
    )
    async with make_client(sandbox) as client:
        outcomes = await collect(client.map(FLAKY, prompts(200), max_in_flight=64))
    assert sorted(o.index for o in outcomes) == list(range(200))
    counts = sandbox.stats.snapshot().submissions_by_input
    assert max(counts.values()) == 1, "no input may be submitted twice"
    states = Counter(o.state for o in outcomes)
    assert states[OutcomeState.SUCCEEDED] > 80
    assert states[OutcomeState.UNKNOWN] >= 1
    for o in outcomes:
        if o.state is OutcomeState.UNKNOWN:
            assert isinstance(o.error, rc.SubmitOutcomeUnknownError)
        if o.state in (OutcomeState.SUCCEEDED, OutcomeState.FAILED):
            assert counts[f'{{"prompt":"{o.input["prompt"]}"}}'] == 1
