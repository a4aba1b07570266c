"""Batch orchestration: ``client.map`` and what it hands back."""

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
from ._options import MapOptions
from ._outcome import Outcome, OutcomeState, Timings

__all__ = [
    "Batch",
    "BatchEvent",
    "BatchProgress",
    "CancelReport",
    "JobCompleted",
    "JobStateChanged",
    "JobSubmitted",
    "MapOptions",
    "Outcome",
    "OutcomeState",
    "Phase",
    "RateChanged",
    "Timings",
]
