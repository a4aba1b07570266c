"""Batch orchestration: ``client.map`` and what it hands back.

The names are imported on first use (PEP 562), each from its own module: the outcome, option
and event types do not load the engine (the journal, the downloader, the transport).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._attach import Attach
    from ._engine import Batch
    from ._events import (
        BatchEvent,
        BatchProgress,
        CancelReport,
        Event,
        JobCompleted,
        JobEnded,
        JobStateChanged,
        JobSubmitted,
        Phase,
        RateChanged,
    )
    from ._options import Budget, Deadlines, Downloads, Limits, MapKnobs, MapOptions, Resubmit
    from ._outcome import Outcome, OutcomeState, Timings
    from ._spend import StopReason

# Each public name and the module it lives in.
_HOMES: Final = {
    "Attach": "._attach",
    "Batch": "._engine",
    "BatchEvent": "._events",
    "BatchProgress": "._events",
    "CancelReport": "._events",
    "Event": "._events",
    "JobEnded": "._events",
    "JobCompleted": "._events",
    "JobStateChanged": "._events",
    "JobSubmitted": "._events",
    "Phase": "._events",
    "RateChanged": "._events",
    "Budget": "._options",
    "Deadlines": "._options",
    "Downloads": "._options",
    "Limits": "._options",
    "MapKnobs": "._options",
    "MapOptions": "._options",
    "Resubmit": "._options",
    "Outcome": "._outcome",
    "OutcomeState": "._outcome",
    "Timings": "._outcome",
    "StopReason": "._spend",
}

__all__ = [
    "Attach",
    "Batch",
    "BatchEvent",
    "BatchProgress",
    "Budget",
    "CancelReport",
    "Deadlines",
    "Downloads",
    "Event",
    "JobCompleted",
    "JobEnded",
    "JobStateChanged",
    "JobSubmitted",
    "Limits",
    "MapKnobs",
    "MapOptions",
    "Outcome",
    "OutcomeState",
    "Phase",
    "RateChanged",
    "Resubmit",
    "StopReason",
    "Timings",
]


if not TYPE_CHECKING:
    # Hidden from type checkers, which would otherwise accept any name from this package.
    __getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)
