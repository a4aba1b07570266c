"""The durable batch journal: one SQLite file that remembers every paid job of a batch.

A batch of thousands of prompts runs for hours and its process can be killed at any moment.
The journal is what lets a rerun pick up where the last one stopped without losing a job the
server accepted and without paying for one twice:

1. ``record_intent`` is committed *before* the submit's POST leaves. After a crash, an
   ``intent`` row without a request id says "this submit may or may not have reached the
   server": the orchestrator can look for the job instead of blindly paying again.
2. ``record_submitted`` is committed as soon as the server answers with a request id, so a
   job the server accepted is never forgotten.
3. ``record_finished`` and ``record_files`` store the outcome and the files downloaded.

What each write does to a row is in :mod:`._transitions`; how writes are committed (one
thread, group commit) in :mod:`._writer`; the file, its lock and its durability in
:mod:`._schema`. The token is never handed to the journal: no column can hold it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from typing_extensions import Self

from ...core._converter import converter
from ...core._files import StoredFile
from ...core._identity import canonical_json, fingerprint_of, input_fingerprint
from ...core._lifecycle import WITHOUT_JOB, InputState
from ...core._wire import JobState
from ._rows import COLUMNS, JournalEntry, check_index, entry_from_row, state_from_raw, unix
from ._transitions import (
    finished_state,
    write_files,
    write_finished,
    write_intent,
    write_not_created,
    write_submitted,
)
from ._writer import Writer

__all__ = ["Journal"]


class Journal:
    """The durable record of a batch: what was intended, submitted, finished and downloaded.

    Open it with ``journal = await Journal.open(path)`` (close with ``await
    journal.aclose()``) or ``async with Journal(path) as journal:``. Every ``record_*``
    method returns only after its write is committed; concurrent writes share commits.

    Args:
        path: the journal file; missing folders are created. Conventionally
            ``<batch>/journal.sqlite``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        # Resolved, so that the lock guards the real file however it is reached (a symlink or a
        # relative path must not let a second process open the same journal unlocked).
        self._path = Path(path).expanduser().resolve()
        self._writer = Writer(self._path)

    # --- Life cycle ----------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Open (or create) the journal at ``path`` and return it, ready to use.

        Args:
            path: the journal file; missing folders are created.

        Raises:
            JournalError: the file is not a journal, is corrupt, was written by a newer
                version of the library, or is open in another process.
        """
        journal = cls(path)
        await journal._writer.start()
        return journal

    async def aclose(self) -> None:
        """Commit what is queued, close the file and release the lock. Idempotent."""
        await self._writer.aclose()

    async def __aenter__(self) -> Self:
        if not self._writer.started:
            await self._writer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    @property
    def commits(self) -> int:
        """How many write transactions have been committed since the journal was opened.

        Far fewer than the writes when many writers are concurrent: that is group commit.
        """
        return self._writer.commits

    # --- Writes ----------------------------------------------------------------------------

    async def record_intent(
        self,
        index: int,
        model_id: str,
        payload: Mapping[str, Any] | None = None,
        *,
        canonical: bytes | None = None,
        at: datetime | None = None,
    ) -> str:
        """Record that input ``index`` is about to be submitted; committed on return.

        Call it before the submit's POST. A repeat for the same index starts a new attempt
        (``attempts`` grows by one) and moves the current one, with its request id, into
        ``earlier_attempts``.

        Args:
            index: the input's position in the batch.
            model_id: the model it is submitted to.
            payload: the input exactly as it will be sent; or
            canonical: its canonical JSON already encoded (the submit's body), which spares
                encoding a payload of megabytes a second time.
            at: when; now if not given.

        Returns:
            The input's fingerprint (see
            :func:`~runcomfy_async.core._identity.input_fingerprint`).

        Raises:
            JournalError: the input already has a job in flight (state ``submitted``):
                wait for that job rather than paying for a second one.
        """
        check_index(index)
        if canonical is None:
            if payload is None:
                raise TypeError("record_intent needs the payload or its canonical JSON")
            canonical = canonical_json(payload).encode("utf-8")
        body = canonical
        when = unix(at)

        def intent(conn: sqlite3.Connection) -> str:
            # Hashed and decoded in the journal's thread: for an inline image of megabytes,
            # either would hold the event loop for milliseconds.
            fingerprint = fingerprint_of(model_id, body)
            write_intent(conn, index, model_id, fingerprint, body.decode("utf-8"), when)
            return fingerprint

        return await self._writer.call(intent, writes=True)

    async def record_submitted(
        self, index: int, request_id: str, *, at: datetime | None = None
    ) -> None:
        """Record the request id the server gave for input ``index``; committed on return.

        Recording the same request id again is a no-op, so a replay is harmless.

        Args:
            index: the input's position in the batch.
            request_id: the job's request id, from the submit answer.
            at: when the server accepted it; now if not given.

        Raises:
            JournalError: no intent was recorded for the input, or it already has a
                different request id (which would be lost).
        """
        check_index(index)
        if not request_id:
            raise ValueError("request_id must be a non-empty string")
        when = unix(at)
        await self._writer.call(
            lambda conn: write_submitted(conn, index, request_id, when), writes=True
        )

    async def record_finished(
        self,
        index: int,
        state: InputState | JobState,
        *,
        result: Mapping[str, Any] | None = None,
        error: object = None,
        finished_at: datetime | None = None,
        detected_at: datetime | None = None,
    ) -> None:
        """Record how the current attempt at input ``index`` ended; committed on return.

        May be called again (a ``timed_out`` job found finished on a resumed run).

        Args:
            index: the input's position in the batch.
            state: a finished :class:`InputState`, or a final :class:`JobState`
                (``SUCCEEDED``, ``FAILED``, ``CANCELLED``).
            result: the final result answer, raw (``JobResult.raw``).
            error: the error as JSON-compatible data (the job's raw error, or a message).
            finished_at: when the job finished, by the server's clock, if known.
            detected_at: when this side learned it; now if not given.

        Raises:
            ValueError: ``state`` is not a finished state.
            JournalError: nothing is recorded for the input.
        """
        check_index(index)
        entry_state = finished_state(state)
        result_json = None if result is None else canonical_json(result)
        error_json = None if error is None else canonical_json(error)
        finished = None if finished_at is None else unix(finished_at)
        detected = unix(detected_at)
        await self._writer.call(
            lambda conn: write_finished(
                conn, index, entry_state, result_json, error_json, finished, detected
            ),
            writes=True,
        )

    async def record_files(self, index: int, files: Sequence[StoredFile]) -> None:
        """Record the files downloaded for input ``index`` (replacing any recorded before).

        Args:
            index: the input's position in the batch.
            files: the files, in output order.

        Raises:
            JournalError: nothing is recorded for the input.
        """
        check_index(index)
        files_json = canonical_json(converter.unstructure(list(files), list[StoredFile]))
        await self._writer.call(lambda conn: write_files(conn, index, files_json), writes=True)

    async def record_not_created(
        self,
        index: int,
        model_id: str,
        payload: Mapping[str, Any],
        state: InputState,
        error: object,
        *,
        at: datetime | None = None,
    ) -> None:
        """Record that input ``index`` ended without any job; committed on return.

        For an input refused before it was sent (invalid), or never sent because the
        deadline passed first. The row is created if the input had none.

        Args:
            index: the input's position in the batch.
            model_id: the model it was meant for.
            payload: the input as given.
            state: ``REFUSED``, ``NOT_SENT`` or ``OVER_BUDGET``.
            error: what was wrong, as JSON-compatible data.
            at: when; now if not given.

        Raises:
            ValueError: ``state`` says a job may exist.
            JournalError: the input has a job in flight.
        """
        check_index(index)
        if state not in WITHOUT_JOB:
            raise ValueError(f"{state.value!r} is not a state without a job")
        input_json = canonical_json(payload)
        fingerprint = input_fingerprint(model_id, payload)
        error_json = canonical_json(error)
        when = unix(at)
        await self._writer.call(
            lambda conn: write_not_created(
                conn, index, model_id, fingerprint, input_json, state, error_json, when
            ),
            writes=True,
        )

    async def request_ids(self) -> set[str]:
        """Every request id the journal holds, earlier attempts' included."""

        def work(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for rid, earlier in conn.execute("SELECT request_id, earlier_json FROM items"):
                if rid:
                    found.add(rid)
                found.update(p["request_id"] for p in json.loads(earlier) if p["request_id"])
            return found

        return await self._writer.call(work, writes=False)

    # --- Reads -----------------------------------------------------------------------------

    async def get(self, index: int) -> JournalEntry | None:
        """The entry for input ``index``, or None if nothing is recorded for it.

        Args:
            index: the input's position in the batch.
        """

        def work(conn: sqlite3.Connection) -> JournalEntry | None:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM items WHERE input_index = ?", (index,)
            ).fetchone()
            return None if row is None else entry_from_row(row)

        return await self._writer.call(work, writes=False)

    async def entries(
        self,
        start: int = 0,
        limit: int | None = None,
        *,
        states: Collection[InputState] | None = None,
    ) -> list[JournalEntry]:
        """Entries in index order, from index ``start`` on: one page of the journal.

        Page through a large journal with ``start = last.index + 1``.

        Args:
            start: the smallest index to return.
            limit: at most this many entries; all if None.
            states: only entries in one of these states (e.g. the unfinished ones on resume).
        """
        sql = f"SELECT {COLUMNS} FROM items WHERE input_index >= ?"
        params: list[Any] = [start]
        if states is not None:
            wanted = [InputState(s).value for s in states]
            if not wanted:
                return []
            sql += f" AND state IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY input_index"
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit}")
            sql += " LIMIT ?"
            params.append(limit)

        def work(conn: sqlite3.Connection) -> list[JournalEntry]:
            return [entry_from_row(row) for row in conn.execute(sql, params)]

        return await self._writer.call(work, writes=False)

    async def max_index(self) -> int | None:
        """The largest index recorded, or None for an empty journal."""

        def work(conn: sqlite3.Connection) -> int | None:
            value = conn.execute("SELECT MAX(input_index) FROM items").fetchone()[0]
            return None if value is None else int(value)

        return await self._writer.call(work, writes=False)

    async def counts(self) -> dict[InputState, int]:
        """How many inputs are in each state (states with none are left out)."""

        def work(conn: sqlite3.Connection) -> dict[InputState, int]:
            rows = conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state")
            return {state_from_raw(raw, "a count"): int(n) for raw, n in rows}

        return await self._writer.call(work, writes=False)
