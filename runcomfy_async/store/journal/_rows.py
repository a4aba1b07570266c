"""What the journal hands out (:class:`JournalEntry`, :class:`PastAttempt`) and how a row of
its ``items`` table becomes one.

Timestamps are stored as unix seconds (REAL, UTC): compact, sortable and easy to compute
timings from. The Python API speaks timezone-aware :class:`~datetime.datetime` objects.

A row that cannot be read back (a state this version does not know, JSON that does not parse)
is reported as a :class:`JournalError` naming the input, never passed on half-read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

import attrs

from ...core._converter import converter
from ...core._errors import JournalError
from ...core._files import StoredFile
from ...core._lifecycle import InputState

__all__ = [
    "COLUMNS",
    "JournalEntry",
    "PastAttempt",
    "check_index",
    "entry_from_row",
    "state_from_raw",
    "unix",
]


@attrs.frozen(kw_only=True)
class PastAttempt:
    """An earlier attempt at one input, kept when the input was submitted again.

    Attributes:
        attempt: its number (1 for the first submit).
        fingerprint: the input fingerprint it was submitted with.
        state: how it ended (``INTENT`` if its outcome was never known).
        request_id: its job's request id, if the server gave one.
        submitted_at, finished_at: when it was accepted and when it finished, if known.
    """

    attempt: int
    fingerprint: str
    state: InputState
    request_id: str | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None


@attrs.frozen(kw_only=True)
class JournalEntry:
    """One input of a batch as the journal knows it.

    Attributes:
        index: the input's position in the batch.
        model_id: the model it was (or is to be) submitted to.
        fingerprint: sha256 of the model id and canonical input JSON.
        input: the input as submitted.
        state: where it stands.
        request_id: the current attempt's job id, once the server accepted it.
        attempts: how many submits were intended (0 for an input refused before sending).
        created_at: when the input was first recorded.
        submitted_at: when the server accepted the current attempt.
        finished_at: when the job finished, by the server's clock when it said.
        detected_at: when this side learned that the attempt was over.
        result: the final result answer, raw.
        error: the error, raw JSON (a string, an object or a list).
        files: the output files downloaded for it.
        earlier_attempts: attempts before the current one, oldest first.
    """

    index: int
    model_id: str
    fingerprint: str
    input: Mapping[str, Any] = attrs.field(repr=False)
    state: InputState
    request_id: str | None = None
    attempts: int = 0
    created_at: datetime
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    detected_at: datetime | None = None
    result: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    error: Any = None
    files: tuple[StoredFile, ...] = ()
    earlier_attempts: tuple[PastAttempt, ...] = ()


# The columns :func:`entry_from_row` reads, in the order of the table.
COLUMNS: Final = (
    "input_index, model_id, fingerprint, input_json, state, request_id, attempts, created_at,"
    " submitted_at, finished_at, detected_at, result_json, error_json, files_json, earlier_json"
)


def entry_from_row(row: sqlite3.Row) -> JournalEntry:
    """The entry a row of :data:`COLUMNS` holds.

    Raises:
        JournalError: the row is corrupt.
    """
    index = row["input_index"]
    try:
        return JournalEntry(
            index=index,
            model_id=row["model_id"],
            fingerprint=row["fingerprint"],
            input=json.loads(row["input_json"]),
            state=state_from_raw(row["state"], f"input {index}"),
            request_id=row["request_id"],
            attempts=row["attempts"],
            created_at=_datetime(row["created_at"]),
            submitted_at=_maybe_datetime(row["submitted_at"]),
            finished_at=_maybe_datetime(row["finished_at"]),
            detected_at=_maybe_datetime(row["detected_at"]),
            result=None if row["result_json"] is None else json.loads(row["result_json"]),
            error=None if row["error_json"] is None else json.loads(row["error_json"]),
            files=converter.structure(json.loads(row["files_json"]), tuple[StoredFile, ...]),
            earlier_attempts=tuple(_past(item) for item in json.loads(row["earlier_json"])),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise JournalError(f"the journal's row for input {index} is corrupt: {exc}") from None


def _past(item: Mapping[str, Any]) -> PastAttempt:
    return PastAttempt(
        attempt=item["attempt"],
        fingerprint=item["fingerprint"],
        state=InputState(item["state"]),
        request_id=item["request_id"],
        submitted_at=_maybe_datetime(item["submitted_at"]),
        finished_at=_maybe_datetime(item["finished_at"]),
    )


def state_from_raw(raw: object, where: str) -> InputState:
    """The state stored as ``raw``; a JournalError naming ``where`` if it is not one."""
    try:
        return InputState(raw)
    except ValueError:
        raise JournalError(f"unknown state {raw!r} in {where}") from None


def check_index(index: int) -> None:
    """Refuse (ValueError) anything but an int >= 0 as an input index."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"an input index is an int >= 0, got {index!r}")


def unix(when: datetime | None) -> float:
    """``when`` (now if None) as the unix seconds the journal stores; it must be aware."""
    if when is None:
        return datetime.now(timezone.utc).timestamp()
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return when.timestamp()


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _maybe_datetime(seconds: float | None) -> datetime | None:
    return None if seconds is None else _datetime(seconds)
