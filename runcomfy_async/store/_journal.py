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

A new intent for an input that has a job in flight is refused, and the request ids of earlier
attempts are kept in the row (``earlier_attempts``), so that even a deliberate resubmit never
drops a paid job. The token is never handed to the journal: no column can hold it.

Why one dedicated thread with a queue (rather than ``anyio.to_thread`` with a limiter of 1):
a ``sqlite3`` connection belongs to the thread that opened it, and a thread that owns the
connection for the journal's whole life can drain its queue on every turn. That *is* group
commit, with no leader election, no timers and no added latency: every operation that arrived
while the previous COMMIT was running goes into the next transaction, and each waiting
coroutine is resumed (through ``call_soon_threadsafe``) only after the COMMIT that contains
its write has returned. With thousands of concurrent submits this turns thousands of
transactions into a handful. Because a write is queued synchronously when the coroutine
starts, cancelling the awaiting task does not withdraw it: a request id handed to
``record_submitted`` reaches the disk even if its caller is cancelled a moment later.

Durability: the file is in WAL mode with ``synchronous=NORMAL``. A COMMIT then writes the
transaction to the WAL with ``write()`` but does not ``fsync`` it; the WAL is synced at
checkpoints. A process crash (SIGKILL, OOM kill, an unhandled exception) cannot lose a
committed transaction, because the data is already in the operating system's page cache and
the kernel writes it out. Only a power loss or kernel crash can lose the last few commits,
and even then the file stays consistent (it rolls back to an earlier commit, never a torn
row). ``synchronous=FULL`` would add an fsync per commit for that case; with group commit
that would be affordable, but the batch's real failure mode is a killed process.

Timestamps are stored as unix seconds (REAL, UTC): compact, sortable and easy to compute
timings from. The Python API speaks timezone-aware :class:`~datetime.datetime` objects.

One process at a time: the journal holds an exclusive OS lock on ``<journal>.lock`` while it
is open, so that two runs resuming the same batch cannot both submit its missing jobs. The
lock dies with the process, so a killed run never leaves it stale.

This module needs asyncio (as aiohttp does): the writer thread resumes waiters through the
event loop's ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import sqlite3
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, TypeVar

import anyio
import attrs
from typing_extensions import Self

from .._constants import JOURNAL_BUSY_TIMEOUT_MS, JOURNAL_MAX_BATCH_OPS
from .._version import __version__
from ..core._errors import JournalError
from ..core._files import StoredFile
from ..core._identity import canonical_json, input_fingerprint
from ..core._lifecycle import InputState
from ..core._wire import JobState, converter

__all__ = ["Journal", "JournalEntry", "JournalError", "PastAttempt"]

# The layout of the file. Bump it (and teach ``_check_schema`` to migrate) when tables change.
JOURNAL_SCHEMA_VERSION: Final = 2
# The lock file that keeps a second process (or a second Journal) off the same journal.
JOURNAL_LOCK_SUFFIX: Final = ".lock"

T = TypeVar("T")


_FINISHED_JOB_STATES: Final = {
    JobState.SUCCEEDED: InputState.SUCCEEDED,
    JobState.FAILED: InputState.FAILED,
    JobState.CANCELLED: InputState.CANCELLED,
}
# States in which a job for the input may be queued or running: no second submit then.
_JOB_IN_FLIGHT: Final = frozenset({InputState.SUBMITTED, InputState.TIMED_OUT})


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


# --- SQL -------------------------------------------------------------------------------------

_SCHEMA: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE items (
        input_index INTEGER PRIMARY KEY,
        model_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        input_json TEXT NOT NULL,
        state TEXT NOT NULL,
        request_id TEXT,
        attempts INTEGER NOT NULL,
        created_at REAL NOT NULL,
        submitted_at REAL,
        finished_at REAL,
        detected_at REAL,
        result_json TEXT,
        error_json TEXT,
        files_json TEXT NOT NULL DEFAULT '[]',
        earlier_json TEXT NOT NULL DEFAULT '[]'
    )""",
)

_COLUMNS: Final = (
    "input_index, model_id, fingerprint, input_json, state, request_id, attempts, created_at,"
    " submitted_at, finished_at, detected_at, result_json, error_json, files_json, earlier_json"
)

# A new attempt (or a refusal) replaces the current one; the old one moves to earlier_json.
_REPLACE_ATTEMPT: Final = """
    UPDATE items SET model_id = :model_id, fingerprint = :fingerprint, input_json = :input_json,
        state = :state, attempts = :attempts, request_id = NULL, submitted_at = NULL,
        finished_at = NULL, detected_at = :detected_at, result_json = NULL,
        error_json = :error_json, files_json = '[]', earlier_json = :earlier_json
    WHERE input_index = :index
