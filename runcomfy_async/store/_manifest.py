"""The batch manifest: one JSON line per outcome, in ``manifest.jsonl``.

The journal is the source of truth for a batch; the manifest is its readable, greppable,
``jq``-able account, written as outcomes arrive. Each record is written with a single
``write()`` of one whole line to a file opened in append mode, so a resumed batch appends
after the lines of the run before, and a crash can at worst leave one incomplete last line.
Opening a file whose last line is incomplete first ends that line, so the next record starts
on a line of its own, and :func:`read_manifest` skips lines that are not complete JSON.

Lines are flushed to the operating system as they are written (a killed process loses none)
and fsync'd on close (a power loss after a clean close loses none). The token is never part of
a record: records are built from inputs, request ids, states, URLs and files.

Timestamps are ISO-8601 strings in UTC.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
import cattrs
from typing_extensions import Self

from ..core._converter import converter
from ..core._files import StoredFile
from ..core._timings import Timings

__all__ = ["Manifest", "ManifestRecord", "Timings", "read_manifest", "read_manifest_ids"]


@attrs.frozen(kw_only=True)
class ManifestRecord:
    """One line of the manifest: the outcome of one input.

    Attributes:
        index: the input's position in the batch.
        model_id: the model it was submitted to.
        input: the input as submitted.
        state: how it ended, as an outcome state: ``succeeded``, ``failed``, ``timed_out``,
            ``submit_unknown``, ``rejected``, ``error``...
        request_id: the job's request id, if the server gave one.
        outputs: the output URLs, in the server's order.
        files: the files downloaded (path relative to the output folder, sha256, size...).
        timings: when it was created, submitted, finished and detected.
        error: the error as JSON-compatible data, if it failed.
        cost_usd: what the job cost in USD, as the service reported it (``include_cost``).
    """

    index: int
    model_id: str
    input: Mapping[str, Any]
    state: str
    request_id: str | None = None
    outputs: tuple[str, ...] = ()
    files: tuple[StoredFile, ...] = ()
    timings: Timings = attrs.field(factory=Timings)
    error: Any = None
    cost_usd: float | None = None

    def to_json(self) -> str:
        """The record as one line of compact JSON (no newline), fields in declared order."""
        return json.dumps(converter.unstructure(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ManifestRecord:
        """A record from one manifest line; fields it doesn't know are ignored.

        Args:
            text: one line written by :meth:`to_json`.

        Raises:
            ValueError: the line is not JSON or not a record.
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"a manifest line is a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManifestRecord:
        """A record from one manifest line already parsed; fields it doesn't know are
        ignored.

        Raises:
            ValueError: the object is not a record.
        """
        try:
            return converter.structure(data, cls)
        except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
            raise ValueError(f"not a manifest record: {exc}") from exc


class Manifest:
    """An append-only ``manifest.jsonl`` that a batch writes one record at a time.

    Writes are small and go to the page cache, so :meth:`append` is synchronous; call
    :meth:`close` (or use ``with``) to fsync at the end.

    Args:
        path: the manifest file; it and missing folders are created, an existing one is
            appended to.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path).expanduser()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: each record is one write() to the OS, never held back in a buffer.
        self._file = open(self._path, "ab", buffering=0)  # noqa: SIM115
        if _ends_mid_line(self._path):
            self._write(b"\n")

    @property
    def path(self) -> Path:
        """The manifest file."""
        return self._path

    def append(self, record: ManifestRecord) -> None:
        """Write ``record`` as one line.

        Args:
            record: the outcome to write.
        """
        self._write(record.to_json().encode("utf-8") + b"\n")

    def close(self) -> None:
        """Fsync and close the file. Idempotent."""
        if self._file.closed:
            return
        try:
            os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            # A raw file may write less than asked (a full disk, a signal); write the rest.
            view = view[written or 0 :]


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestRecord]:
    """Every complete record in a manifest, in file order.

    Lines that are not complete JSON records (the last line of a run that was killed while
    writing it) are skipped; blank lines too.

    Args:
        path: the manifest file.
    """
    records: list[ManifestRecord] = []
    for data in manifest_objects(path):
        try:
            records.append(ManifestRecord.from_dict(data))
        except ValueError:
            continue
    return records


def manifest_objects(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Each line of a manifest that is a complete JSON object, parsed, in file order: the
    lines :func:`read_manifest` makes records of (bytes that are not UTF-8 read as U+FFFD;
    blank lines, a cut last line and anything but an object are passed over)."""
    with open(path, "rb") as handle:
        for line in handle:
            text = line.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                data = json.loads(text)
            except ValueError:  # a cut last line, not JSON
                continue
            if isinstance(data, dict):
                yield data


def read_manifest_ids(path: str | os.PathLike[str]) -> tuple[set[int], set[str]]:
    """The input indices and the request ids a manifest records, without building records:
    what a resumed batch needs of it. A 100,000-line manifest as records is hundreds of
    thousands of objects, whose garbage collection stalls every thread (the event loop's
    too) for a quarter of a second at a time; this keeps two sets.

    Lines that are not complete JSON objects with an integer index are skipped, as
    :func:`read_manifest` skips them.
    """
    indices: set[int] = set()
    request_ids: set[str] = set()
    with open(path, "rb") as handle:
        for line in handle:
            try:
                data = json.loads(line)
            except ValueError:  # a cut last line, not UTF-8, not JSON
                continue
            if not isinstance(data, dict):
                continue
            index = data.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                continue
            indices.add(index)
            request_id = data.get("request_id")
            if isinstance(request_id, str) and request_id:
                request_ids.add(request_id)
    return indices, request_ids


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"
