"""Shared pieces of the reliability suite: models, clients, the audit, the figures file.

The audit (:func:`audit_batch`) is the heart of the fault and crash tests. After a batch it
cross-checks four independent records of what happened, and fails with a precise message
when any two disagree:

- the outcomes the caller received,
- the journal (SQLite) and the manifest (JSON lines) on disk,
- the files in the download folder,
- the sandbox's own account of every job it created (which input, which request id).

Which request id belongs to which input comes from ``JobRecord.input_key`` when the sandbox
records it, else from the sandbox's job table (``_core.queue``, private): that fallback is
the one place this suite reaches into a private attribute.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, OutcomeState, RetryPolicy
from runcomfy_async.core._lifecycle import InputState as EntryState
from runcomfy_async.sandbox import ModelSpec, Sandbox, StatsSnapshot, ThreadedSandbox
from runcomfy_async.store._manifest import ManifestRecord, read_manifest
from runcomfy_async.store.journal import Journal, JournalEntry

from ._inputs import make_inputs as make_inputs  # re-exported for the tests

# --- Models and inputs -------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
    },
}
# Jobs of about half a model second (a few ms at the suite's time scales), 5% of them failing.
CHAOS_MODEL = "reliability/chaos"
# Jobs of a few model seconds, so that a batch is still busy when it is killed or restarted.
STEADY_MODEL = "reliability/steady"
CHAOS_FAILURE_RATE = 0.05


def models() -> list[ModelSpec]:
    return [
        ModelSpec(CHAOS_MODEL, SCHEMA, output_kind="image", median_s=0.5, sigma=0.5,
                  failure_rate=CHAOS_FAILURE_RATE),
        ModelSpec(STEADY_MODEL, SCHEMA, output_kind="image", median_s=3.0, sigma=0.5,
                  failure_rate=CHAOS_FAILURE_RATE),
    ]


def canonical(payload: Mapping[str, Any]) -> str:
    """The sandbox's key for an input in ``submissions_by_input``."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fast_retry() -> RetryPolicy:
    return RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=8, retry_after_cap=1.0)


def make_client(base_url: str, token: str, **kwargs: Any) -> AsyncRunComfy:
    kwargs.setdefault("retry", fast_retry())
    return AsyncRunComfy(api_token=token, base_url=base_url, **kwargs)


def cdn_origin(sb: Sandbox | ThreadedSandbox) -> str:
    return sb.cdn_base_url


# --- What the sandbox saw ----------------------------------------------------------------------


@attrs.frozen
class SandboxView:
    """The sandbox's stats, plus each created job's input and state, by request id."""

    stats: StatsSnapshot
    job_inputs: Mapping[str, str]

    @property
    def job_states(self) -> dict[str, str]:
        return {record.request_id: record.outcome for record in self.stats.jobs}


def _view(sandbox: Sandbox) -> SandboxView:
    stats = sandbox.stats.snapshot()
    keys = {r.request_id: getattr(r, "input_key", "") for r in stats.jobs}
    if not all(keys.values()):  # an older sandbox: read its job table (see the docstring)
        queue = sandbox._core.queue  # type: ignore[union-attr]
        keys = {rid: canonical(job.inputs) for rid, job in queue._jobs.items()}
    return SandboxView(stats, keys)


def sandbox_view(sb: Sandbox | ThreadedSandbox) -> SandboxView:
    if isinstance(sb, ThreadedSandbox):
        inner: Sandbox = sb._sandbox
        return sb._call(lambda: _view(inner))
    return _view(sb)


# --- The audit ---------------------------------------------------------------------------------

# One vocabulary: an outcome's state is the journal's state.
ENTRY_FOR_OUTCOME: Mapping[str, EntryState] = {s.value: s for s in EntryState if s.is_final}
# The error type each outcome state must carry.
ERROR_FOR_STATE: Mapping[OutcomeState, type[BaseException] | None] = {
    OutcomeState.SUCCEEDED: None,
    OutcomeState.FAILED: rc.JobFailedError,
    OutcomeState.CANCELLED: rc.JobCancelledError,
    OutcomeState.TIMED_OUT: rc.WaitTimeoutError,
    OutcomeState.UNKNOWN: rc.SubmitOutcomeUnknownError,
    OutcomeState.REFUSED: rc.RunComfyError,
    OutcomeState.EXPIRED: rc.RunComfyError,
    OutcomeState.NOT_SENT: rc.RunComfyError,
    OutcomeState.WITHDRAWN: rc.WaitTimeoutError,
}
_UNKNOWN_ATTEMPT_STATES = (EntryState.UNKNOWN, EntryState.INTENT)


async def read_journal(path: Path) -> dict[int, JournalEntry]:
    async with Journal(path) as journal:
        return {entry.index: entry for entry in await journal.entries()}