"""


@attrs.frozen
class _Request:
    """One operation for the writer thread, and where to send its answer."""

    work: Callable[[sqlite3.Connection], Any]
    writes: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


_STOP: Final = object()


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
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False
        self._commits = 0

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
        await journal._start()
        return journal

    async def _start(self) -> None:
        if self._started:
            raise JournalError(f"journal {self._path} is already open")
        self._started = True
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._serve,
            args=(_Request(_no_work, False, loop, ready),),
            name=f"runcomfy-journal:{self._path.name}",
            # A daemon, so that a program that forgets aclose() can still exit; anything not
            # yet committed was never acknowledged to anyone.
            daemon=True,
        )
        self._thread.start()
        try:
            await ready
        except BaseException:
            # Cancelled or failed while opening: make the thread close what it opened.
            self._closed = True
            self._queue.put(_STOP)
            raise

    async def aclose(self) -> None:
        """Commit what is queued, close the file and release the lock. Idempotent."""
        if self._closed or self._thread is None:
            self._closed = True
            return
        self._closed = True
        self._queue.put(_STOP)
        await anyio.to_thread.run_sync(self._thread.join)

    async def __aenter__(self) -> Self:
        if not self._started:
            await self._start()
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
        return self._commits

    # --- Writes ----------------------------------------------------------------------------

    async def record_intent(
        self,
        index: int,
        model_id: str,
        payload: Mapping[str, Any],
        *,
        at: datetime | None = None,
    ) -> str:
        """Record that input ``index`` is about to be submitted; committed on return.

        Call it before the submit's POST. A repeat for the same index starts a new attempt
        (``attempts`` grows by one) and moves the current one, with its request id, into
        ``earlier_attempts``.

        Args:
            index: the input's position in the batch.
            model_id: the model it is submitted to.
            payload: the input exactly as it will be sent.
            at: when; now if not given.

        Returns:
            The input's fingerprint (see :func:`~runcomfy_async._wire.input_fingerprint`).

        Raises:
            JournalError: the input already has a job in flight (state ``submitted``):
                wait for that job rather than paying for a second one.
        """
        _check_index(index)
        input_json = canonical_json(payload)
        fingerprint = input_fingerprint(model_id, payload)
        when = _unix(at)

        def work(conn: sqlite3.Connection) -> None:
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

        await self._call(work, writes=True)
        return fingerprint

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
        _check_index(index)
        if not request_id:
            raise ValueError("request_id must be a non-empty string")
        when = _unix(at)

        def work(conn: sqlite3.Connection) -> None:
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

        await self._call(work, writes=True)

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
        _check_index(index)
        entry_state = _finished_state(state)
        result_json = None if result is None else canonical_json(result)
        error_json = None if error is None else canonical_json(error)
        finished = None if finished_at is None else _unix(finished_at)
        detected = _unix(detected_at)

        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE items SET state = ?, result_json = ?, error_json = ?, finished_at = ?,"
                " detected_at = ? WHERE input_index = ?",
                (entry_state.value, result_json, error_json, finished, detected, index),
            )
            if cursor.rowcount == 0:
                raise JournalError(f"input {index} is not in the journal")

        await self._call(work, writes=True)

    async def record_files(self, index: int, files: Sequence[StoredFile]) -> None:
        """Record the files downloaded for input ``index`` (replacing any recorded before).

        Args:
            index: the input's position in the batch.
            files: the files, in output order.

        Raises:
            JournalError: nothing is recorded for the input.
        """
        _check_index(index)
        files_json = canonical_json(converter.unstructure(list(files), list[StoredFile]))

        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE items SET files_json = ? WHERE input_index = ?", (files_json, index)
            )
            if cursor.rowcount == 0:
                raise JournalError(f"input {index} is not in the journal")

        await self._call(work, writes=True)

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
            state: ``REFUSED`` or ``NOT_SENT``.
            error: what was wrong, as JSON-compatible data.
            at: when; now if not given.

        Raises:
            ValueError: ``state`` says a job may exist.
            JournalError: the input has a job in flight.
        """
        _check_index(index)
        if state not in (InputState.REFUSED, InputState.NOT_SENT):
            raise ValueError(f"{state.value!r} is not a state without a job")
        input_json = canonical_json(payload)
        fingerprint = input_fingerprint(model_id, payload)
        error_json = canonical_json(error)
        when = _unix(at)

        def work(conn: sqlite3.Connection) -> None:
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

        await self._call(work, writes=True)

    async def request_ids(self) -> set[str]:
        """Every request id the journal holds, earlier attempts' included."""

        def work(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for rid, earlier in conn.execute("SELECT request_id, earlier_json FROM items"):
                if rid:
                    found.add(rid)
                found.update(p["request_id"] for p in json.loads(earlier) if p["request_id"])
            return found

        return await self._call(work, writes=False)

    # --- Reads -----------------------------------------------------------------------------

    async def get(self, index: int) -> JournalEntry | None:
        """The entry for input ``index``, or None if nothing is recorded for it.

        Args:
            index: the input's position in the batch.
        """

        def work(conn: sqlite3.Connection) -> JournalEntry | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM items WHERE input_index = ?", (index,)
            ).fetchone()
            return None if row is None else _entry(row)

        return await self._call(work, writes=False)

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
        sql = f"SELECT {_COLUMNS} FROM items WHERE input_index >= ?"
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
            return [_entry(row) for row in conn.execute(sql, params)]

        return await self._call(work, writes=False)

    async def max_index(self) -> int | None:
        """The largest index recorded, or None for an empty journal."""

        def work(conn: sqlite3.Connection) -> int | None:
            value = conn.execute("SELECT MAX(input_index) FROM items").fetchone()[0]
            return None if value is None else int(value)

        return await self._call(work, writes=False)

    async def counts(self) -> dict[InputState, int]:
        """How many inputs are in each state (states with none are left out)."""

        def work(conn: sqlite3.Connection) -> dict[InputState, int]:
            rows = conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state")
            return {_state(raw, "a count"): int(n) for raw, n in rows}

        return await self._call(work, writes=False)

    # --- The writer thread -------------------------------------------------------------------

    async def _call(self, work: Callable[[sqlite3.Connection], T], *, writes: bool) -> T:
        if self._closed or not self._started:
            raise JournalError(f"journal {self._path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Request(work, writes, loop, future))
        return await future

    def _serve(self, opening: _Request) -> None:
        try:
            lock = _lock(self._path)
        except JournalError as exc:
            _settle([(opening, None, exc)])
            return
        try:
            conn = _connect(self._path)
        except Exception as exc:
            lock.close()
            _settle([(opening, None, exc)])
            return
        _settle([(opening, None, None)])
        try:
            while True:
                batch, stopping = self._next_batch()
                if batch:
                    _settle(self._run_batch(conn, batch))
                if stopping:
                    return
        finally:
            conn.close()
            lock.close()

    def _next_batch(self) -> tuple[list[_Request], bool]:
        """Everything queued, up to the batch cap, waiting for the first; and whether to stop."""
        batch: list[_Request] = []
        item = self._queue.get()
        while True:
            if not isinstance(item, _Request):
                return batch, True
            batch.append(item)
            if len(batch) >= JOURNAL_MAX_BATCH_OPS:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Request]) -> list[_Outcome]:
        # Any failure is caught and answered: a writer thread that died would leave every
        # waiting coroutine hanging.
        try:
            return self._transaction(conn, batch)
        except Exception as exc:
            _rollback(conn)
            if len(batch) == 1:
                return [(batch[0], None, _database_error(self._path, exc))]
        # One operation failed at the database level: run each alone, so that one bad
        # operation cannot fail the writes that happened to share its transaction.
        outcomes: list[_Outcome] = []
        for request in batch:
            try:
                outcomes.extend(self._transaction(conn, [request]))
            except Exception as exc:
                _rollback(conn)
                outcomes.append((request, None, _database_error(self._path, exc)))
        return outcomes

    def _transaction(self, conn: sqlite3.Connection, batch: list[_Request]) -> list[_Outcome]:
        writes = any(request.writes for request in batch)
        # IMMEDIATE takes the write lock up front, so a reader cannot make COMMIT fail late.
        conn.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
        outcomes: list[_Outcome] = []
        for request in batch:
            try:
                outcomes.append((request, request.work(conn), None))
            except JournalError as exc:
                # Refusals are decided before the operation writes anything, so the rest of
                # the transaction stays valid.
                outcomes.append((request, None, exc))
        conn.execute("COMMIT")
        if writes:
            self._commits += 1
        return outcomes


