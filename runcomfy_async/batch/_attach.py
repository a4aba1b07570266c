"""A job submitted elsewhere, for a batch to collect rather than submit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Attach"]


@attrs.frozen
class Attach:
    """An element of ``map``'s inputs that names a job already submitted (by another process,
    or found in a database): the batch polls it with the others and hands back its outcome.

    The batch does not own such a job: leaving the batch early or its deadline passing does
    not cancel it (it may be someone else's); it ends ``timed_out`` and stays collectable.

    Attributes:
        request_id: the job's request id.
        input: the input it was submitted with, if known (kept in the outcome and journal).
        model_id: its model, if known (the poll planner learns durations per model).
    """

    request_id: str
    input: Mapping[str, Any] | None = None
    model_id: str | None = None
