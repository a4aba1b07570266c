"""Money safety of a batch: every input's state is journaled as it is, and resume acts on it.

Each test is one symptom seen on an earlier version (issue "Money safety"), reproduced
against the sandbox over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import warnings
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest

import runcomfy_async as rc
from runcomfy_async import InputState
from runcomfy_async.sandbox import CdnFaults, EndpointFaults, FaultPlan, Sandbox
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


def _hang_then_drop_api(
    entered: anyio.Event, release: anyio.Event
) -> AbstractAsyncContextManager[str]:
    """A Model API whose submit hangs until ``release``, then drops the connection: the
    POST may or may not have created a job."""
    from aiohttp import web

    from tests._rig import scripted_api

    async def hang_then_drop(request: web.Request) -> web.Response:
        entered.set()
        await release.wait()
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    return scripted_api([web.post("/v1/models/{model:.*}", hang_then_drop)])


@pytest.mark.parametrize("cancel", ["task", "cancel scope"])
async def test_a_consumer_cancelled_while_its_submit_hangs_journals_unknown_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cancel: str
) -> None:
    # Symptom 13: the SubmitOutcomeUnknownError was swallowed by the CancelledError, and a
    # possibly paid job vanished without a word.
    caplog.set_level(logging.WARNING, logger="runcomfy_async")
    entered, release, cancelled = anyio.Event(), anyio.Event(), anyio.Event()
    journal = tmp_path / "j.sqlite"

    async def consume(client: rc.AsyncRunComfy) -> None:
        async with client.map(FAST, prompts(1), journal=journal, validate=False) as outcomes:
            try:
                async for _ in outcomes:
                    pass
            except anyio.get_cancelled_exc_class():
                cancelled.set()  # the cancel reached the consumer while the POST hangs
                raise

    async def drop_once_cancelled() -> None:
        await cancelled.wait()
        release.set()

    with anyio.fail_after(30):  # a bound on the test, not a timing claim
        async with _hang_then_drop_api(entered, release) as base_url, rc.AsyncRunComfy(
            api_token="t", base_url=base_url
        ) as client, anyio.create_task_group() as outer:
            outer.start_soon(drop_once_cancelled)
            if cancel == "task":
                task = asyncio.ensure_future(consume(client))
                await entered.wait()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            else:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(consume, client)
                    await entered.wait()
                    inner.cancel_scope.cancel()
    assert cancelled.is_set()
    async with Journal(journal) as opened:
        (entry,) = await opened.entries()
    assert entry.state is InputState.UNKNOWN
    warnings_said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(
        "input 0" in said and f"input fingerprint {entry.fingerprint[:16]}" in said
        for said in warnings_said
    ), warnings_said


async def test_leaving_a_batch_during_a_trickling_download_leaves_it_to_resume(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # Symptom 14: teardown shielded the downloads (up to 4 attempts of 512 MiB each), so
    # leaving a batch could take minutes. An unfinished download needs no shield: the
    # journal says the job succeeded and which files are still to fetch.
    from aiohttp import web

    from tests._rig import scripted_api

    trickling = anyio.Event()
    declared = 100_000_000

    async def trickle(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(
            headers={"Content-Type": "image/png", "Content-Length": str(declared)}
        )
        await answer.prepare(request)
        try:
            await answer.write(b"\x89PNG\r\n\x1a\n")
            for chunk in range(declared // 1000):
                await answer.write(b"x" * 1000)
                if chunk == 3:
                    trickling.set()
                await anyio.sleep(0.05)
        except ConnectionResetError:
            pass  # the client went away: what this test is about
        return answer

    journal, out = tmp_path / "j.sqlite", tmp_path / "out"
    async with scripted_api([web.get("/{path:.*}", trickle)]) as slow_base:
        slow_origin = slow_base.removesuffix("/v1")
        sandbox.cdn_faults = CdnFaults(redirect_to=slow_origin)
        opts: dict[str, Any] = {"journal": journal, "download_to": out}
        async with make_client(sandbox) as client:
            with anyio.fail_after(20):  # a hang guard: a shielded download takes ~80 min
                async with client.map(
                    FAST, prompts(3), download_origins=[sandbox.cdn_base_url, slow_origin],
                    **opts,
                ):
                    await trickling.wait()
                    # Leave now, as a `break` out of `async for` does, downloads under way.
    async with Journal(journal) as opened:
        entries = await opened.entries()
    # The jobs are journaled as succeeded, with no file recorded: resumable, not lost.
    assert [e.state for e in entries] == [InputState.SUCCEEDED] * 3
    assert all(e.request_id and not e.files for e in entries)
    assert not list(out.glob("*.png"))
    created = sandbox.stats.snapshot().jobs_created

    sandbox.cdn_faults = CdnFaults()
    async with make_client(sandbox) as client:
        resumed = await collect(
            client.map(FAST, prompts(3), download_origins=[sandbox.cdn_base_url], **opts)
        )
    assert [o.state for o in sorted(resumed, key=lambda o: o.index)] == [
        InputState.SUCCEEDED
    ] * 3
    assert all(o.files and o.error is None for o in resumed)
    assert sandbox.stats.snapshot().jobs_created == created, "nothing was submitted again"


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


async def test_a_request_id_given_again_after_its_job_ended_is_unknown_not_a_second_success(
    tmp_path: Path,
) -> None:
    # One job in flight at a time: the first input's job is over, and forgotten as pending,
    # before the service hands its id out again.
    from aiohttp import web

    from tests._rig import scripted_api

    submits = 0

    async def same_id(request: web.Request) -> web.Response:
        nonlocal submits
        submits += 1
        return web.json_response({"request_id": "only-one"})

    async def succeeded(request: web.Request) -> web.Response:
        return web.json_response({
            "request_id": "only-one", "status": "succeeded",
            "output": {"image": "https://cdn.runcomfy.net/only-one/0.png"},
        })

    journal = tmp_path / "j.sqlite"
    routes = [web.post("/v1/models/{model:.*}", same_id),
              web.get("/v1/requests/{rid}/result", succeeded)]
    async with scripted_api(routes) as base_url, rc.AsyncRunComfy(
        api_token="t", base_url=base_url
    ) as client:
        outcomes = await collect(client.map(FAST, prompts(3), journal=journal, max_in_flight=1))

    by_index = {o.index: o for o in outcomes}
    assert submits == 3
    assert (by_index[0].state, by_index[0].request_id) == (InputState.SUCCEEDED, "only-one")
    for index in (1, 2):
        assert by_index[index].state is InputState.UNKNOWN
        assert by_index[index].request_id is None
        assert "only-one" in str(by_index[index].error)
        assert "input 0" in str(by_index[index].error)
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
