"""Crashes at the exact instants that matter, then resume: nothing lost, nothing paid twice.

Random kills (test_crash_resume) rarely land on the narrow windows of the submit protocol,
so here the child batch kills itself (SIGKILL) at a named point, the N-th time it gets
there (N drawn from the seed), and the batch is resumed and audited like the others. The
eight points (``POINTS``):

- ``after_record_intent``: an intent is committed, its submit not yet sent;
- ``before_submitted_write``: a submit's answer arrived, its request id not yet journaled
  (the job exists and the journal does not know its id: the resume must report it, not pay
  for it again);
- ``after_record_submitted``: the request id is journaled;
- ``after_record_finished``: how a job ended is journaled, its files not yet fetched;
- ``after_record_not_created``: an input that never had a job (refused before sending) is
  journaled;
- ``after_record_files``: the files are journaled, the manifest line not yet written;
- ``after_poll_answer``: a poll's answer arrived, not yet acted on;
- ``mid_download``: a file is written under its temporary name, not yet renamed.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path

import anyio
import pytest

from runcomfy_async.sandbox import FaultPlan, ThreadedSandbox

from ._inputs import WITH_INVALID
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

CHILD = Path(__file__).with_name("_batch_child.py")
JOBS = 40
# Every journal state transition (each kind of committed write), the instant between a
# submit's answer and its journal write, a poll's answer, and a half-written download.
POINTS = [
    "after_record_intent", "before_submitted_write", "after_record_submitted",
    "after_record_finished", "after_record_not_created", "after_record_files",
    "after_poll_answer", "mid_download",
]
SEEDS = range(3)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("point", POINTS)
async def test_batch_killed_at_a_protocol_point_resumes_without_loss_or_double_pay(
    tmp_path: Path, point: str, seed: int
) -> None:
    nth = random.Random(f"{point}:{seed}").randint(1, 25)
    prefix = f"{WITH_INVALID}kill{seed}" if point == "after_record_not_created" else f"kill{seed}"
    if point == "after_record_not_created":
        nth = 1 + nth % 5  # 40 inputs hold 6 that are refused before sending
    inputs = make_inputs(JOBS, prefix)
    journal, out = tmp_path / "journal.sqlite", tmp_path / "out"
    faults = FaultPlan.uniform(server_error=0.03, reset=0.01, retry_after_s=0.02)
    with ThreadedSandbox(models=models(), workers=16, time_scale=0.01, seed=seed,
                         faults=faults) as sb:
        with anyio.fail_after(120):
            child = await anyio.run_process(
                [sys.executable, str(CHILD), sb.base_url, sb.cdn_base_url, str(journal),
                 str(out), STEADY_MODEL, str(JOBS), prefix],
                env={**os.environ, "RUNCOMFY_API_TOKEN": sb.token,
                     "RUNCOMFY_TEST_KILL_AT": f"{point}:{nth}"},
                check=False,
            )
        assert child.returncode == -signal.SIGKILL, (
            f"the child should have died at {point}:{nth}; exit {child.returncode}\n"
            + child.stderr.decode(errors="replace")[-2000:]
        )
        client = make_client(sb.base_url, sb.token, read_timeout=0.5)
        async with client, client.map(
            STEADY_MODEL, inputs, journal=journal, download_to=out,
            download_origins=[sb.cdn_base_url], max_in_flight=32,
        ) as batch:
            outcomes = [o async for o in batch]
        view = sandbox_view(sb)
    report = audit_batch(
        inputs=inputs, outcomes=outcomes, journal=await read_journal(journal),
        manifest=last_manifest_records(out / "manifest.jsonl"), out_dir=out, view=view,
        resubmit_allowed=False,
    )
    assert report.inputs_billed_twice == 0
    # No download was left half-written: every .part file of the killed run was cleaned.
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    if point == "before_submitted_write":
        # The job whose id never reached the journal is reported, never paid for again.
        assert report.outcomes_by_state.get("unknown", 0) >= 1
