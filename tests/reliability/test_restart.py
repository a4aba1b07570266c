"""A sandbox restart in the middle of a batch: the API goes away (connections dropped,
port closed) and comes back on the same port with its jobs; nothing may be lost."""

from __future__ import annotations

from pathlib import Path

import anyio

import runcomfy_async as rc
from runcomfy_async.sandbox import Sandbox

from ._support import (
    STEADY_MODEL,
    audit_batch,
    last_manifest_records,
    make_client,
    make_inputs,
    models,
    read_journal,
    sandbox_view,
)

JOBS = 150
DOWNTIME_S = 0.6
LONG_DOWNTIME_S = 2.0
JOB_TIMEOUT_S = 1.0


async def test_batch_rides_out_a_restart_and_accounts_for_every_job(tmp_path: Path) -> None:
    inputs = make_inputs(JOBS, "restart")
    events: list[rc.BatchEvent] = []
    async with Sandbox(models=models(), workers=16, time_scale=0.01, seed=3) as sb:
        client = make_client(sb.base_url, sb.token)
        async with client, anyio.create_task_group() as tg, client.map(
            STEADY_MODEL, inputs, journal=tmp_path / "journal.sqlite",
            download_to=tmp_path / "out", download_origins=[sb.cdn_base_url],
            max_in_flight=32, on_event=events.append,
        ) as batch:
            outcomes = []
            async for outcome in batch:
                outcomes.append(outcome)
                if len(outcomes) == 20:
                    tg.start_soon(sb.restart, DOWNTIME_S)
        view = sandbox_view(sb)
    assert view.stats.restarts == 1
    # The outage was felt (requests were retried), and then ridden out.
    assert any(isinstance(e, rc.RetryEvent) for e in events)
    report = audit_batch(
        inputs=inputs, outcomes=outcomes, journal=await read_journal(tmp_path / "journal.sqlite"),
        manifest=last_manifest_records(tmp_path / "out" / "manifest.jsonl"),
        out_dir=tmp_path / "out", view=view, resubmit_allowed=False,
    )
    # Only submits cut off by the restart may be left unknown; they say so in their error.
    states = report.outcomes_by_state
    assert states.get("succeeded", 0) + states.get("failed", 0) >= JOBS - 32
    assert set(states) <= {"succeeded", "failed", "unknown"}


async def test_outage_longer_than_the_job_timeout_ends_each_input_once_and_clearly(
    tmp_path: Path,
) -> None:
    inputs = make_inputs(60, "outage")
    async with Sandbox(models=models(), workers=16, time_scale=0.01, seed=4) as sb:
        client = make_client(sb.base_url, sb.token)
        async with client, anyio.create_task_group() as tg, client.map(
            STEADY_MODEL, inputs, journal=tmp_path / "journal.sqlite",
            download_to=tmp_path / "out", download_origins=[sb.cdn_base_url],
            max_in_flight=32, job_timeout=JOB_TIMEOUT_S,
        ) as batch:
            outcomes = []
            async for outcome in batch:
                outcomes.append(outcome)
                if len(outcomes) == 10:
                    tg.start_soon(sb.restart, LONG_DOWNTIME_S)
        view = sandbox_view(sb)
    report = audit_batch(
        inputs=inputs, outcomes=outcomes, journal=await read_journal(tmp_path / "journal.sqlite"),
        manifest=last_manifest_records(tmp_path / "out" / "manifest.jsonl"),
        out_dir=tmp_path / "out", view=view, resubmit_allowed=False,
    )
    gave_up = [o for o in outcomes if o.state in (rc.InputState.TIMED_OUT, rc.InputState.NOT_SENT)]
    assert gave_up, "the outage should outlast some jobs' timeout"
    for outcome in gave_up:
        text = str(outcome.error)
        assert outcome.request_id is None or outcome.request_id in text, text
    assert report.inputs_billed_twice == 0