def last_manifest_records(path: Path) -> dict[int, ManifestRecord]:
    """The last complete manifest line per index (a later line supersedes an earlier one)."""
    latest: dict[int, ManifestRecord] = {}
    for record in read_manifest(path):
        latest[record.index] = record
    return latest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unknown_attempts(entry: JournalEntry) -> int:
    """Attempts at this input whose submit may have created a job nobody knows the id of."""
    current = 1 if entry.state in _UNKNOWN_ATTEMPT_STATES and entry.request_id is None else 0
    return current + sum(
        1 for past in entry.earlier_attempts
        if past.state in _UNKNOWN_ATTEMPT_STATES and past.request_id is None
    )


@attrs.define
class AuditReport:
    """Figures from one audited batch (what RELIABILITY.md reports)."""

    inputs: int = 0
    outcomes_by_state: dict[str, int] = attrs.field(factory=dict)
    jobs_created: int = 0
    faults_by_kind: dict[str, int] = attrs.field(factory=dict)
    requests_by_endpoint: dict[str, int] = attrs.field(factory=dict)
    inputs_submitted_twice: int = 0
    duplicate_jobs: int = 0
    inputs_billed_twice: int = 0
    withdrawn_jobs: int = 0
    orphan_jobs: int = 0
    files_checked: int = 0
    cdn_credentials_seen: int = 0

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def audit_batch(
    *,
    inputs: Sequence[Mapping[str, Any]],
    outcomes: Iterable[rc.Outcome],
    journal: Mapping[int, JournalEntry],
    manifest: Mapping[int, ManifestRecord],
    out_dir: Path,
    view: SandboxView,
    resubmit_allowed: bool,
) -> AuditReport:
    """Every cross-check of the suite; raises AssertionError naming the first disagreement.

    Args:
        inputs: the batch's inputs, in order.
        outcomes: the outcomes of the (last) run, which must cover every input once.
        journal, manifest: read after the batch closed.
        out_dir: the download folder.
        view: the sandbox's account.
        resubmit_allowed: the batch was asked to resubmit unknown outcomes (then, and only
            then, an input with an unknown-outcome attempt may have more than one job).
    """
    outcomes = list(outcomes)
    n = len(inputs)
    report = AuditReport(inputs=n)

    # 1. One outcome per input, with the error its state promises.
    seen = Counter(o.index for o in outcomes)
    assert set(seen) == set(range(n)), (
        f"outcomes missing for {sorted(set(range(n)) - set(seen))[:10]}, "
        f"unexpected {sorted(set(seen) - set(range(n)))[:10]}"
    )
    doubled = [i for i, c in seen.items() if c != 1]
    assert not doubled, f"inputs with more than one outcome: {doubled[:10]}"
    by_index = {o.index: o for o in outcomes}
    for o in outcomes:
        expected = ERROR_FOR_STATE[o.state]
        if o.state is OutcomeState.SUCCEEDED:
            assert o.error is None or isinstance(o.error, rc.DownloadError), (o.index, o.error)
        else:
            assert expected is not None
            assert isinstance(o.error, expected), (
                f"input {o.index} ended {o.state.value} with {o.error!r}"
            )
    report.outcomes_by_state = dict(Counter(o.state.value for o in outcomes))

    # 2. Outcomes, journal and manifest agree on state and request id, index by index.
    assert set(journal) == set(range(n)), (
        f"journal lacks {sorted(set(range(n)) - set(journal))[:10]}"
    )
    assert set(manifest) == set(range(n)), (
        f"manifest lacks {sorted(set(range(n)) - set(manifest))[:10]}"
    )
    for i in range(n):
        o, entry, line = by_index[i], journal[i], manifest[i]
        assert entry.state is ENTRY_FOR_OUTCOME[o.state.value], (
            f"input {i}: outcome {o.state.value}, journal {entry.state.value}"
        )
        manifest_state = ENTRY_FOR_OUTCOME.get(line.state) or EntryState(line.state)
        assert manifest_state is entry.state, (
            f"input {i}: manifest {line.state}, journal {entry.state.value}"
        )
        assert o.request_id == entry.request_id == line.request_id, (
            f"input {i}: request ids differ: outcome {o.request_id}, journal "
            f"{entry.request_id}, manifest {line.request_id}"
        )
        given = inputs[i] if isinstance(inputs[i], Mapping) else {"value": repr(inputs[i])}
        assert dict(line.input) == dict(given), f"input {i}: manifest input differs"
        if isinstance(inputs[i], Mapping):  # an input refused as not a mapping has none
            assert entry.fingerprint == rc.input_fingerprint(entry.model_id, inputs[i])

    # 3. Every request id the journal knows is a job the sandbox created, for that input; every
    #    job the sandbox created is in the journal, unless an unknown-outcome attempt explains it.
    jobs_by_input: defaultdict[str, set[str]] = defaultdict(set)
    for rid, key in view.job_inputs.items():
        jobs_by_input[key].add(rid)
    assert len(view.job_inputs) == view.stats.jobs_created, "the sandbox lost a job record"
    states = view.job_states
    known_rids: set[str] = set()
    for i in range(n):
        entry, key = journal[i], canonical(inputs[i])
        rids = {p.request_id for p in entry.earlier_attempts if p.request_id}
        if entry.request_id:
            rids.add(entry.request_id)
        for rid in rids:
            assert rid in view.job_inputs, f"input {i}: request id {rid} unknown to the sandbox"
            assert view.job_inputs[rid] == key, f"input {i}: request id {rid} is another input's"
        known_rids |= rids
        jobs = jobs_by_input.get(key, set())
        orphans = jobs - rids
        allowed = unknown_attempts(entry)
        assert len(orphans) <= allowed, (
            f"input {i} ({entry.state.value}): the sandbox has jobs {sorted(orphans)} the "
            f"journal does not know, and only {allowed} unknown-outcome attempt(s) explain them"
        )
        report.orphan_jobs += len(orphans)
        count = view.stats.submissions_by_input.get(key, 0)
        assert count == len(jobs)
        if count > 1:
            report.inputs_submitted_twice += 1
            report.duplicate_jobs += count - 1
        # A job cancelled while still queued never ran and is not billed; any other is.
        billed = [rid for rid in jobs if states.get(rid) != "cancelled"]
        report.withdrawn_jobs += len(jobs) - len(billed)
        if len(billed) > 1:
            report.inputs_billed_twice += 1
            why = f"input {i} ran {len(billed)} times"
            assert resubmit_allowed, f"{why} though resubmit_unknown was off"
            assert allowed >= len(billed) - 1, f"{why} without unknown outcomes to justify it"

    stray = set(view.job_inputs) - known_rids
    assert len(stray) == report.orphan_jobs, "the sandbox has jobs for inputs not in the batch"

    # 4. Files: each recorded file is on disk, whole, with its sha256; nothing else is there.
    recorded: set[str] = set()
    for i in range(n):
        entry, line = journal[i], manifest[i]
        assert tuple(entry.files) == tuple(line.files), f"input {i}: journal, manifest differ"
        o = by_index[i]
        if o.state is OutcomeState.SUCCEEDED and o.error is None:
            assert entry.files, f"input {i} succeeded but has no file"
            assert len(entry.files) == len(o.outputs)
        for stored in entry.files:
            path = out_dir / stored.path
            assert path.parent == out_dir, f"input {i}: {stored.path!r} is outside the folder"
            assert path.is_file(), f"input {i}: {stored.path} is missing"
            assert path.stat().st_size == stored.size, f"input {i}: {stored.path} is truncated"
            assert _sha256(path) == stored.sha256, f"input {i}: {stored.path} sha256 differs"
            recorded.add(stored.path)
            report.files_checked += 1
    on_disk = {p.name for p in out_dir.iterdir() if p.name != "manifest.jsonl"}
    assert on_disk == recorded, (
        f"files not recorded: {sorted(on_disk - recorded)[:10]}; "
        f"recorded but absent: {sorted(recorded - on_disk)[:10]}"
    )

    # 5. No credential reached the CDN.
    assert view.stats.cdn_credentials_seen == (), view.stats.cdn_credentials_seen[:3]

    report.jobs_created = view.stats.jobs_created
    report.faults_by_kind = dict(view.stats.faults_by_kind)
    report.requests_by_endpoint = dict(view.stats.requests_by_endpoint)
    return report


