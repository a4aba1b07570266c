"""What crosses the wire: attrs classes and lenient values.

RunComfy's answers are only partly documented, and different endpoints speak different
vocabularies (``/status`` says ``completed`` for success *and* failure; ``/result`` says
``succeeded`` or ``failed``; ``canceled`` and ``cancelled`` are both seen). The parsers here
therefore:

- keep every raw answer (``.raw``) and every raw state string (``.raw_state``);
- normalise states into :class:`JobState`, mapping any state they don't know to
  ``UNKNOWN`` rather than failing, so that a new server state never crashes a batch;
- ignore unknown fields;
- raise :class:`~runcomfy_async.MalformedResponseError` (and nothing else) when an answer
  lacks what is needed to go on, such as a request id.

The parsers themselves are in :mod:`._parse`; an input's identity in :mod:`._identity`; the
cattrs converter (typed inputs, stored rows) in :mod:`._converter`.
"""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

__all__ = [
    "CancelAnswer",
    "CancelOutcome",
    "Job",
    "JobResult",
    "JobState",
    "JobStatus",
    "ModelInfo",
    "Price",
    "as_float",
    "as_int",
    "as_str",
    "parse_datetime",
]


class JobState(str, enum.Enum):
    """A job's state, normalised across RunComfy's vocabularies.

    ``COMPLETED`` is what ``/status`` says when a job is over without saying whether it
    succeeded; ``/result`` then tells ``SUCCEEDED`` from ``FAILED``.
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True when the job will not change any more."""
        return self in _TERMINAL

    @classmethod
    def from_raw(cls, raw: object) -> JobState:
        """The normalised state for a raw state string; ``UNKNOWN`` for anything else."""
        if type(raw) is str:
            # The spelling the service sends is found as it comes: no copy, no lookup of
            # the class's member.
            state = _RAW_STATES.get(raw)
            if state is not None:
                return state
        elif not isinstance(raw, str):
            return _UNKNOWN
        return _RAW_STATES.get(raw.strip().lower(), _UNKNOWN)