_Outcome = tuple[_Request, Any, BaseException | None]


def _no_work(conn: sqlite3.Connection) -> None:
    """Placeholder work of the request that only reports the journal open."""


def _settle(outcomes: list[_Outcome]) -> None:
    """Hand each answer to its event loop, one call per loop for the whole batch."""
    by_loop: defaultdict[asyncio.AbstractEventLoop, list[_Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_loop[outcome[0].loop].append(outcome)
    for loop, answers in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, answers)
        except RuntimeError:
            # The loop is closed: nobody is waiting for these answers any more.
            pass


def _resolve(answers: list[_Outcome]) -> None:
    for request, value, error in answers:
        if request.future.done():
            continue  # its waiter was cancelled; the write stands all the same
        if error is not None:
            request.future.set_exception(error)
        else:
            request.future.set_result(value)


# --- Opening the file ------------------------------------------------------------------------


def _lock(path: Path) -> IO[bytes]:
    """An exclusive, non-blocking OS lock on the journal's lock file, held while open."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + JOURNAL_LOCK_SUFFIX), "a+b")  # noqa: SIM115
    except OSError as exc:
        raise JournalError(f"cannot create journal {path}: {exc}") from None
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JournalError(
            f"journal {path} is open in another process (or another Journal object); two "
            "runs of one batch could submit the same jobs twice"
        ) from None
    return handle


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun and committed explicitly, by the batch.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(
                f"journal {path}: SQLite cannot use WAL mode here (got {mode!r}); put the "
                "journal on a local disk"
            )
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={JOURNAL_BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN IMMEDIATE")
        _check_schema(conn, path)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.close()
        raise _database_error(path, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("schema_version", str(JOURNAL_SCHEMA_VERSION)),
                ("created_at", datetime.now(timezone.utc).isoformat()),
                ("library_version", __version__),
            ],
        )
        return
    if not {"meta", "items"} <= tables:
        raise JournalError(f"{path} is an SQLite file but not a runcomfy-async journal")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        raise JournalError(f"journal {path} has no readable schema version") from None
    if version > JOURNAL_SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} was written by a newer runcomfy-async (schema {version}; this "
            f"version reads schema {JOURNAL_SCHEMA_VERSION}); upgrade runcomfy-async"
        )
    if version < JOURNAL_SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} has schema {version}, from an earlier alpha of runcomfy-async "
            "whose states this version does not read; finish that batch with the version "
            "that began it, or start a new journal"
        )


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (it does after some I/O errors)


def _database_error(path: Path, exc: Exception) -> JournalError:
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return JournalError(f"{path} is not a runcomfy-async journal, or is corrupt: {exc}")
    return JournalError(f"journal {path}: {type(exc).__name__}: {exc}")


# --- Rows ------------------------------------------------------------------------------------


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
    if row["request_id"] is not None or row["state"] not in (
        InputState.REFUSED.value, InputState.NOT_SENT.value
    ):
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


def _entry(row: sqlite3.Row) -> JournalEntry:
    index = row["input_index"]
    try:
        return JournalEntry(
            index=index,
            model_id=row["model_id"],
            fingerprint=row["fingerprint"],
            input=json.loads(row["input_json"]),
            state=_state(row["state"], f"input {index}"),
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


def _state(raw: object, where: str) -> InputState:
    try:
        return InputState(raw)
    except ValueError:
        raise JournalError(f"unknown state {raw!r} in {where}") from None


def _finished_state(state: InputState | JobState) -> InputState:
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


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"an input index is an int >= 0, got {index!r}")


def _unix(when: datetime | None) -> float:
    if when is None:
        return datetime.now(timezone.utc).timestamp()
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return when.timestamp()


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _maybe_datetime(seconds: float | None) -> datetime | None:
    return None if seconds is None else _datetime(seconds)
