"""What each ``record_*`` write does to an input's row, run inside the writer's transaction.

A new intent for an input that has a job in flight is refused, and the request ids of earlier
attempts are kept in the row (``earlier_attempts``), so that even a deliberate resubmit never
drops a paid job. A request id, once recorded, is never replaced by another.

Every refusal here is decided before the operation writes anything, so the writer can answer
it and still commit the other operations that share its transaction.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Final

from ...core._errors import JournalError
from ...core._identity import canonical_json
from ...core._lifecycle import WITHOUT_JOB, InputState
from ...core._wire import JobState

__all__ = [
    "finished_state",
    "write_files",
    "write_finished",
    "write_intent",
    "write_not_created",
    "write_submitted",
]

_FINISHED_JOB_STATES: Final = {
    JobState.SUCCEEDED: InputState.SUCCEEDED,
    JobState.FAILED: InputState.FAILED,
    JobState.CANCELLED: InputState.CANCELLED,
}
# States in which a job for the input may be queued or running: no second submit then.
_JOB_IN_FLIGHT: Final = frozenset({InputState.SUBMITTED, InputState.TIMED_OUT})

# A new attempt (or a refusal) replaces the current one; the old one moves to earlier_json.
_REPLACE_ATTEMPT: Final = """
    UPDATE items SET model_id = :model_id, fingerprint = :fingerprint, input_json = :input_json,
        state = :state, attempts = :attempts, request_id = NULL, submitted_at = NULL,
        finished_at = NULL, detected_at = :detected_at, result_json = NULL,
        error_json = :error_json, files_json = '[]', earlier_json = :earlier_json
    WHERE input_index = :index
"""


def write_intent(
    conn: sqlite3.Connection,
    index: int,
    model_id: str,
    fingerprint: str,
    input_json: str,
    when: float,
) -> None:
    """A new attempt at input ``index``, in state ``intent``; the current one retired."""
    row = _current_attempt(conn, index)
    if row is None:
        conn.execute(
            "INSERT INTO items (input_index, model_id, fingerprint, input_json, state,"
            " attempts, created_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
            (index, model_id, fingerprint, input_json, InputState.INTENT.value, when),
        )
        return
    if InputState(row["state"]) in _JOB_IN_FLIGHT:
        raise JournalError(
            f"input {index} already has job {row['request_id']} in flight; the "
            "journal refuses a second submit (wait for the job, or record how it "
            "ended first)"
        )
    conn.execute(
        _REPLACE_ATTEMPT,
        {
            "index": index,
            "model_id": model_id,
            "fingerprint": fingerprint,
            "input_json": input_json,
            "state": InputState.INTENT.value,
            "attempts": row["attempts"] + 1,
            "detected_at": None,
            "error_json": None,
            "earlier_json": _retire(row),
        },
    )


def write_submitted(conn: sqlite3.Connection, index: int, request_id: str, when: float) -> None:
    """The request id of the current attempt at input ``index``; a replay is a no-op."""
    row = _current_attempt(conn, index)
    if row is None:
        raise JournalError(f"input {index} has no recorded intent; record it first")
    if row["request_id"] == request_id:
        return
    if row["request_id"] is not None:
        raise JournalError(
            f"input {index} already has job {row['request_id']}; refusing to replace "
            f"it with {request_id} (that job would be lost)"
        )
    if row["state"] not in (InputState.INTENT.value, InputState.UNKNOWN.value):
        raise JournalError(
            f"input {index} is {row['state']}, not waiting for a submit; record a new "
            "intent first"
        )
    conn.execute(
        "UPDATE items SET state = ?, request_id = ?, submitted_at = ?"
        " WHERE input_index = ?",
        (InputState.SUBMITTED.value, request_id, when, index),
    )


def write_finished(
    conn: sqlite3.Connection,
    index: int,
    state: InputState,
    result_json: str | None,
    error_json: str | None,
    finished: float | None,
    detected: float,
) -> None:
    """How the current attempt at input ``index`` ended."""
    cursor = conn.execute(
        "UPDATE items SET state = ?, result_json = ?, error_json = ?, finished_at = ?,"
        " detected_at = ? WHERE input_index = ?",
        (state.value, result_json, error_json, finished, detected, index),
    )
    if cursor.rowcount == 0:
        raise JournalError(f"input {index} is not in the journal")


def write_files(conn: sqlite3.Connection, index: int, files_json: str) -> None:
    """The files downloaded for input ``index``, replacing any recorded before."""
    cursor = conn.execute(
        "UPDATE items SET files_json = ? WHERE input_index = ?", (files_json, index)
    )
    if cursor.rowcount == 0:
        raise JournalError(f"input {index} is not in the journal")


def write_not_created(
    conn: sqlite3.Connection,
    index: int,
    model_id: str,
    fingerprint: str,
    input_json: str,
    state: InputState,
    error_json: str,
    when: float,
) -> None:
    """Input ``index`` ended without any job (``state`` is refused or not sent)."""
    row = _current_attempt(conn, index)
    if row is None:
        conn.execute(
            "INSERT INTO items (input_index, model_id, fingerprint, input_json, state,"
            " attempts, created_at, detected_at, error_json)"
            " VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (index, model_id, fingerprint, input_json, state.value, when, when,
             error_json),
        )
        return
    current = InputState(row["state"])
    if current in _JOB_IN_FLIGHT or current is InputState.INTENT:
        raise JournalError(
            f"input {index} is {current.value} (a job may exist); it cannot be "
            f"recorded as {state.value}"
        )
    conn.execute(
        _REPLACE_ATTEMPT,
        {
            "index": index,
            "model_id": model_id,
            "fingerprint": fingerprint,
            "input_json": input_json,
            "state": state.value,
            "attempts": row["attempts"],
            "detected_at": when,
            "error_json": error_json,
            "earlier_json": _retire(row),
        },
    )


def finished_state(state: InputState | JobState) -> InputState:
    """The finished entry state for ``state``; ValueError if it is not a finished one."""
    if isinstance(state, JobState):
        found = _FINISHED_JOB_STATES.get(state)
        if found is None:
            raise ValueError(f"{state.value!r} is not a final job state")
        return found
    entry_state = InputState(state)
    if not entry_state.is_final:
        raise ValueError(
            f"{entry_state.value!r} is not a final state; use record_intent or record_submitted"
        )
    return entry_state


def _current_attempt(conn: sqlite3.Connection, index: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT state, request_id, attempts, fingerprint, submitted_at, finished_at,"
        " earlier_json FROM items WHERE input_index = ?",
        (index,),
    ).fetchone()
    return row


def _retire(row: sqlite3.Row) -> str:
    """``earlier_json`` with the row's current attempt appended (unless it never was one)."""
    earlier = json.loads(row["earlier_json"])
    # An attempt that created no job (refused, never sent) is not worth remembering.
    if row["request_id"] is not None or InputState(row["state"]) not in WITHOUT_JOB:
        earlier.append(
            {
                "attempt": row["attempts"],
                "fingerprint": row["fingerprint"],
                "state": row["state"],
                "request_id": row["request_id"],
                "submitted_at": row["submitted_at"],
                "finished_at": row["finished_at"],
            }
        )
    return canonical_json(earlier)
