"""Resuming a batch from its journal: read lazily, decide per entry, act through the core.

The decision for each input is :func:`~.._lifecycle.resume_action`, a pure function of its
journal entry's state. This module reads the journal page by page as inputs are pulled (so
a resumed batch starts at once and holds at most a page of entries beside its in-flight
inputs) and carries each decision out:

- ``deliver``: the recorded outcome is handed back, with no request;
- ``poll``: the job is collected by its request id, never submitted again;
- ``report_unknown``: reported as ``unknown`` (a paid job may exist);
- ``submit``: no job exists, so the input is checked and submitted like a new one.

Entries beyond the inputs given to this run (a shorter input file after a crash) are not
dropped: their jobs are collected, and the others are reported as they stand.
"""

from __future__ import annotations

import logging

import anyio

from .._constants import LOGGER_NAME, RESUME_PAGE_SIZE
from ..core._errors import RunComfyError
from ..core._job_errors import JobFailedError, SubmitOutcomeUnknownError
from ..core._lifecycle import RULES, InputState, ResumeAction, resume_action
from ..core._parse import parse_result
from ..core._wire import JobResult
from ..store.journal import JournalEntry
from ._core import BatchCore
from ._item import Item
from ._outcome import Timings
from ._store import check_same_input

__all__ = ["JournalReader", "Resumer"]

_log = logging.getLogger(LOGGER_NAME)


class JournalReader:
    """The journal's entries in index order, a page at a time, as inputs are pulled."""

    def __init__(self, core: BatchCore, page_size: int = RESUME_PAGE_SIZE) -> None:
        self._core = core
        self._page_size = page_size
        self._page: dict[int, JournalEntry] = {}
        self._covered = -1  # every index up to this one has been looked up
        self._lock = anyio.Lock()
        self.last_index: int | None = None

    async def start(self) -> None:
        if self._core.store.journal is not None:
            self.last_index = await self._core.store.max_index()

    def knows(self, index: int) -> bool:
        return self.last_index is not None and index <= self.last_index

    async def entry(self, index: int) -> JournalEntry | None:
        """The entry for ``index`` (indices are asked for in increasing order)."""
        if not self.knows(index):
            return None
        async with self._lock:
            if index > self._covered:
                entries = await self._core.store.page(index, self._page_size)
                self._page = {entry.index: entry for entry in entries}
                self._covered = (
                    entries[-1].index if len(entries) == self._page_size else self.last_index
                ) or index
            return self._page.pop(index, None)

    async def beyond(self, start: int) -> JournalEntry | None:
        """The first entry at ``start`` or after (for entries beyond the given inputs)."""
        if not self.knows(start):
            return None
        async with self._lock:
            if start > self._covered:
                entries = await self._core.store.page(start, self._page_size)
                self._page = {entry.index: entry for entry in entries}
                self._covered = (
                    entries[-1].index if len(entries) == self._page_size else self.last_index
                ) or start
            found = [i for i in self._page if i >= start]
            if not found:
                return None
            return self._page.pop(min(found))


class Resumer:
    """Carries out the resume decision for an input the journal knows."""

    def __init__(self, core: BatchCore) -> None:
        self._core = core

    async def handle(self, item: Item) -> bool:
        """Act on the item's journal entry; False when it is to be submitted afresh."""
        entry = item.entry
        assert entry is not None
        core = self._core
        action = resume_action(
            entry.state,
            has_request_id=bool(entry.request_id),
            resubmit_unknown=core.options.resubmit.unknown and not item.orphan,
        )
        if RULES[entry.state].job_may_exist and not item.orphan:
            check_same_input(entry, item.model_id, item.payload)
        item.attempts = entry.attempts
        if action is ResumeAction.POLL:
            assert entry.request_id is not None
            _log.info("input %d: collecting job %s from an earlier run", item.index,
                      entry.request_id)
            item.held_usd = await core.spend.hold(item.model_id, item.payload)
            core.attach(item, entry.request_id, entry.submitted_at)
            return True
        if action is ResumeAction.REPORT_UNKNOWN:
            item.request_id = entry.request_id
            error = SubmitOutcomeUnknownError(
                model_id=entry.model_id,
                fingerprint=entry.fingerprint,
                cause="an earlier run stopped after sending the submit and before its answer "
                "was recorded",
            )
            # Journaled as `unknown` (not from_journal): the row leaves `intent` for good.
            await core.conclude(item, InputState.UNKNOWN, error=error)
            return True
        if action is ResumeAction.SUBMIT and not item.orphan:
            if entry.state is InputState.UNKNOWN:
                _log.warning("input %d: earlier submit had an unknown outcome; resubmitting "
                             "as asked (this may pay twice)", item.index)
            return False
        # DELIVER, or an input beyond this run's inputs that has no job: as recorded.
        item.request_id = entry.request_id
        result = _stored_result(entry)
        await core.conclude(
            item,
            entry.state,
            result=result,
            error=_stored_error(entry, result),
            from_journal=True,
            files=entry.files,
            timings=Timings(
                submitted_at=entry.submitted_at,
                finished_at=entry.finished_at,
                detected_at=entry.detected_at,
            ),
        )
        return True


def _stored_result(entry: JournalEntry) -> JobResult | None:
    if entry.result is None:
        return None
    try:
        return parse_result(entry.result, request_id=entry.request_id)
    except (RunComfyError, RecursionError):
        return None


def _stored_error(entry: JournalEntry, result: JobResult | None) -> RunComfyError | None:
    if entry.state is InputState.SUCCEEDED:
        return None
    if entry.state is InputState.FAILED and result is not None:
        return JobFailedError(result)
    error = entry.error
    message = error.get("message") if isinstance(error, dict) else error
    return RunComfyError(
        f"input {entry.index} ended as {entry.state.value} in an earlier run"
        + (f": {message}" if message else "")
    )
