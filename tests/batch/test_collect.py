"""Jobs submitted elsewhere, collected as they complete through the batch's machinery."""

from __future__ import annotations

from pathlib import Path

import anyio

import runcomfy_async as rc
from runcomfy_async import InputState
from runcomfy_async.core._lifecycle import InputState as State
from runcomfy_async.sandbox import Sandbox
from runcomfy_async.store.journal import Journal

from .conftest import FAST, SLOW, make_client, prompts


async def test_collect_hands_back_jobs_submitted_elsewhere(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as submitter:
        ids = [(await submitter.submit(FAST, p)).request_id for p in prompts(5)]
    async with make_client(sandbox) as client, client.collect(ids) as outcomes:
        collected = [o async for o in outcomes]
    assert sorted(o.request_id for o in collected if o.request_id) == sorted(ids)
    assert {o.state for o in collected} == {InputState.SUCCEEDED}
    assert sandbox.stats.snapshot().jobs_created == 5


async def test_attached_jobs_mix_with_new_inputs_and_keep_their_inputs(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with make_client(sandbox) as client:
        job = await client.submit(FAST, {"prompt": "from elsewhere"})
        given = [rc.Attach(job.request_id, {"prompt": "from elsewhere"}), *prompts(2)]
        async with client.map(FAST, given, journal=tmp_path / "j.sqlite") as outcomes:
            collected = {o.index: o async for o in outcomes}
    assert collected[0].request_id == job.request_id
    assert collected[0].input == rc.Attach(job.request_id, {"prompt": "from elsewhere"})
    assert {o.state for o in collected.values()} == {InputState.SUCCEEDED}
    assert sandbox.stats.snapshot().jobs_created == 3
    async with Journal(tmp_path / "j.sqlite") as journal:
        entry = await journal.get(0)
    assert entry is not None
    assert (entry.request_id, entry.state) == (job.request_id, State.SUCCEEDED)


async def test_leaving_a_collection_never_cancels_someone_elses_job(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        ids = [(await client.submit(SLOW, p)).request_id for p in prompts(12)]
        async with client.collect(ids, job_timeout=0.2) as outcomes:
            ended = [o async for o in outcomes]
        async with client.collect(ids) as outcomes:
            await anyio.sleep(0.05)
    assert {o.state for o in ended} == {InputState.TIMED_OUT}
    assert all(o.error.cancelled_remotely is None for o in ended)  # type: ignore[union-attr]
    assert outcomes.cancel_report is None
    assert sandbox.stats.snapshot().cancellations == 0


async def test_a_malformed_request_id_to_collect_is_refused_before_any_request(
    sandbox: Sandbox,
) -> None:
    async with make_client(sandbox) as client, client.collect(["../../models/x"]) as outcomes:
        [outcome] = [o async for o in outcomes]
    assert outcome.state is InputState.REFUSED
    assert sandbox.stats.snapshot().total_requests == 0
