"""What a batch keeps beyond memory: the journal, the downloaded files and the manifest.

:class:`BatchStore` is the batch engine's one door to durability. Without a journal or a
download folder every method is a no-op, so the engine's hot path pays nothing for it.

The submit protocol that makes a crash at any instant recoverable:

1. ``record_intent`` is committed *before* the POST: a crash now leaves an intent without
   a request id, which a resumed run reports as "outcome unknown" rather than paying again.
2. ``record_submitted`` is committed as soon as the answer arrives, before the job counts
   as submitted: a crash now leaves a request id, which a resumed run polls, never resubmits.
3. ``record_finished`` and ``record_files`` close the input; a resumed run hands its
   outcome back from the journal without any request (files are fetched again only if
   missing or altered).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._constants import LOGGER_NAME, MANIFEST_NAME
from .._downloads import Downloader, DownloadError
from .._errors import (
    JobFailedError,
    RunComfyError,
    SubmitOutcomeUnknownError,
    error_json,
)
from .._journal import EntryState, Journal, JournalEntry, JournalError
from .._manifest import Manifest, ManifestRecord, read_manifest
from .._manifest import Timings as ManifestTimings
from .._wire import JobResult, input_fingerprint, parse_result
from ._options import MapOptions
from ._outcome import Outcome, OutcomeState, Timings

if TYPE_CHECKING:
    from ._batch import Batch, _Item

__all__ = ["BatchStore"]

_log = logging.getLogger(LOGGER_NAME)


_ENTRY_FOR_OUTCOME = {
    OutcomeState.SUCCEEDED: EntryState.SUCCEEDED,
    OutcomeState.FAILED: EntryState.FAILED,
    OutcomeState.CANCELLED: EntryState.CANCELLED,
    OutcomeState.TIMED_OUT: EntryState.TIMED_OUT,
    OutcomeState.SUBMIT_UNKNOWN: EntryState.OUTCOME_UNKNOWN,
    OutcomeState.REJECTED: EntryState.INVALID,
    OutcomeState.ERROR: EntryState.EXPIRED,
}
_OUTCOME_FOR_ENTRY = {entry: outcome for outcome, entry in _ENTRY_FOR_OUTCOME.items()}


class BatchStore:
    """The journal, downloader and manifest of one batch, each optional."""

    def __init__(self, options: MapOptions) -> None:
        self.options = options
        self.journal: Journal | None = None
        self.downloader: Downloader | None = None
        self.manifest: Manifest | None = None
        self._manifest_indices: set[int] = set()

    async def open(self) -> None:
        if self.options.journal is not None:
            self.journal = await Journal.open(self.options.journal)
        if self.options.download_to is not None:
            folder = Path(self.options.download_to)
            self.downloader = Downloader(
                folder,
                allowed_hosts=self.options.download_hosts,
                allowed_origins=self.options.download_origins,
            )
            await self.downloader.__aenter__()
            manifest_path = folder / MANIFEST_NAME
            if manifest_path.exists():
                self._manifest_indices = {r.index for r in read_manifest(manifest_path)}
            self.manifest = Manifest(manifest_path)

    @property
    def active(self) -> bool:
        """True when there is anything to store (otherwise outcomes skip the finishers)."""
        return self.journal is not None or self.downloader is not None

    async def aclose(self) -> None:
        if self.manifest is not None:
            self.manifest.close()
        if self.downloader is not None:
            await self.downloader.__aexit__(None, None, None)
        if self.journal is not None:
            await self.journal.aclose()

    # --- Resume ------------------------------------------------------------------------

    async def max_index(self) -> int | None:
        return await self.journal.max_index() if self.journal is not None else None

    async def check(self, item: _Item) -> JournalEntry | None:
        """The journal's entry for the item, after checking the input is the same one."""
        assert self.journal is not None
        entry = await self.journal.get(item.index)
        if entry is None or item.model_id is None or item.payload is None:
            return entry
        if entry.state is EntryState.INVALID and entry.attempts == 0:
            return entry  # never sent: the input may have been fixed since
        fingerprint = input_fingerprint(item.model_id, item.payload)
        if fingerprint != entry.fingerprint:
            raise JournalError(
                f"input {item.index} is not the one this journal recorded "
                f"({self.journal.path}): the inputs changed since the batch began. Nothing "
                "was sent. Restore the original inputs to resume, or start a new journal."
            )
        return entry

    async def resume_item(self, batch: Batch, item: _Item) -> bool:
        """Handle an input the journal knows; False to let it be submitted afresh."""
        entry: JournalEntry = item.resume
        item.attempts = entry.attempts
        item.request_id = entry.request_id
        if entry.state is EntryState.SUBMITTED and entry.request_id:
            _log.info("input %d: re-attaching to job %s", item.index, entry.request_id)
            batch.attach(item, entry.request_id, entry.submitted_at)
            return True
        if entry.state in (EntryState.INTENT, EntryState.OUTCOME_UNKNOWN):
            if self.options.resume_unknown:
                _log.warning("input %d: earlier submit had an unknown outcome; resubmitting "
                             "as asked (this may pay twice)", item.index)
                item.request_id = None
                return False
            error = SubmitOutcomeUnknownError(
                model_id=entry.model_id,
                fingerprint=entry.fingerprint,
                cause="an earlier run stopped after sending the submit and before its answer "
                "was recorded",
            )
            await batch._conclude(item, OutcomeState.SUBMIT_UNKNOWN, error=error)
            return True
        if entry.state is EntryState.WITHDRAWN or (
            entry.state is EntryState.INVALID and entry.attempts == 0
        ):
            # Never ran (withdrawn while queued) or never sent: submit it (again).
            item.request_id = None
            return False
        outcome_state = _OUTCOME_FOR_ENTRY.get(entry.state)
        if outcome_state is None:  # pragma: no cover - every finished state is mapped
            return False
        result = _stored_result(entry)
        await batch._conclude(
            item,
            outcome_state,
            result=result,
            error=_stored_error(entry, result),
            from_journal=True,
            files=entry.files,
            timings=Timings(
                submitted=entry.submitted_at,
                server_finished=entry.finished_at,
                detected=entry.detected_at,
            ),
        )
        return True

    # --- The submit protocol -------------------------------------------------------------

    async def record_intent(self, item: _Item) -> None:
        if self.journal is not None:
            assert item.model_id is not None
            assert item.payload is not None
            await self.journal.record_intent(item.index, item.model_id, item.payload)

    async def record_submitted(self, item: _Item) -> None:
        if self.journal is not None:
            assert item.request_id is not None
            await self.journal.record_submitted(
                item.index, item.request_id, at=item.submitted_wall
            )

    async def record_unknown(self, item: _Item, error: SubmitOutcomeUnknownError) -> None:
        if self.journal is not None:
            await self.journal.record_finished(
                item.index, EntryState.OUTCOME_UNKNOWN, error=error_json(error)
            )

    async def record_rejected(self, item: _Item, error: RunComfyError) -> None:
        if self.journal is not None:
            await self.journal.record_finished(
                item.index, EntryState.INVALID, error=error_json(error)
            )

    async def record_invalid(self, item: _Item) -> None:
        if self.journal is not None:
            await self.journal.record_invalid(
                item.index,
                item.model_id or "",
                item.payload if isinstance(item.payload, Mapping) else {},
                error_json(item.problem),
            )

    async def record_withdrawn(self, item: _Item) -> None:
        """The batch cancelled the item's job while it was still queued (never billed)."""
        if self.journal is not None:
            await self.journal.record_finished(item.index, EntryState.WITHDRAWN)

    async def record_finished(
        self, item: _Item, result: JobResult, error: RunComfyError | None
    ) -> None:
        if self.journal is not None:
            await self.journal.record_finished(
                item.index, result.state, result=result.raw, error=error_json(error),
                finished_at=result.finished_at,
            )

    # --- Finishing an outcome ------------------------------------------------------------

    async def finish(self, outcome: Outcome) -> Outcome:
        """Download the outcome's files, journal it, and append it to the manifest."""
        files = outcome.files
        error = outcome.error
        if self.downloader is not None and outcome.ok and outcome.outputs:
            try:
                stored = await self.downloader.download(
                    outcome.index, _label(outcome.input), outcome.outputs, known=outcome.files
                )
            except DownloadError as exc:
                _log.warning("input %d: download failed: %s", outcome.index, exc)
                error = exc
            else:
                files = tuple(stored)
        changed = files != outcome.files or error is not outcome.error
        if changed:
            outcome = attrs.evolve(outcome, files=files, error=error)
        if self.journal is not None:
            if not outcome.from_journal:
                await self.journal.record_finished(
                    outcome.index,
                    _ENTRY_FOR_OUTCOME[outcome.state],
                    result=outcome.result.raw if outcome.result is not None else None,
                    error=error_json(outcome.error),
                    finished_at=outcome.timings.server_finished,
                    detected_at=outcome.timings.detected,
                )
            if files and (changed or not outcome.from_journal):
                await self.journal.record_files(outcome.index, files)
        if self.manifest is not None and (
            not outcome.from_journal or changed or outcome.index not in self._manifest_indices
        ):
            self.manifest.append(_manifest_record(outcome))
            self._manifest_indices.add(outcome.index)
        return outcome


