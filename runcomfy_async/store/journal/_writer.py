"""The journal's writer thread: one owner of the SQLite connection, committing in groups.

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

This module needs asyncio (as aiohttp does): the writer thread resumes waiters through the
event loop's ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio
import attrs

from ..._constants import JOURNAL_MAX_BATCH_OPS
from ...core._errors import JournalError
from ._schema import connect, database_error, lock

__all__ = ["Writer"]

T = TypeVar("T")


@attrs.frozen
class _Request:
    """One operation for the writer thread, and where to send its answer."""

    work: Callable[[sqlite3.Connection], Any]
    writes: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


_STOP: Final = object()

_Outcome = tuple[_Request, Any, BaseException | None]


class Writer:
    """The thread that owns the journal file at ``path`` and runs every operation on it.

    Args:
        path: the journal file, already resolved.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False
        self._commits = 0

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called (even if it failed)."""
        return self._started

    @property
    def commits(self) -> int:
        """How many write transactions have been committed since the thread started."""
        return self._commits

    async def start(self) -> None:
        """Start the thread; return once it holds the lock and the file is open and checked.

        Raises:
            JournalError: the file cannot be used (see :func:`._schema.connect`), or the
                writer was started before.
        """
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

    async def call(self, work: Callable[[sqlite3.Connection], T], *, writes: bool) -> T:
        """Run ``work`` in the thread, in the next transaction; its answer once committed.

        Args:
            work: what to do with the connection; a JournalError it raises refuses this one
                operation, and leaves the others of its transaction standing.
            writes: whether ``work`` writes (then the transaction takes the write lock).
        """
        if self._closed or not self._started:
            raise JournalError(f"journal {self._path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Request(work, writes, loop, future))
        return await future

    # --- In the thread -----------------------------------------------------------------------

    def _serve(self, opening: _Request) -> None:
        try:
            held = lock(self._path)
        except JournalError as exc:
            _settle([(opening, None, exc)])
            return
        try:
            conn = connect(self._path)
        except Exception as exc:
            held.close()
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
            held.close()

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
                return [(batch[0], None, database_error(self._path, exc))]
        # One operation failed at the database level: run each alone, so that one bad
        # operation cannot fail the writes that happened to share its transaction.
        outcomes: list[_Outcome] = []
        for request in batch:
            try:
                outcomes.extend(self._transaction(conn, [request]))
            except Exception as exc:
                _rollback(conn)
                outcomes.append((request, None, database_error(self._path, exc)))
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


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (it does after some I/O errors)
