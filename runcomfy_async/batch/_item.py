"""One input on its way through a batch (internal)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import attrs

from ..core._errors import InvalidInputError
from ..core._wire import JobState
from ..store.journal import JournalEntry
from ._events import Phase
from ._outcome import Outcome

__all__ = ["Item"]


@attrs.define(eq=False)
class Item:
    """An input held by the batch while it has a slot.

    ``phase`` is where an unfinished input is for the live counters; once ``outcome`` is
    set the input is over and is counted under ``outcome.state``.
    """

    index: int
    given: Any
    model_id: str | None = None
    payload: dict[str, Any] | None = None
    problem: InvalidInputError | None = None
    entry: JournalEntry | None = None
    """The journal's entry for this index, in a resumed batch."""
    orphan: bool = False
    """Known only from the journal: beyond the inputs given to this run."""
    attach_id: str | None = None
    """A job submitted elsewhere, to collect (``Attach``)."""
    owned: bool = True
    """This batch submitted the job, so it may cancel it while queued."""
    attempts: int = 0
    journaled: bool = False
    """The journal has a row for the current attempt (an intent was recorded)."""
    request_id: str | None = None
    submitted_mono: float = 0.0
    submitted_wall: datetime | None = None
    deadline: float = math.inf
    polls: int = 0
    poll_errors: int = 0
    first_try: float = 0.0
    held_usd: float | None = None
    """The estimate the budget holds for the current attempt's job (see ``Spend``)."""
    state: JobState | None = None
    phase: Phase = Phase.WAITING
    done: bool = False
    outcome: Outcome | None = None
