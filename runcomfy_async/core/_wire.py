"""What crosses the wire: attrs classes, the project's one cattrs converter, tolerant parsing.

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
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs
import cattrs

from ._errors import MalformedResponseError, quote_body

__all__ = [
    "CancelAnswer",
    "CancelOutcome",
    "Job",
    "JobResult",
    "JobState",
    "JobStatus",
    "ModelInfo",
    "canonical_json",
    "collect_output_urls",
    "converter",
    "input_fingerprint",
    "parse_cancel",
    "parse_job",
    "parse_model_info",
    "parse_result",
    "parse_status",
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
        if not isinstance(raw, str):
            return cls.UNKNOWN
        return _RAW_STATES.get(raw.strip().lower(), cls.UNKNOWN)


_TERMINAL = frozenset({JobState.COMPLETED, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

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
class ModelInfo:
    """A catalog entry: ``GET /models/{model_id}`` (or one item of ``GET /models``).

    Attributes:
        model_id: the model's id (two or more slash-separated segments).
        display_name: the human name, when given.
        input_schema: the model's input JSON Schema, when given (the list may leave it out).
        raw: the answer as received, with every field the server sent.
    """

    model_id: str
    display_name: str | None = None
    input_schema: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


# --- The converter ---------------------------------------------------------------------------

converter = cattrs.Converter(forbid_extra_keys=False)
"""The project's one converter: wire answers in, typed inputs out (unset fields omitted)."""


