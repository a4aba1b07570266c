"""Chaos soak: a batch with a journal and downloads while every fault the sandbox has is on.

Faults per API request (each endpoint): 10% 5xx (JSON or HTML), 5% 429 with Retry-After,
2% connection resets, 1% slow answers (longer than the client's read timeout), 1% 200s that
carry an error code, and on submits 1% accepted-then-dropped (the job is created, the answer
is a reset). The model fails 5% of its jobs.

The smoke form (a few hundred jobs) runs in CI; the full form (2,000 jobs by default,
``RUNCOMFY_SOAK_JOBS`` to change) is ``slow``. Both run with and without
``resubmit_unknown``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import runcomfy_async as rc
from runcomfy_async.sandbox import FaultPlan, Sandbox

from ._support import (
    CHAOS_MODEL,
    AuditReport,
    audit_batch,
    last_manifest_records,
    make_client,
    make_inputs,
    models,
    read_journal,
    record_figures,
    sandbox_view,
)

SMOKE_JOBS = 300
FULL_JOBS = int(os.environ.get("RUNCOMFY_SOAK_JOBS", "2000"))
# Slow answers take longer than the client's read timeout, so a slow submit is ambiguous.
SLOW_S = 0.3
READ_TIMEOUT_S = 0.2


def chaos_plan() -> FaultPlan:
    return FaultPlan.uniform(
        server_error=0.10,
        rate_limit=0.05,
        reset=0.02,
        slow=0.01,
        error_in_200=0.01,
        accepted_then_dropped=0.01,
        retry_after_s=0.02,
        slow_s=SLOW_S,
    )


async def soak(tmp_path: Path, n: int, *, resubmit_unknown: bool, seed: int) -> AuditReport:
    inputs = make_inputs(n, prefix=f"soak{seed}")
    journal_path = tmp_path / "journal.sqlite"
    out = tmp_path / "out"
    started = time.monotonic()
    async with Sandbox(models=models(), workers=64, time_scale=0.01, seed=seed,
                       faults=chaos_plan()) as sb:
        client = make_client(sb.base_url, sb.token, read_timeout=READ_TIMEOUT_S)
        async with client, client.map(
            CHAOS_MODEL, inputs, journal=journal_path, download_to=out,
            download_origins=[sb.cdn_base_url], max_in_flight=128,
            resubmit_unknown=resubmit_unknown,
        ) as batch:
            outcomes = [o async for o in batch]
        # Read while the sandbox still runs: jobs an answer was lost for are still there.
        view = sandbox_view(sb)
    report = audit_batch(
        inputs=inputs, outcomes=outcomes, journal=await read_journal(journal_path),
        manifest=last_manifest_records(out / "manifest.jsonl"), out_dir=out, view=view,
        resubmit_allowed=resubmit_unknown,
    )
    # Every fault kind really happened: a soak that injected nothing proves nothing.
    for kind in ("server_error", "rate_limit", "reset", "slow", "error_in_200",
                 "accepted_then_dropped"):
        assert report.faults_by_kind.get(kind, 0) > 0, f"no {kind} fault was injected"
    assert report.outcomes_by_state.get(rc.OutcomeState.FAILED.value, 0) > 0
    if resubmit_unknown:
        # Asked to resubmit, the batch leaves no input with an unknown outcome.
        assert report.outcomes_by_state.get(rc.OutcomeState.UNKNOWN.value, 0) == 0
    else:
        assert report.outcomes_by_state.get(rc.OutcomeState.UNKNOWN.value, 0) > 0
        assert report.inputs_billed_twice == 0
    record = report.as_json()
    record["seconds"] = round(time.monotonic() - started, 1)
    record["resubmit_unknown"] = resubmit_unknown
    soak.last = record  # type: ignore[attr-defined]
    return report


@pytest.mark.parametrize("resubmit_unknown", [False, True], ids=["report-unknown", "resubmit"])
async def test_smoke_soak_every_input_one_outcome_and_records_agree(
    tmp_path: Path, resubmit_unknown: bool
) -> None:
    await soak(tmp_path, SMOKE_JOBS, resubmit_unknown=resubmit_unknown, seed=11)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("resubmit_unknown", [False, True], ids=["report-unknown", "resubmit"])
async def test_full_soak_every_input_one_outcome_and_records_agree(
    tmp_path: Path, resubmit_unknown: bool
) -> None:
    await soak(tmp_path, FULL_JOBS, resubmit_unknown=resubmit_unknown, seed=2026)
    record_figures(
        f"chaos_soak_{'resubmit' if resubmit_unknown else 'report_unknown'}",
        soak.last,  # type: ignore[attr-defined]
    )
