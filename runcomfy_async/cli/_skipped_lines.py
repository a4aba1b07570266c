"""The lines ``--skip-invalid`` leaves out, kept in the manifest and so shown in the gallery.

A skipped line is not an input of the batch: nothing was sent for it, it has no job and no
batch index. It still belongs in the batch's account, with its error, so that the manifest
and the gallery say what was left out and why, not only the summary line of one run.

Its record has the state ``refused`` (refused before anything was sent) and, for an index,
minus its line number (``-17`` for line 17): no input of a batch has a negative index, so the
record never takes an input's place, and the line number is read back from it (see
:func:`skipped_line`). Its error names the line too, for ``jq`` and for people::

    {"type": "InvalidInputError", "line": 17, "message": "line 17: aspect_ratio: got '5:4'; ..."}

A resumed batch meets the same invalid lines again; a record the manifest already holds, word
for word, is not written twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final

import anyio

from .._constants import MANIFEST_NAME
from ..store._manifest import Manifest, ManifestRecord, manifest_objects
from ._input_check import LineProblem
from ._input_files import InputLine

__all__ = ["SKIPPED_STATE", "SkippedLines", "problems_by_line", "skipped_line", "skipped_record"]

# The manifest's word for an input refused before anything was sent.
SKIPPED_STATE: Final = "refused"
_ERROR_TYPE: Final = "InvalidInputError"


def skipped_line(index: int) -> int | None:
    """The input file's line number of a skipped line's record, by its index; None for the
    record of an input of the batch."""
    return -index if index < 0 else None


def skipped_record(
    line: InputLine, problems: Sequence[LineProblem], *, default_model: str | None
) -> ManifestRecord:
    """The manifest record of a line left out, with every problem it has.

    Args:
        line: the line, as read (its input, when it could be read).
        problems: what is wrong with it.
        default_model: ``--model``, for a line that names no model.
    """
    texts = [problem.text for problem in problems] or [line.problem or "invalid"]
    error: dict[str, Any] = {
        "type": _ERROR_TYPE,
        "line": line.line,
        "message": f"line {line.line}: " + "; ".join(texts),
    }
    return ManifestRecord(
        index=-line.line,
        model_id=line.model_id or default_model or "",
        input=dict(line.payload or {}),
        state=SKIPPED_STATE,
        error=error,
    )


def problems_by_line(
    lines: Iterable[InputLine], problems: Sequence[LineProblem]
) -> list[tuple[InputLine, tuple[LineProblem, ...]]]:
    """Each line that has problems, with its problems, in file order."""
    found: dict[int, list[LineProblem]] = {}
    for problem in problems:
        found.setdefault(problem.line, []).append(problem)
    return [(line, tuple(found[line.line])) for line in lines if line.line in found]


class SkippedLines(AbstractContextManager["SkippedLines"]):
    """Writes the record of each line left out into the batch's manifest, as lines are met.

    Use it as a context manager around the batch (``with`` gives the object itself, as
    :class:`~contextlib.AbstractContextManager` does): the manifest it opens (beside the one
    the batch opens: both append whole lines) is closed at the end.

    Args:
        out_dir: the batch's folder (it exists by the first :meth:`add`).
        default_model: ``--model``.
    """

    def __init__(self, out_dir: Path, *, default_model: str | None) -> None:
        self._path = out_dir / MANIFEST_NAME
        self._default_model = default_model
        self._manifest: Manifest | None = None
        self._written: set[str] = set()

    async def add(self, line: InputLine, problems: Sequence[LineProblem]) -> None:
        """Record one line left out, unless the manifest already has its record."""
        record = skipped_record(line, problems, default_model=self._default_model)
        text = record.to_json()
        if self._manifest is None:
            # An earlier run's records of skipped lines, read once and off the event loop.
            self._written = await anyio.to_thread.run_sync(_skipped_records, self._path)
            self._manifest = Manifest(self._path)
        if text in self._written:
            return
        self._manifest.append(record)
        self._written.add(text)

    async def add_all(self, found: Iterable[tuple[InputLine, Sequence[LineProblem]]]) -> None:
        """Record every line of ``found`` (see :meth:`add`)."""
        for line, problems in found:
            await self.add(line, problems)

    def close(self) -> None:
        """Close the manifest, if a line was recorded. Idempotent."""
        if self._manifest is not None:
            self._manifest.close()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _skipped_records(path: Path) -> set[str]:
    """The records of skipped lines a manifest already holds, in the words of
    :meth:`ManifestRecord.to_json`; its lines read as
    :func:`~runcomfy_async.store._manifest.read_manifest` reads them (the same reader).

    Only a line that may be a skipped line's record is made a record: the record of an input
    of the batch (a non-negative integer index: nearly every line of a big manifest) is
    passed over once its index is read, so a resume does not build, then drop, a record per
    input.
    """
    if not path.exists():
        return set()
    found: set[str] = set()
    for data in manifest_objects(path):
        index = data.get("index")
        if isinstance(index, int) and index >= 0:
            continue  # an input of the batch (a bool reads as 0 or 1: not skipped either)
        try:
            record = ManifestRecord.from_dict(data)
        except ValueError:
            continue
        if record.index < 0:
            found.add(record.to_json())
    return found
