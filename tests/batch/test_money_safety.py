"""Money safety of a batch: every input's state is journaled as it is, and resume acts on it.

Each test is one symptom seen on an earlier version (issue "Money safety"), reproduced
against the sandbox over loopback HTTP.
"""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import runcomfy_async as rc
from runcomfy_async import InputState
from runcomfy_async.sandbox import EndpointFaults, FaultPlan, Sandbox
from runcomfy_async.store.journal import Journal, JournalError

from .conftest import FAST, SLOW, CountingInputs, make_client, prompts


async def collect(batch: rc.Batch) -> list[rc.Outcome]:
    async with batch as outcomes:
        return [outcome async for outcome in outcomes]

pytestmark = pytest.mark.timeout(60)


async def journal_states(path: Path) -> dict[int, InputState]:
    async with Journal(path) as journal:
        return {entry.index: entry.state for entry in await journal.entries()}


async def test_a_refused_submit_is_journaled_refused_and_resumed_as_a_new_submit(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    async with rc.AsyncRunComfy(api_token="wrong", base_url=sandbox.base_url) as client:
        with pytest.raises(rc.AuthenticationError):
            await collect(client.map(FAST, prompts(12), journal=journal, max_in_flight=4))
    states = await journal_states(journal)
    assert states, "the attempts that were made are journaled"
    assert set(states.values()) == {InputState.REFUSED}
    async with make_client(sandbox) as client:
        outcomes = await collect(client.map(FAST, prompts(12), journal=journal))
    assert [o.state for o in outcomes] == [InputState.SUCCEEDED] * 12
    assert sandbox.stats.snapshot().jobs_created == 12


async def test_inputs_never_sent_are_journaled_not_sent_and_sent_on_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    retry = rc.RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=2)
    async with rc.AsyncRunComfy(api_token="t", base_url="http://127.0.0.1:9/v1",
                                retry=retry) as nowhere:
        outcomes = await collect(
            nowhere.map(FAST, prompts(5), journal=journal, job_timeout=0.2)
        )
    assert {o.state for o in outcomes} == {InputState.NOT_SENT}
    assert set((await journal_states(journal)).values()) == {InputState.NOT_SENT}
    async with make_client(sandbox) as client:
        resumed = await collect(client.map(FAST, prompts(5), journal=journal))
    assert {o.state for o in resumed} == {InputState.SUCCEEDED}
    assert sandbox.stats.snapshot().jobs_created == 5


async def test_a_job_timed_out_while_running_is_collected_on_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    async with make_client(sandbox) as client:
        first = await collect(client.map(SLOW, prompts(12), journal=journal, job_timeout=0.3))
    running = {o.index for o in first if o.state is InputState.TIMED_OUT}
    withdrawn = {o.index for o in first if o.state is InputState.WITHDRAWN}
    assert running
    assert withdrawn
    created = sandbox.stats.snapshot().jobs_created
    async with make_client(sandbox) as client:
        resumed = await collect(client.map(SLOW, prompts(12), journal=journal))
    assert {o.state for o in resumed} == {InputState.SUCCEEDED}
    # Running jobs were collected, not paid again; only the withdrawn ones were resubmitted.
    assert sandbox.stats.snapshot().jobs_created == created + len(withdrawn)


