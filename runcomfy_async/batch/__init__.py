"""Batch orchestration: ``client.map`` and what it hands back."""

from ._attach import Attach
from ._engine import Batch
from ._events import (
    BatchEvent,
    BatchProgress,
    CancelReport,
    JobCompleted,
    JobStateChanged,
    JobSubmitted,
    Phase,
    RateChanged,
)
from ._options import Deadlines, Downloads, Limits, MapOptions, Resubmit
from ._outcome import Outcome, OutcomeState, Timings

__all__ = [
    "Attach",
    "Batch",
    "BatchEvent",
    "BatchProgress",
    "CancelReport",
    "Deadlines",
    "Downloads",
    "JobCompleted",
    "JobStateChanged",
    "JobSubmitted",
    "Limits",
    "MapOptions",
    "Outcome",
    "OutcomeState",
    "Phase",
    "RateChanged",
    "Resubmit",
    "Timings",
]
