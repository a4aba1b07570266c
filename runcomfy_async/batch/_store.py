"""What a batch keeps beyond memory: the journal, the downloaded files and the manifest.

:class:`BatchStore` is the batch engine's one door to durability. Without a journal or a
download folder every method is a no-op, so the engine's hot path pays nothing for it.

The submit protocol that makes a crash at any instant recoverable (each write is committed
before the step after it, inside the shield that guards the submit's one attempt):

1. ``intent`` just before the body is sent: a crash now leaves ``intent``, which a resumed
   run reports as "outcome unknown" rather than paying again.
2. The answer: ``submitted`` with the request id (a resumed run polls it, never resubmits),
   ``refused`` or ``not_sent`` (no job: a resumed run submits), or ``unknown``.
3. The outcome, journaled before its files are downloaded; then the files. A resumed run
   hands the outcome back without any request, and fetches files only if missing or altered.

What one job writes is bounded (``MAX_JOURNALED_JSON_CHARS``): a longer raw result is
journaled as what a resume reads back from it (state, timestamps, cost, a shortened error and
every output URL, whole), and a longer error, in the journal and the manifest, is shortened.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs

from .._constants import (
    LOGGER_NAME,
    MANIFEST_NAME,
    MAX_JOURNALED_JSON_CHARS,
    MAX_MANIFEST_INPUT_CHARS,
    MAX_MANIFEST_INPUT_STRING_CHARS,
    MAX_OUTPUT_NESTING,
    REPR_CHARS,
)
from ..core._errors import JournalError, RunComfyError
from ..core._identity import input_fingerprint
from ..core._lifecycle import InputState
from ..core._text import short_repr, shorten
from ..core._wire import JobResult, JobState
from ..store._error_json import error_json
from ..store._manifest import Manifest, ManifestRecord, read_manifest_ids
from ..store.downloads import Downloader, DownloadError
from ..store.journal import Journal, JournalEntry
from ._attach import Attach
from ._options import MapOptions
from ._outcome import Outcome

__all__ = ["BatchStore", "kept_error", "kept_result", "payload_of"]

_log = logging.getLogger(LOGGER_NAME)


class BatchStore:
    """The journal, downloader and manifest of one batch, each optional."""

    def __init__(self, options: MapOptions) -> None:
        self.options = options
        self.journal: Journal | None = None
        self.downloader: Downloader | None = None
        self.manifest: Manifest | None = None
        self._manifest_indices: set[int] = set()

    async def open(self) -> None:
        """Open what the options ask for; on any failure, close what was opened."""
        try:
            await self._open()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise

    async def _open(self) -> None:
        if self.options.journal is not None:
            self.journal = await Journal.open(self.options.journal)
        downloads = self.options.downloads
        if downloads is None:
            return
        folder = Path(downloads.folder)
        manifest_path = folder / MANIFEST_NAME
        if manifest_path.exists():
            # Read off the event loop, and only what resume needs (its indices and request
            # ids): a manifest of a long batch has 100,000 lines.
            indices, paid = await anyio.to_thread.run_sync(read_manifest_ids, manifest_path)
            self._manifest_indices = indices
            if self.journal is not None:
                await self._check_journal_knows(paid, manifest_path)
        self.downloader = Downloader(
            folder,
            allowed_hosts=downloads.hosts,
            allowed_origins=downloads.origins,
            resolver=downloads.resolver,
            ssl=downloads.ssl,
        )
        await self.downloader.__aenter__()
        self.manifest = Manifest(manifest_path)

    async def _check_journal_knows(self, paid: set[str], manifest_path: Path) -> None:
        """Refuse to run when the manifest holds jobs the journal does not know.

        That happens when the journal was deleted, truncated, or copied without its
        ``-wal`` file: running on would submit (and pay for) those inputs again.
        """
        assert self.journal is not None
        if not paid:
            return
        missing = paid - await self.journal.request_ids()
        if missing:
            raise JournalError(
                f"{manifest_path} records {len(missing)} job(s) that the journal "
                f"{self.journal.path} does not know (it was deleted, emptied, or copied "
                "without its -wal file). Running on would pay for those inputs again, so "
                "nothing was sent. Restore the journal, or use a new output folder."
            )

    @property
    def active(self) -> bool:
        """True when there is anything to store (otherwise outcomes skip the finishers)."""
        return self.journal is not None or self.downloader is not None

    async def aclose(self) -> None:
        if self.manifest is not None:
            # Its fsync, off the event loop: a long batch's unflushed manifest takes a
            # quarter of a second to reach the disk.
            await anyio.to_thread.run_sync(self.manifest.close)
        if self.downloader is not None:
            await self.downloader.__aexit__(None, None, None)
        if self.journal is not None:
            await self.journal.aclose()

    # --- Reading the journal on resume -------------------------------------------------

    async def page(self, start: int, size: int) -> list[JournalEntry]:
        assert self.journal is not None
        return await self.journal.entries(start, size)

    async def max_index(self) -> int | None:
        return await self.journal.max_index() if self.journal is not None else None

    # --- The submit protocol (no-ops without a journal) ----------------------------------

    async def intent(self, index: int, model_id: str, body: bytes) -> None:
        """``body``: the submit's body, the input's canonical JSON (encoded once)."""
        if self.journal is not None:
            await self.journal.record_intent(index, model_id, canonical=body)

    async def submitted(self, index: int, request_id: str, at: Any) -> None:
        if self.journal is not None:
            await self.journal.record_submitted(index, request_id, at=at)

    async def ended(self, index: int, state: InputState, error: BaseException | None) -> None:
        """The current attempt ended without a result (refused, not sent, unknown,
        withdrawn, expired)."""
        if self.journal is not None:
            await self.journal.record_finished(index, state, error=kept_error(error))

    async def not_created(
        self,
        index: int,
        model_id: str | None,
        payload: Any,
        state: InputState,
        error: BaseException | None,
    ) -> None:
        """An input ended without any attempt: refused here, or never sent."""
        if self.journal is not None:
            await self.journal.record_not_created(
                index, model_id or "", payload if isinstance(payload, Mapping) else {},
                state, kept_error(error),
            )

    async def job_over(
        self, index: int, state: InputState, result: JobResult, error: RunComfyError | None
    ) -> None:
        """A job ended (used when a failed job is resubmitted)."""
        if self.journal is not None:
            await self.journal.record_finished(
                index, state, result=kept_result(result), error=kept_error(error),
                finished_at=result.finished_at,
            )

    # --- Finishing an outcome ------------------------------------------------------------

    async def record_outcome(self, outcome: Outcome) -> None:
        """Journal how the input ended, before anything else is done for it."""
        if self.journal is None or outcome.from_journal:
            return
        await self.journal.record_finished(
            outcome.index,
            outcome.state,
            result=kept_result(outcome.result) if outcome.result is not None else None,
            error=kept_error(outcome.error),
            finished_at=outcome.timings.finished_at,
            detected_at=outcome.timings.detected_at,
        )

    async def download(self, outcome: Outcome) -> Outcome:
        """Fetch the outcome's missing files (cancellable: the journal already says what is
        left to fetch, and a resumed batch fetches it)."""
        if self.downloader is None or not outcome.ok or not outcome.outputs:
            return outcome
        try:
            stored = await self.downloader.download(
                outcome.index, _label(outcome.input), outcome.outputs, known=outcome.files
            )
        except DownloadError as exc:
            _log.warning("input %d: download failed: %s", outcome.index, exc)
            return attrs.evolve(outcome, error=exc)
        files = tuple(stored)
        return outcome if files == outcome.files else attrs.evolve(outcome, files=files)

    async def record_files(self, before: Outcome, outcome: Outcome) -> None:
        """Journal the files and append the outcome to the manifest."""
        changed = outcome.files != before.files or outcome.error is not before.error
        if self.journal is not None and outcome.files and (changed or not outcome.from_journal):
            await self.journal.record_files(outcome.index, outcome.files)
        if self.manifest is not None and (
            not outcome.from_journal or changed or outcome.index not in self._manifest_indices
        ):
            self.manifest.append(_manifest_record(outcome))
            self._manifest_indices.add(outcome.index)


def check_same_input(entry: JournalEntry, model_id: str | None, payload: Any) -> None:
    """Refuse to resume an input that is not the one the journal recorded a job for."""
    if model_id is None or not isinstance(payload, Mapping):
        return
    if input_fingerprint(model_id, payload) != entry.fingerprint:
        raise JournalError(
            f"input {entry.index} is not the one the journal recorded a job for: the inputs "
            "changed since the batch began. Nothing more was sent. Restore the original "
            "inputs to resume, or start a new journal."
        )


def payload_of(given: Any) -> Mapping[str, Any]:
    """The JSON object an input stands for, from any form ``map`` accepts."""
    if isinstance(given, tuple) and len(given) == 2:
        given = given[1]  # a (model_id, input) pair of a mixed batch
    if isinstance(given, Attach):
        return given.input or {}
    if isinstance(given, Mapping):
        return given
    to_payload = getattr(given, "to_payload", None)
    return to_payload() if callable(to_payload) else {"value": repr(given)}


def _label(given: Any) -> str | None:
    """The text output files are named after: the prompt, when there is one."""
    prompt = payload_of(given).get("prompt")
    return prompt if isinstance(prompt, str) else None


def _manifest_record(outcome: Outcome) -> ManifestRecord:
    return ManifestRecord(
        index=outcome.index,
        model_id=outcome.model_id or "",
        input=kept_input(payload_of(outcome.input)),
        state=outcome.state.value,
        request_id=outcome.request_id,
        outputs=outcome.outputs,
        files=outcome.files,
        timings=outcome.timings,
        error=kept_error(outcome.error),
        cost_usd=outcome.cost_usd,
    )


# --- What one job may write -------------------------------------------------------------------


def kept_result(result: JobResult) -> Mapping[str, Any]:
    """A result's raw answer as the journal keeps it: whole when its JSON is short enough;
    otherwise what a resume reads back from it, marked with ``cut_from_chars``.

    The cut form parses (``parse_result``) to the same state, output URLs, timestamps and
    cost; every output URL stays whole, since the outcome and its downloads need them all
    (there are at most ``MAX_OUTPUTS_PER_JOB``, none over ``MAX_OUTPUT_URL_CHARS``).
    """
    raw = result.raw
    if _room_left(raw, MAX_JOURNALED_JSON_CHARS) >= 0:  # the common case, without encoding
        return raw
    size = len(_json_text(raw))
    if size <= MAX_JOURNALED_JSON_CHARS:
        return raw
    raw_state = result.raw_state
    same_state = (
        raw_state is not None and len(raw_state) <= REPR_CHARS
        and JobState.from_raw(raw_state) is result.state
    )
    kept: dict[str, Any] = {
        "request_id": result.request_id,
        "status": raw_state if same_state else result.state.value,
        "output": list(result.outputs),
        "cut_from_chars": size,
    }
    for key, when in (("created_at", result.created_at), ("started_at", result.started_at),
                      ("finished_at", result.finished_at)):
        if when is not None:
            kept[key] = when.isoformat()
    if result.cost is not None:
        kept["cost"] = result.cost
    if result.error not in (None, "", [], {}):
        kept["error"] = kept_json(result.error)
    return kept


def kept_input(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """An input as the manifest keeps it: whole, unless it holds megabytes (an inline image's
    ``data:`` URI), whose long strings are then cut.

    The journal keeps every input whole, for a resume; the manifest says what each file came
    from, and a line of 24 MB would be re-encoded and written on the event loop for no
    reader's benefit. Measured without encoding: an inline image is never encoded twice.
    """
    if _room_left(payload, MAX_MANIFEST_INPUT_CHARS) >= 0:  # the common case
        return payload
    return _cut_long_strings(payload, 0)  # type: ignore[no-any-return]


def _cut_long_strings(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return shorten(value, MAX_MANIFEST_INPUT_STRING_CHARS)
    if depth >= MAX_OUTPUT_NESTING:
        return short_repr(value)
    if isinstance(value, Mapping):
        return {str(k): _cut_long_strings(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cut_long_strings(v, depth + 1) for v in value]
    return value


def kept_error(error: BaseException | None) -> Any:
    """An error as the journal and the manifest keep it: :func:`error_json`, bounded."""
    return kept_json(error_json(error))


def kept_json(value: Any) -> Any:
    """JSON data in at most about ``MAX_JOURNALED_JSON_CHARS`` characters of JSON.

    Whole when short enough; else with its long strings cut (the shape a reader knows, such
    as ``{"error_message": ...}`` or a list of ``{errorCode, error, debugInfo}``, stays);
    else its JSON text, cut.
    """
    if value is None:
        return None
    text = _json_text(value)
    if len(text) <= MAX_JOURNALED_JSON_CHARS:
        return value
    if isinstance(value, str):
        return shorten(value, MAX_JOURNALED_JSON_CHARS)
    trimmed = _cut_strings(value, 0)
    if len(_json_text(trimmed)) <= MAX_JOURNALED_JSON_CHARS:
        return trimmed
    return shorten(text, MAX_JOURNALED_JSON_CHARS)


def _cut_strings(value: Any, depth: int) -> Any:
    part = MAX_JOURNALED_JSON_CHARS // 8
    if isinstance(value, str):
        return shorten(value, part)
    if depth >= MAX_OUTPUT_NESTING:
        return shorten(_json_text(value), part) if isinstance(value, (dict, list)) else value
    if isinstance(value, Mapping):
        return {shorten(str(k), part): _cut_strings(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_strings(v, depth + 1) for v in value]
    return value


def _room_left(value: Any, room: int) -> int:
    """What is left of ``room`` characters after ``value``'s JSON, counting every string at
    its longest escaped form (six characters per character); negative as soon as it may not
    fit. A quarter of the cost of encoding a result, which every finished job would pay."""
    if isinstance(value, str):
        return room - 6 * len(value) - 2
    if isinstance(value, dict):  # a dict, not any Mapping: this is the quick path
        room -= 2
        for key, item in value.items():
            room = _room_left(item, room - 6 * len(str(key)) - 4)
            if room < 0:
                break
        return room
    if isinstance(value, list):
        room -= 2
        for item in value:
            room = _room_left(item, room - 1)
            if room < 0:
                break
        return room
    if value is None or isinstance(value, (int, float)):
        # "-Infinity" and the longest float repr are shorter than this.
        return room - max(len(repr(value)), 32)
    return -1  # anything else: measured by encoding it


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)