def _payload_of(given: Any) -> Mapping[str, Any]:
    """The JSON object an input stands for, from any form ``map`` accepts."""
    if isinstance(given, tuple) and len(given) == 2:
        given = given[1]  # a (model_id, input) pair of a mixed batch
    if isinstance(given, Mapping):
        return given
    to_payload = getattr(given, "to_payload", None)
    return to_payload() if callable(to_payload) else {"value": repr(given)}


def _label(given: Any) -> str | None:
    """The text output files are named after: the prompt, when there is one."""
    prompt = _payload_of(given).get("prompt")
    return prompt if isinstance(prompt, str) else None


def _stored_result(entry: JournalEntry) -> JobResult | None:
    if entry.result is None:
        return None
    try:
        return parse_result(entry.result, request_id=entry.request_id)
    except RunComfyError:
        return None


def _stored_error(entry: JournalEntry, result: JobResult | None) -> RunComfyError | None:
    if entry.state is EntryState.SUCCEEDED:
        return None
    if entry.state is EntryState.FAILED and result is not None:
        return JobFailedError(result)
    message = entry.error.get("message") if isinstance(entry.error, Mapping) else entry.error
    return RunComfyError(
        f"input {entry.index} ended as {entry.state.value} in an earlier run"
        + (f": {message}" if message else "")
    )


def _manifest_record(outcome: Outcome) -> ManifestRecord:
    given = _payload_of(outcome.input)
    return ManifestRecord(
        index=outcome.index,
        model_id=outcome.model_id or "",
        input=given,
        state=outcome.state.value,
        request_id=outcome.request_id,
        outputs=outcome.outputs,
        files=outcome.files,
        timings=ManifestTimings(
            submitted_at=outcome.timings.submitted,
            finished_at=outcome.timings.server_finished,
            detected_at=outcome.timings.detected,
        ),
        error=error_json(outcome.error),
    )