async def test_an_input_that_expires_before_its_first_intent_does_not_crash_the_batch(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # The batch's clock is injected, so the deadline passes exactly while the source is
    # being asked for its first input: no dependence on how fast this machine runs.
    now = [1000.0]
    asked, release = anyio.Event(), anyio.Event()

    async def slow_source() -> AsyncIterator[dict[str, Any]]:
        asked.set()
        await release.wait()
        for item in prompts(3):
            yield item

    journal = tmp_path / "j.sqlite"
    async with make_client(sandbox) as client:
        batch = client.map(FAST, slow_source(), journal=journal, deadline=10)
        batch._core.clock = lambda: now[0]
        async with batch as outcomes:
            await asked.wait()
            now[0] += 11  # the deadline passes while the first input is on its way
            release.set()
            collected = [o async for o in outcomes]
    # Input 0, and any another worker was already pulling, ends never sent; none is lost.
    states = {o.index: o.state for o in collected}
    assert 0 in states
    assert set(states.values()) == {InputState.NOT_SENT}
    assert await journal_states(journal) == states
    assert sandbox.stats.snapshot().jobs_created == 0


async def test_resume_starts_at_once_with_memory_bounded_by_max_in_flight(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    async with make_client(sandbox) as client:
        await collect(client.map(FAST, prompts(600), journal=journal, max_in_flight=64))
        inputs = CountingInputs(prompts(600))
        async with client.map(FAST, inputs, journal=journal, max_in_flight=8) as batch:
            first = await anext(batch)
            pulled_at_first = inputs.pulled
            rest = [o async for o in batch]
    assert first.from_journal
    assert pulled_at_first <= 8 + 1, "an earlier version replayed the whole journal first"
    assert len(rest) == 599


async def test_jobs_journaled_beyond_a_shorter_input_list_are_collected_not_dropped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal_path = tmp_path / "j.sqlite"
    async with make_client(sandbox) as client, Journal(journal_path) as journal:
        # An earlier run that was killed with 6 jobs in flight.
        for index, given in enumerate(prompts(6)):
            await journal.record_intent(index, FAST, given)
            job = await client.submit(FAST, given)
            await journal.record_submitted(index, job.request_id)
    async with make_client(sandbox) as client:
        outcomes = await collect(client.map(FAST, prompts(2), journal=journal_path))
    assert sorted(o.index for o in outcomes) == list(range(6))
    assert {o.state for o in outcomes} == {InputState.SUCCEEDED}
    assert sandbox.stats.snapshot().jobs_created == 6


@pytest.mark.parametrize("damage", ["deleted", "emptied", "without-wal"])
async def test_a_lost_journal_beside_a_manifest_refuses_to_pay_again(
    sandbox: Sandbox, tmp_path: Path, damage: str
) -> None:
    journal = tmp_path / "j.sqlite"
    out = tmp_path / "out"
    opts: dict[str, Any] = {"journal": journal, "download_to": out,
                            "download_origins": [sandbox.cdn_base_url]}
    async with make_client(sandbox) as client:
        await collect(client.map(FAST, prompts(6), **opts))
    if damage == "deleted":
        for path in tmp_path.glob("j.sqlite*"):  # noqa: ASYNC240
            path.unlink()
    elif damage == "emptied":
        for path in tmp_path.glob("j.sqlite-*"):  # noqa: ASYNC240
            path.unlink()
        journal.write_bytes(b"")
    else:
        # A copy of the main file alone, as a backup tool that skips -wal would make.
        async with Journal(journal):
            pass
        journal.write_bytes(b"")  # the committed rows lived in the -wal file
        (tmp_path / "j.sqlite-wal").unlink(missing_ok=True)
    created = sandbox.stats.snapshot().jobs_created
    async with make_client(sandbox) as client:
        with pytest.raises(JournalError, match="does not know"):
            await collect(client.map(FAST, prompts(6), **opts))
    assert sandbox.stats.snapshot().jobs_created == created


async def test_a_journal_reached_through_a_symlink_is_locked_as_the_real_file(
    tmp_path: Path,
) -> None:
    real = tmp_path / "j.sqlite"
    link = tmp_path / "link.sqlite"
    async with Journal(real):
        link.symlink_to(real)
        with pytest.raises(JournalError, match="open in another"):
            async with Journal(link):
                pass


async def test_an_unusable_output_folder_leaves_the_journal_closed_for_a_retry(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    async with make_client(sandbox) as client:
        with pytest.raises((OSError, rc.RunComfyError)):
            await collect(client.map(FAST, prompts(2), journal=journal,
                                     download_to=not_a_folder / "out"))
        outcomes = await collect(client.map(FAST, prompts(2), journal=journal))
    assert len(outcomes) == 2


async def test_leaving_a_batch_during_a_long_cool_down_still_cancels_queued_jobs(
    sandbox: Sandbox,
) -> None:
    async with make_client(sandbox) as client:  # noqa: SIM117
        async with client.map(SLOW, prompts(12), cancel_timeout=5) as batch:
            while batch.progress.queued + batch.progress.running < 12:
                await anyio.sleep(0.01)
            # As after a 429 with Retry-After: 30 on a poll.
            client._transport.retrier.cooldown.extend(3600)
    assert batch.cancel_report is not None
    assert len(batch.cancel_report.cancelled) == 4
    assert sandbox.stats.snapshot().cancellations == 4


async def test_leaving_a_batch_during_a_cool_down_returns_at_once(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        client._transport.retrier.cooldown.extend(3600)
        with anyio.fail_after(20):
            async with client.map(FAST, prompts(5)) as batch:
                await anyio.sleep(0.05)
    assert batch.progress.submits == 0
    assert sandbox.stats.snapshot().jobs_created == 0


async def test_a_batch_hears_only_its_own_retries(sandbox: Sandbox) -> None:
    events: list[object] = []
    retry = rc.RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3)
    async with make_client(sandbox, retry=retry) as client:  # noqa: SIM117
        async with client.map(FAST, prompts(3), on_event=events.append) as batch:
            async with rc.AsyncRunComfy(api_token="t", base_url="http://127.0.0.1:9/v1",
                                        retry=retry) as other:
                with pytest.raises(rc.ConnectionFailedError):
                    await other.status("abc")
            # The same client, an unrelated call: its retries are not the batch's either.
            sandbox.faults = FaultPlan(status=EndpointFaults(server_error=1.0))
            with pytest.raises(rc.ServerError):
                await client.status("abc")
            sandbox.faults = FaultPlan()
            [o async for o in batch]
    assert not [e for e in events if isinstance(e, rc.RetryEvent)]


async def test_a_finished_batch_leaves_no_stream_unclosed(sandbox: Sandbox) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with make_client(sandbox) as client:
            await collect(client.map(FAST, prompts(5)))
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]


async def test_every_final_state_is_journaled_as_the_outcome_the_caller_saw(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    bad = {"prompt": 5}  # refused by the sandbox's schema
    async with make_client(sandbox) as client:
        outcomes = await collect(
            client.map(FAST, [*prompts(3), bad], journal=journal, validate=False)
        )
    assert {o.index: o.state for o in outcomes} == await journal_states(journal)
    assert outcomes[-1].state is InputState.REFUSED or any(
        o.state is InputState.REFUSED for o in outcomes
    )


if os.name != "posix":  # pragma: no cover
    pytestmark = pytest.mark.skip("symlinks and flock")


async def test_a_request_id_the_service_gives_twice_is_an_unknown_outcome_not_a_mix_up(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from aiohttp import web

    async def same_id(request: web.Request) -> web.Response:
        return web.json_response({"request_id": "only-one"})

    async def queued(request: web.Request) -> web.Response:
        return web.json_response({"request_id": "only-one", "status": "in_queue"})

    app = web.Application()
    app.router.add_post("/v1/models/{model:.*}", same_id)
    app.router.add_get("/v1/requests/{rid}/result", queued)
    app.router.add_post("/v1/requests/{rid}/cancel", queued)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    journal = tmp_path / "j.sqlite"
    try:
        async with rc.AsyncRunComfy(api_token="t", base_url=f"http://127.0.0.1:{port}/v1") as c:
            outcomes = await collect(
                c.map(FAST, prompts(2), journal=journal, job_timeout=0.3, max_in_flight=2,
                      max_concurrent_requests=1)
            )
    finally:
        await runner.cleanup()
    states = sorted(o.state.value for o in outcomes)
    assert "unknown" in states, states
    assert await journal_states(journal) == {o.index: o.state for o in outcomes}


@pytest.mark.parametrize("bad", ["../../models/x", "é" * 3, "a" * 129, "abc\n"])
async def test_a_request_id_that_is_not_a_path_segment_never_reaches_the_wire(
    bad: str, sandbox: Sandbox
) -> None:
    async with make_client(sandbox) as client:
        for call in (client.status, client.result, client.cancel):
            with pytest.raises(rc.InvalidInputError, match="request_id"):
                await call(bad)
    assert sandbox.stats.snapshot().total_requests == 0