def _parse_datetime(value: object) -> datetime | None:
    """An aware datetime from ISO-8601 (with ``Z`` or an offset) or epoch seconds, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _as_int(value: object) -> int | None:
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


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # "abc", or an integer of 400 digits
        return None
    return number if math.isfinite(number) else None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


converter.register_structure_hook(JobState, lambda v, _: JobState.from_raw(v))
converter.register_structure_hook(CancelOutcome, lambda v, _: CancelOutcome.from_raw(v))
converter.register_structure_hook(datetime, lambda v, _: _parse_datetime(v))
converter.register_unstructure_hook(datetime, lambda v: v.isoformat())


def _require_object(body: object, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise MalformedResponseError(
            f"expected a JSON object for {what}, got {type(body).__name__}: "
            f"{quote_body(_dump(body))}"
        )
    return body


def _require_request_id(body: Mapping[str, Any], what: str, fallback: str | None) -> str:
    value = body.get("request_id")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if fallback is not None:
        return fallback
    raise MalformedResponseError(f"{what} has no request_id: {quote_body(_dump(body))}")


def _dump(body: object) -> str:
    try:
        return json.dumps(body, default=repr)
    except (TypeError, ValueError):  # pragma: no cover - default=repr makes this rare
        return repr(body)


def parse_job(body: object, *, model_id: str | None = None) -> Job:
    """A :class:`Job` from a submit answer; MalformedResponseError if it has no request id."""
    data = _require_object(body, "a submit answer")
    return Job(
        request_id=_require_request_id(data, "the submit answer", None),
        model_id=model_id,
        status_url=_as_str(data.get("status_url")),
        result_url=_as_str(data.get("result_url")),
        cancel_url=_as_str(data.get("cancel_url")),
        raw=data,
    )


def parse_status(body: object, *, request_id: str | None = None) -> JobStatus:
    """A :class:`JobStatus` from a ``/status`` answer. Unknown states become ``UNKNOWN``."""
    data = _require_object(body, "a status answer")
    raw_state = _as_str(data.get("status"))
    state = JobState.from_raw(raw_state)
    position = _as_int(data.get("queue_position")) if state is JobState.QUEUED else None
    return JobStatus(
        request_id=_require_request_id(data, "the status answer", request_id),
        state=state,
        raw_state=raw_state,
        queue_position=position,
        raw=data,
    )


def parse_result(body: object, *, request_id: str | None = None) -> JobResult:
    """A :class:`JobResult` from a ``/result`` answer, early or final.

    A ``completed`` state in a result (an older spelling of success) counts as
    ``SUCCEEDED``, unless the answer carries an error and no output, which is a failure.
    """
    data = _require_object(body, "a result answer")
    raw_state = _as_str(data.get("status"))
    state = JobState.from_raw(raw_state)
    output = data.get("output")
    error = data.get("error")
    outputs = tuple(collect_output_urls(output))
    if state is JobState.COMPLETED:
        state = (
            JobState.FAILED
            if error not in (None, "", [], {}) and not outputs
            else (JobState.SUCCEEDED)
        )
    return JobResult(
        request_id=_require_request_id(data, "the result answer", request_id),
        state=state,
        raw_state=raw_state,
        outputs=outputs,
        output=output,
        error=error,
        created_at=_parse_datetime(data.get("created_at")),
        started_at=_parse_datetime(data.get("started_at")),
        finished_at=_parse_datetime(data.get("finished_at")),
        cost=_as_float(data.get("cost")),
        raw=data,
    )


def parse_cancel(body: object, *, request_id: str | None = None) -> CancelAnswer:
    """A :class:`CancelAnswer` from a cancel answer."""
    data = _require_object(body, "a cancel answer")
    raw_outcome = _as_str(data.get("outcome"))
    raw_state = _as_str(data.get("status"))
    outcome = CancelOutcome.from_raw(raw_outcome)
    state = JobState.from_raw(raw_state)
    if outcome is CancelOutcome.UNKNOWN and state is JobState.CANCELLED:
        outcome = CancelOutcome.CANCELLED
    return CancelAnswer(
        request_id=_require_request_id(data, "the cancel answer", request_id),
        outcome=outcome,
        raw_outcome=raw_outcome,
        state=state,
        raw_state=raw_state,
        raw=data,
    )


def parse_model_info(body: object, *, model_id: str | None = None) -> ModelInfo:
    """A :class:`ModelInfo` from a catalog entry."""
    data = _require_object(body, "a model entry")
    found = _as_str(data.get("model_id")) or _as_str(data.get("id")) or model_id
    if not found:
        raise MalformedResponseError(f"a model entry has no model_id: {quote_body(_dump(data))}")
    schema = data.get("input_schema")
    if isinstance(schema, str):
        # Some catalogs ship the schema as a JSON string.
        try:
            schema = json.loads(schema)
        except ValueError:
            schema = None
    return ModelInfo(
        model_id=found,
        display_name=_as_str(data.get("display_name")) or _as_str(data.get("name")),
        input_schema=schema if isinstance(schema, Mapping) else None,
        raw=data,
    )


def collect_output_urls(output: object) -> Iterator[str]:
    """Every URL in an ``output`` object, in order.

    Values may be a URL string, a list of URL strings, an object with ``url``, or a list of
    such objects; anything else is skipped (it stays in the raw ``output``).
    """
    if isinstance(output, str):
        if _looks_like_url(output):
            yield output
        return
    if isinstance(output, Mapping):
        url = output.get("url")
        if isinstance(url, str) and _looks_like_url(url):
            yield url
            return
        for value in output.values():
            yield from collect_output_urls(value)
        return
    if isinstance(output, list):
        for item in output:
            yield from collect_output_urls(item)


def _looks_like_url(text: str) -> bool:
    return text.startswith(("https://", "http://"))


# --- Input identity --------------------------------------------------------------------------


def canonical_json(value: object) -> str:
    """Compact JSON with sorted keys: the same input always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_fingerprint(model_id: str, payload: Mapping[str, Any]) -> str:
    """sha256 hex of the model id and the canonical input JSON.

    Used to find a job whose submit outcome is unknown, and by the journal to notice that
    the input at an index has changed between runs.
    """
    digest = hashlib.sha256()
    digest.update(model_id.encode("utf-8"))
    digest.update(b"\n")
    digest.update(canonical_json(payload).encode("utf-8"))
    return digest.hexdigest()