_TERMINAL = frozenset({JobState.COMPLETED, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

_UNKNOWN = JobState.UNKNOWN
_RAW_STATES: dict[str, JobState] = {
    "in_queue": JobState.QUEUED,
    "queued": JobState.QUEUED,
    "pending": JobState.QUEUED,
    "waiting": JobState.QUEUED,
    "submitted": JobState.QUEUED,
    "in_progress": JobState.RUNNING,
    "running": JobState.RUNNING,
    "starting": JobState.RUNNING,
    "processing": JobState.RUNNING,
    "completed": JobState.COMPLETED,
    "succeeded": JobState.SUCCEEDED,
    "success": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "failure": JobState.FAILED,
    "error": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "canceled": JobState.CANCELLED,
}


class CancelOutcome(str, enum.Enum):
    """What a cancel request achieved."""

    CANCELLED = "cancelled"
    NOT_CANCELLABLE = "not_cancellable"
    UNKNOWN = "unknown"

    @classmethod
    def from_raw(cls, raw: object) -> CancelOutcome:
        if not isinstance(raw, str):
            return cls.UNKNOWN
        text = raw.strip().lower()
        if text in ("cancelled", "canceled"):
            return cls.CANCELLED
        if text in ("not_cancellable", "not_cancelable", "not-cancellable"):
            return cls.NOT_CANCELLABLE
        return cls.UNKNOWN


@attrs.frozen(kw_only=True)
class Job:
    """The handle of a submitted job: keep ``request_id``, it is what you paid for.

    Attributes:
        request_id: the server's id of the job; opaque.
        model_id: the model the job was submitted to.
        status_url, result_url, cancel_url: absolute URLs the server gave, when it gave them.
        raw: the server's answer as received.
    """

    request_id: str
    model_id: str | None = None
    status_url: str | None = None
    result_url: str | None = None
    cancel_url: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class JobStatus:
    """An answer of ``GET /requests/{id}/status``.

    Attributes:
        state: the normalised state (``COMPLETED`` does not say success or failure).
        raw_state: the state string as the server sent it.
        queue_position: the job's place in the queue while queued (0 = next), else None.
    """

    request_id: str
    state: JobState
    raw_state: str | None = None
    queue_position: int | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class JobResult:
    """An answer of ``GET /requests/{id}/result``, before or after the job finished.

    Attributes:
        state: the normalised state (before completion: QUEUED, RUNNING or CANCELLED).
        raw_state: the state string as the server sent it.
        outputs: every output URL, in the order the server listed them.
        output: the raw ``output`` object.
        error: the raw ``error`` (string, object or list: its shape is undocumented).
        created_at, started_at, finished_at: timestamps, when present and parseable.
        cost: the job's cost in USD, when asked for with ``include_cost``.
    """

    request_id: str
    state: JobState
    raw_state: str | None = None
    outputs: tuple[str, ...] = ()
    output: Any = None
    error: Any = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cost: float | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def ok(self) -> bool:
        """True when the job succeeded."""
        return self.state is JobState.SUCCEEDED

    @property
    def missing_outputs(self) -> bool:
        """True when the job succeeded but named no output URL at all (an output shape the
        client does not know, or a deployment that answered none): see ``raw``."""
        return self.state is JobState.SUCCEEDED and not self.outputs

    def _repr_html_(self) -> str:
        """A card with the outputs' thumbnails, for notebooks."""
        from ._display import html_card

        lines = [f"request {self.request_id}"]
        if self.cost is not None:
            lines.append(f"cost ${self.cost:.4f}")
        if self.error not in (None, "", [], {}):
            lines.append(f"error: {self.error}")
        return html_card(self.raw_state or self.state.value, self.outputs, lines,
                         failed=self.state is JobState.FAILED)


@attrs.frozen(kw_only=True)
class CancelAnswer:
    """An answer of ``POST /requests/{id}/cancel``.

    Attributes:
        outcome: ``CANCELLED`` when the job was still queued; ``NOT_CANCELLABLE`` otherwise.
        state: the job's state after the call.
    """

    request_id: str
    outcome: CancelOutcome
    raw_outcome: str | None = None
    state: JobState = JobState.UNKNOWN
    raw_state: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def cancelled(self) -> bool:
        return self.outcome is CancelOutcome.CANCELLED


@attrs.frozen(kw_only=True)
class Price:
    """What a model costs, as the catalog says (``base_price_usd`` per ``price_unit``).

    Attributes:
        usd: the price in US dollars of one unit.
        unit: ``"output"`` (each output file of a succeeded job is billed) or ``"second"``
            (each second the job runs); another unit is kept as the catalog spells it, and
            cannot be estimated.
        note: the catalog's free-text note on the price (``pricing_note``), when it has one.
    """

    usd: float
    unit: str
    note: str | None = None

    @property
    def per_output(self) -> bool:
        return self.unit == "output"

    @property
    def per_second(self) -> bool:
        return self.unit == "second"

    def __str__(self) -> str:
        return f"${self.usd:g} per {self.unit}"


@attrs.frozen(kw_only=True)
class ModelInfo:
    """A catalog entry: ``GET /models/{model_id}`` (or one item of ``GET /models``).

    Attributes:
        model_id: the model's id (two or more slash-separated segments).
        display_name: the human name, when given.
        input_schema: the model's input JSON Schema, when given (the list may leave it out).
        price: what a job costs, when the catalog says (``base_price_usd``, ``price_unit``).
        raw: the answer as received, with every field the server sent.
    """

    model_id: str
    display_name: str | None = None
    input_schema: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    price: Price | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


# Python 3.11 reads "2026-01-01T00:00:00Z" (and most ISO 8601) itself.
_FROMISOFORMAT_TAKES_Z = sys.version_info >= (3, 11)


def parse_datetime(value: object) -> datetime | None:
    """An aware datetime from ISO-8601 (with ``Z`` or an offset) or epoch seconds, else None."""
    if value is None:
        return None
    if type(value) is str and _FROMISOFORMAT_TAKES_Z:  # the common form, read as it comes
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    # Spaces, a lower-case z, or Python 3.10 (whose fromisoformat takes no Z at all).
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only: "²".isdigit() is true, and int("²") raises.
        if text.isascii() and text.isdigit():
            return int(text)
    return None


def as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # "abc", or an integer of 400 digits
        return None
    return number if math.isfinite(number) else None


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
