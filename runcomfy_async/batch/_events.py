"""What a batch reports while it runs: live counters and events for progress and logs."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, TypeAlias

import attrs

from ..core._events import RequestFinished, RetryEvent
from ..core._lifecycle import InputState
from ..core._wire import JobResult, JobState

if TYPE_CHECKING:
    from ._outcome import Outcome

__all__ = [
    "BatchEvent",
    "BatchProgress",
    "CancelReport",
    "Event",
    "JobCompleted",
    "JobEnded",
    "JobStateChanged",
    "JobSubmitted",
    "Phase",
    "RateChanged",
]


class Phase(str, enum.Enum):
    """Where an unfinished input is, for the live counters. A finished input is counted
    under its :class:`~runcomfy_async.InputState` instead."""

    WAITING = "waiting"
    """Pulled from the inputs, not yet accepted by the service."""
    QUEUED = "queued"
    RUNNING = "running"


@attrs.define
class BatchProgress:
    """Live counters of a batch, updated as it runs (read them; don't write them).

    ``waiting``, ``queued`` and ``running`` count unfinished inputs (the last two by what
    the last poll said); every other counter but ``submits``, ``polls`` and
    ``from_journal`` counts finished inputs under their :class:`InputState` value.

    Money, in US dollars: ``spent_usd`` is what the finished jobs cost (their reported
    cost; a succeeded job without one counts its estimate), ``in_flight_usd`` the estimate
    of the jobs still running; ``estimated_usd`` is the two together. The estimates need
    the models' prices: they stay 0 unless the batch was asked to track cost or to keep a
    budget (``Budget``).
    """

    waiting: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    withdrawn: int = 0
    timed_out: int = 0
    refused: int = 0
    not_sent: int = 0
    over_budget: int = 0
    unknown: int = 0
    submits: int = 0
    polls: int = 0
    from_journal: int = 0
    spent_usd: float = 0.0
    in_flight_usd: float = 0.0

    @property
    def in_flight(self) -> int:
        return self.waiting + self.queued + self.running

    @property
    def estimated_usd(self) -> float:
        """What the batch will have cost once the jobs in flight finish, as far as known."""
        return self.spent_usd + self.in_flight_usd

    @property
    def finished(self) -> int:
        return sum(getattr(self, state.value) for state in _FINAL_STATES)

    def move(self, old: Phase | InputState | None, new: Phase | InputState) -> None:
        # `_value_` is the plain attribute behind `.value`, which on Python 3.11+ is a
        # descriptor call: this runs three times per job.
        if old is not None:
            name = old._value_
            setattr(self, name, getattr(self, name) - 1)
        name = new._value_
        setattr(self, name, getattr(self, name) + 1)

    def snapshot(self) -> dict[str, int | float]:
        out: dict[str, int | float] = attrs.asdict(self)
        out["in_flight"] = self.in_flight
        out["finished"] = self.finished
        out["estimated_usd"] = self.estimated_usd
        return out


_FINAL_STATES = tuple(state for state in InputState if state.is_final)


@attrs.frozen(kw_only=True)
class JobSubmitted:
    """The server accepted a job (``index`` is the batch input's, None outside a batch)."""

    index: int | None
    model_id: str
    request_id: str
    attempt: int


@attrs.frozen(kw_only=True)
class JobStateChanged:
    """A poll saw a job in a new state (or at a new queue position); ``index`` is the
    batch input's, None for ``wait``/``run``."""

    index: int | None
    request_id: str
    state: JobState
    raw_state: str | None
    queue_position: int | None = None


@attrs.frozen(kw_only=True)
class JobCompleted:
    """An input has its outcome."""

    outcome: Outcome


@attrs.frozen(kw_only=True)
class JobEnded:
    """A job that ``wait`` or ``run`` waited on is over (a batch says ``JobCompleted``,
    with the input's whole outcome).

    Attributes:
        request_id: the job.
        model_id: its model, when the waiter knew it.
        result: its final result (``state``, ``cost``, ``error``...).
    """

    request_id: str
    model_id: str | None
    result: JobResult


@attrs.frozen(kw_only=True)
class RateChanged:
    """A 429 cut the submit rate, or successes grew it back."""

    rate: float


@attrs.frozen(kw_only=True)
class CancelReport:
    """What happened to jobs still pending when the batch stopped early.

    Attributes:
        cancelled: request ids cancelled while still queued (not billed; journaled as
            ``withdrawn``, so that a resumed batch submits them again).
        not_cancelled: request ids that were running or could not be reached: they will
            finish and be billed; with a journal, resuming the batch collects them.
    """

    cancelled: tuple[str, ...]
    not_cancelled: tuple[str, ...]


BatchEvent: TypeAlias = (
    JobSubmitted | JobStateChanged | JobCompleted | RateChanged | CancelReport | RetryEvent
    | RequestFinished
)
"""Every event a batch reports through ``on_event``."""

Event: TypeAlias = BatchEvent | JobEnded
"""Every event the library reports: what a client-wide ``on_event`` hears."""
