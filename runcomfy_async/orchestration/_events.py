"""What a batch reports while it runs: live counters and events for progress and logs."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, TypeAlias

import attrs

from .._events import RetryEvent
from .._wire import JobState

if TYPE_CHECKING:
    from ._outcome import Outcome

__all__ = [
    "BatchEvent",
    "BatchProgress",
    "CancelReport",
    "JobCompleted",
    "JobStateChanged",
    "JobSubmitted",
    "Phase",
    "RateChanged",
]


class Phase(str, enum.Enum):
    """Where an input is, for the live counters."""

    WAITING = "waiting"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    SUBMIT_UNKNOWN = "submit_unknown"
    REJECTED = "rejected"
    ERROR = "error"


@attrs.define
class BatchProgress:
    """Live counters of a batch, updated as it runs (read them; don't write them).

    ``waiting`` counts inputs pulled but not yet accepted by the server; ``queued`` and
    ``running`` what the last poll said; the rest count finished inputs by how they ended.
    """

    waiting: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    timed_out: int = 0
    submit_unknown: int = 0
    rejected: int = 0
    error: int = 0
    submits: int = 0
    polls: int = 0
    from_journal: int = 0

    @property
    def in_flight(self) -> int:
        return self.waiting + self.queued + self.running

    @property
    def finished(self) -> int:
        return (self.succeeded + self.failed + self.cancelled + self.timed_out
                + self.submit_unknown + self.rejected + self.error)

    def move(self, old: Phase | None, new: Phase) -> None:
        if old is not None:
            setattr(self, old.value, getattr(self, old.value) - 1)
        setattr(self, new.value, getattr(self, new.value) + 1)

    def snapshot(self) -> dict[str, int]:
        out = attrs.asdict(self)
        out["in_flight"] = self.in_flight
        out["finished"] = self.finished
        return out


@attrs.frozen(kw_only=True)
class JobSubmitted:
    """The server accepted an input's job."""

    index: int
    model_id: str
    request_id: str
    attempt: int


@attrs.frozen(kw_only=True)
class JobStateChanged:
    """A poll saw a job in a new state (or at a new queue position)."""

    index: int
    request_id: str
    state: JobState
    raw_state: str | None
    queue_position: int | None = None


@attrs.frozen(kw_only=True)
class JobCompleted:
    """An input has its outcome."""

    outcome: Outcome


@attrs.frozen(kw_only=True)
class RateChanged:
    """A 429 cut the submit rate, or successes grew it back."""

    rate: float


@attrs.frozen(kw_only=True)
class CancelReport:
    """What happened to jobs still pending when the batch stopped early.

    Attributes:
        cancelled: request ids cancelled while still queued (not billed).
        not_cancelled: request ids that were running or could not be reached: they will
            finish and be billed; with a journal, resuming the batch collects them.
    """

    cancelled: tuple[str, ...]
    not_cancelled: tuple[str, ...]


BatchEvent: TypeAlias = (
    JobSubmitted | JobStateChanged | JobCompleted | RateChanged | CancelReport | RetryEvent
)
"""Every event a batch reports through ``on_event``."""
