"""What the sandbox saw, for tests and benchmarks to assert on.

`SandboxStats` is the live record the sandbox writes to; `StatsSnapshot` is a frozen copy,
safe to read from another thread and to dump as JSON. Job times are in the sandbox's clock:
monotonic seconds since the sandbox started. Divided by the time scale they are in model time
(the time the jobs would take at full scale), which is what an oracle makespan is measured in.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import attrs

JobOutcome = Literal["in_queue", "in_progress", "succeeded", "failed", "cancelled"]


@attrs.define(slots=True, eq=False)
class JobRecord:
    """One submitted job's life, in the sandbox's clock.

    Args:
        index: the job's number in submission order (0-based); it seeds the job's draws.
        request_id: the id given to the client.
        model_id: the model it ran on.
        duration_s: the run time drawn for it, in model time (before the time scale).
        time_scale: the factor real time is model time multiplied by.
        submitted_s, started_s, finished_s: sandbox-clock times (None until they happen).
        outcome: the job's state now.
        input_key: the canonical JSON of the job's input (the key of ``submissions_by_input``).
        cost_usd: what the job was billed (set when it succeeds; 0 otherwise).
    """

    index: int
    request_id: str
    model_id: str
    duration_s: float
    time_scale: float
    submitted_s: float
    started_s: float | None = None
    finished_s: float | None = None
    outcome: JobOutcome = "in_queue"
    input_key: str = ""
    cost_usd: float = 0.0

    @property
    def submitted_model_s(self) -> float:
        """The submission time in model time."""
        return self.submitted_s / self.time_scale

    @property
    def started_model_s(self) -> float | None:
        """The start time in model time, None if not started."""
        return None if self.started_s is None else self.started_s / self.time_scale

    @property
    def finished_model_s(self) -> float | None:
        """The finish time in model time, None if not finished."""
        return None if self.finished_s is None else self.finished_s / self.time_scale

    def to_json_dict(self) -> dict[str, Any]:
        """The record as plain JSON values."""
        return attrs.asdict(self)


@attrs.frozen
class CdnSighting:
    """A request to the CDN that carried a credential: what a leak looks like.

    Args:
        path: the path asked for.
        header: the header's name.
        value: the header's value, as sent.
    """

    path: str
    header: str
    value: str


@attrs.define(eq=False)
class SandboxStats:
    """Counters the sandbox keeps while it serves. Read them; `reset()` clears them.

    Args:
        requests_by_endpoint: API requests per endpoint name (submit, status, result, cancel,
            models), faulted ones included.
        responses_by_status: answers per HTTP status (resets, which have none, are not here).
        responses_by_endpoint_status: answers per (endpoint, status).
        total_requests: every API request.
        jobs_created: jobs the API created (an accepted-then-dropped submit creates one).
        submissions_by_input: created jobs per canonical input JSON (sorted keys, compact):
            a count above 1 means the same input was submitted twice.
        cancellations: jobs a cancel call actually cancelled.
        faults_by_kind: faults injected, per kind (``cdn_*`` kinds for the CDN's).
        cdn_requests: requests the CDN served, files or not.
        cdn_credentials_seen: CDN requests that carried ``Authorization`` or a token.
        restarts: API restarts.
        spend_usd: what succeeded jobs were billed, in all (USD).
        spend_by_token: the same per token (the account that submitted).
        jobs: one record per created job, in submission order.

    Clearing the counters does not refill a balance: the sandbox bills from its own ledger.
    """

    requests_by_endpoint: Counter[str] = attrs.field(factory=Counter)
    responses_by_status: Counter[int] = attrs.field(factory=Counter)
    responses_by_endpoint_status: Counter[tuple[str, int]] = attrs.field(factory=Counter)
    total_requests: int = 0
    jobs_created: int = 0
    submissions_by_input: Counter[str] = attrs.field(factory=Counter)
    cancellations: int = 0
    faults_by_kind: Counter[str] = attrs.field(factory=Counter)
    cdn_requests: int = 0
    cdn_credentials_seen: list[CdnSighting] = attrs.field(factory=list)
    restarts: int = 0
    spend_usd: float = 0.0
    spend_by_token: dict[str, float] = attrs.field(factory=dict)
    jobs: list[JobRecord] = attrs.field(factory=list)

    def job(self, request_id: str) -> JobRecord | None:
        """The record of one job, or None (a linear search: for tests, not hot paths)."""
        return next((record for record in self.jobs if record.request_id == request_id), None)

    def reset(self) -> None:
        """Clear every counter and forget the job records (jobs themselves live on)."""
        fresh = SandboxStats()
        for field in attrs.fields(SandboxStats):
            setattr(self, field.name, getattr(fresh, field.name))

    def snapshot(self) -> StatsSnapshot:
        """A frozen copy, safe to keep and to read from another thread."""
        return StatsSnapshot(
            requests_by_endpoint=dict(self.requests_by_endpoint),
            responses_by_status=dict(self.responses_by_status),
            responses_by_endpoint_status=dict(self.responses_by_endpoint_status),
            total_requests=self.total_requests,
            jobs_created=self.jobs_created,
            submissions_by_input=dict(self.submissions_by_input),
            cancellations=self.cancellations,
            faults_by_kind=dict(self.faults_by_kind),
            cdn_requests=self.cdn_requests,
            cdn_credentials_seen=tuple(self.cdn_credentials_seen),
            restarts=self.restarts,
            spend_usd=self.spend_usd,
            spend_by_token=dict(self.spend_by_token),
            jobs=tuple(attrs.evolve(record) for record in self.jobs),
        )


@attrs.frozen
class StatsSnapshot:
    """A frozen copy of `SandboxStats` (same names), with a JSON form for benchmarks."""

    requests_by_endpoint: dict[str, int]
    responses_by_status: dict[int, int]
    responses_by_endpoint_status: dict[tuple[str, int], int]
    total_requests: int
    jobs_created: int
    submissions_by_input: dict[str, int]
    cancellations: int
    faults_by_kind: dict[str, int]
    cdn_requests: int
    cdn_credentials_seen: tuple[CdnSighting, ...]
    restarts: int
    spend_usd: float
    spend_by_token: dict[str, float]
    jobs: tuple[JobRecord, ...]

    def runs_by_input(self) -> dict[str, int]:
        """Jobs per canonical input that were not cancelled while queued: the ones that ran
        (or will) and are billed. A job withdrawn before it ran and submitted again counts
        once here, twice in ``submissions_by_input``."""
        runs: Counter[str] = Counter()
        for record in self.jobs:
            if record.outcome != "cancelled":
                runs[record.input_key] += 1
        return dict(runs)

    def job(self, request_id: str) -> JobRecord | None:
        """The record of one job, or None."""
        return next((record for record in self.jobs if record.request_id == request_id), None)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON values; tuple keys become ``"endpoint status"`` strings."""
        return {
            "requests_by_endpoint": self.requests_by_endpoint,
            "responses_by_status": {str(k): v for k, v in self.responses_by_status.items()},
            "responses_by_endpoint_status": {
                f"{endpoint} {status}": count
                for (endpoint, status), count in self.responses_by_endpoint_status.items()
            },
            "total_requests": self.total_requests,
            "jobs_created": self.jobs_created,
            "submissions_by_input": self.submissions_by_input,
            "cancellations": self.cancellations,
            "faults_by_kind": self.faults_by_kind,
            "cdn_requests": self.cdn_requests,
            "cdn_credentials_seen": [attrs.asdict(s) for s in self.cdn_credentials_seen],
            "restarts": self.restarts,
            "spend_usd": self.spend_usd,
            "spend_by_token": self.spend_by_token,
            "jobs": [record.to_json_dict() for record in self.jobs],
        }