# --- The figures file --------------------------------------------------------------------------

REPORT_ENV = "RUNCOMFY_RELIABILITY_REPORT"
_written_this_run: set[str] = set()


def record_figures(section: str, figures: Mapping[str, Any]) -> None:
    """Merge ``figures`` under ``section`` into the JSON file named by $RUNCOMFY_RELIABILITY_REPORT.

    The first write of a test session starts the file afresh, so it never mixes runs. Does
    nothing when the variable is unset (CI), so ordinary runs write nothing.
    """
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    path = Path(target)
    data: dict[str, Any] = {}
    if _written_this_run and path.exists():
        data = json.loads(path.read_text())
    _written_this_run.add(section)
    data[section] = figures
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def merge_counts(reports: Iterable[AuditReport]) -> dict[str, Any]:
    """Sums of several audits' figures."""
    total: dict[str, Any] = {
        "inputs": 0, "jobs_created": 0, "inputs_submitted_twice": 0, "duplicate_jobs": 0,
        "inputs_billed_twice": 0, "withdrawn_jobs": 0, "orphan_jobs": 0, "files_checked": 0,
        "cdn_credentials_seen": 0,
    }
    states: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    for r in reports:
        for key in total:
            total[key] += getattr(r, key)
        states.update(r.outcomes_by_state)
        faults.update(r.faults_by_kind)
    total["outcomes_by_state"] = dict(states)
    total["faults_by_kind"] = dict(faults)
    return total
