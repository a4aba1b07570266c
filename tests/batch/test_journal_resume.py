"""Batches with a journal and downloads: resume without paying twice, files on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from yarl import URL

import runcomfy_async as rc
from runcomfy_async import OutcomeState
from runcomfy_async.core._lifecycle import InputState as EntryState
from runcomfy_async.sandbox import Sandbox
from runcomfy_async.store._manifest import read_manifest
from runcomfy_async.store.journal import Journal, JournalError

from .conftest import FAST, SLOW, VARIED, make_client, prompts


def cdn(sb: Sandbox) -> str:
    return str(URL(sb.cdn_base_url).origin())


async def run_all(
    client: rc.AsyncRunComfy, model: str, inputs: list[Any], **kw: Any
) -> list[rc.Outcome]:
    async with client.map(model, inputs, **kw) as outcomes:
        return [o async for o in outcomes]


async def test_downloads_files_and_writes_manifest(sandbox: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "out"
    async with make_client(sandbox) as client:
        outcomes = await run_all(
            client,
            FAST,
            prompts(12),
            download_to=out,
            download_origins=[cdn(sandbox)],
            journal=tmp_path / "j.sqlite",
        )
    assert all(o.ok and len(o.files) == 1 for o in outcomes)
    for o in outcomes:
        stored = o.files[0]
        data = (out / stored.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == stored.sha256
        assert stored.path.startswith(f"{o.index:06d}-p-{o.index}")
    records = read_manifest(out / "manifest.jsonl")
    assert sorted(r.index for r in records) == list(range(12))
    assert {r.state for r in records} == {"succeeded"}
    assert sandbox.stats.snapshot().cdn_credentials_seen == ()


async def test_downloads_refuse_hosts_not_allowed(sandbox: Sandbox, tmp_path: Path) -> None:
    async with make_client(sandbox) as client:
        outcomes = await run_all(client, FAST, prompts(2), download_to=tmp_path)
    # The sandbox CDN is not an allowed origin: the jobs succeed, the downloads are refused.
    assert all(o.ok and not o.files for o in outcomes)
    assert all(isinstance(o.error, rc.RunComfyError) for o in outcomes)
    assert sandbox.stats.snapshot().cdn_requests == 0


async def test_resume_takes_finished_items_from_the_journal(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    inputs = prompts(30)
    async with make_client(sandbox) as client:
        batch = client.map(VARIED, inputs, journal=journal, max_in_flight=10)
        async with batch as outcomes:
            first = []
            async for o in outcomes:
                first.append(o)
                if len(first) == 8:
                    break
        withdrawn = batch.cancel_report.cancelled if batch.cancel_report else ()
        # Second run: same inputs, same journal.
        before = sandbox.stats.snapshot()
        second = await run_all(client, VARIED, inputs, journal=journal, max_in_flight=10)
    assert sorted(o.index for o in second) == list(range(30))
    assert all(o.ok for o in second), "a resumed batch finishes every input"
    replayed = {o.index for o in second if o.from_journal}
    # Outcomes journaled in the first run, consumed or not before the break, replay.
    assert {o.index for o in first} <= replayed
    after = sandbox.stats.snapshot()
    assert set(after.runs_by_input().values()) == {1}, "no input may run twice"
    # Finished items cost no request the second time; inputs whose jobs were withdrawn
    # while queued (never ran, never billed) are the only ones submitted again.
    new_submits = after.requests_by_endpoint["submit"] - before.requests_by_endpoint["submit"]
    assert new_submits == 30 - len(before.submissions_by_input) + len(withdrawn)
    assert sum(after.submissions_by_input.values()) == 30 + len(withdrawn)


async def test_resume_reattaches_jobs_in_flight_without_resubmitting(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    inputs = prompts(6)
    async with make_client(sandbox) as client:
        async with client.map(SLOW, inputs, journal=journal) as outcomes:
            while outcomes.progress.submits < 6:
                await anyio.sleep(0.01)
            # Leave early with six jobs running: 6 <= 8 sandbox workers, none cancellable.
        second = await run_all(client, SLOW, inputs, journal=journal)
    assert all(o.ok for o in second)
    assert not any(o.from_journal for o in second)
    assert set(sandbox.stats.snapshot().submissions_by_input.values()) == {1}


async def test_changed_inputs_stop_the_resume_before_anything_is_sent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    async with make_client(sandbox) as client:
        await run_all(client, FAST, prompts(5), journal=journal)
        before = sandbox.stats.snapshot().total_requests
        changed = prompts(5)
        changed[3] = {"prompt": "something else"}
        with pytest.raises(JournalError, match="input 3"):
            await run_all(client, FAST, changed, journal=journal)
    assert sandbox.stats.snapshot().total_requests == before


async def test_intent_without_request_id_is_reported_not_resubmitted(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    journal_path = tmp_path / "j.sqlite"
    inputs = prompts(3)
    async with Journal(journal_path) as journal:
        # A crash between the intent and the answer: the submit may or may not have arrived.
        await journal.record_intent(1, FAST, inputs[1])
    async with make_client(sandbox) as client:
        outcomes = await run_all(client, FAST, inputs, journal=journal_path)
        by_index = {o.index: o for o in outcomes}
        assert by_index[1].state is OutcomeState.UNKNOWN
        assert isinstance(by_index[1].error, rc.SubmitOutcomeUnknownError)
        assert by_index[0].ok
        assert by_index[2].ok
        assert '{"prompt":"p 1"}' not in sandbox.stats.snapshot().submissions_by_input
        # Asked to, a later run resubmits it.
        again = await run_all(client, FAST, inputs, journal=journal_path, resubmit_unknown=True)
    assert {o.index: o.state for o in again}[1] is OutcomeState.SUCCEEDED
    assert sandbox.stats.snapshot().submissions_by_input['{"prompt":"p 1"}'] == 1


async def test_resume_redownloads_only_missing_or_altered_files(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    out, journal = tmp_path / "out", tmp_path / "j.sqlite"
    options: dict[str, Any] = {
        "journal": journal,
        "download_to": out,
        "download_origins": [cdn(sandbox)],
    }
    async with make_client(sandbox) as client:
        first = await run_all(client, FAST, prompts(4), **options)
        (out / first[0].files[0].path).unlink()
        (out / first[1].files[0].path).write_bytes(b"tampered")
        cdn_before = sandbox.stats.snapshot().cdn_requests
        second = await run_all(client, FAST, prompts(4), **options)
    assert all(o.from_journal and o.ok for o in second)
    assert sandbox.stats.snapshot().cdn_requests - cdn_before == 2
    for o in second:
        stored = o.files[0]
        assert hashlib.sha256((out / stored.path).read_bytes()).hexdigest() == stored.sha256


async def test_journal_records_every_outcome(sandbox: Sandbox, tmp_path: Path) -> None:
    journal_path = tmp_path / "j.sqlite"
    async with make_client(sandbox) as client:
        outcomes = await run_all(client, FAST, [*prompts(3), {"seed": 1}], journal=journal_path)
    async with Journal(journal_path) as journal:
        entries = {e.index: e for e in await journal.entries()}
    assert {i: e.state for i, e in entries.items()} == {
        0: EntryState.SUCCEEDED,
        1: EntryState.SUCCEEDED,
        2: EntryState.SUCCEEDED,
        3: EntryState.REFUSED,
    }
    for o in outcomes:
        assert entries[o.index].request_id == o.request_id
