"""The output folder: files land in it atomically, and only directly in it.

Bytes go to a hidden temporary file in the output folder, which is fsync'd and renamed over
the final name; a failed, capped or cancelled download deletes it. A killed process can leave
one behind (``.000042.<random>.part``): it never looks like an output, and the next download
of that index removes it.

Leftovers are found by listing the folder once, when the downloader opens it, not on every
download: a batch folder holds thousands of outputs, and listing it per download cost more
than the download of a small image. Only a killed earlier run leaves leftovers, so what that
one listing found is all there is to remove; the part files this downloader writes itself are
never among them.

Every final path is checked to sit directly in the folder, and a file recorded earlier is
trusted only if its name is one this downloader writes and its size and sha256 still match.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Final

import anyio

from ..._constants import DOWNLOAD_CHUNK_BYTES, DOWNLOAD_INDEX_DIGITS
from ...core._files import StoredFile

__all__ = ["DOWNLOAD_PART_SUFFIX", "OutputFolder"]

# Suffix of the hidden temporary files that bytes are streamed into.
DOWNLOAD_PART_SUFFIX: Final = ".part"


class OutputFolder:
    """One output folder, opened: its real path and the leftovers found in it.

    Build it with :meth:`open` (blocking: call it in a worker thread).

    Args:
        real_dir: the folder's real path (what final paths are checked against).
        leftovers: the leftover part files found in it, by input index.
    """

    def __init__(self, real_dir: str, leftovers: Mapping[int, Sequence[str]]) -> None:
        self._real_dir = real_dir
        self._leftovers = {index: list(paths) for index, paths in leftovers.items()}

    @classmethod
    def open(cls, folder: Path) -> OutputFolder:
        """Create ``folder`` if missing, and list the leftovers in it (the one listing)."""
        folder.mkdir(parents=True, exist_ok=True)
        real_dir = os.path.realpath(folder)
        return cls(real_dir, _scan_leftovers(real_dir))

    @property
    def real_dir(self) -> str:
        """The folder's real path."""
        return self._real_dir

    async def remove_leftovers(self, index: int) -> None:
        """Delete the leftover part files of input ``index`` (from a killed earlier run)."""
        paths = self._leftovers.pop(index, None)
        if paths:
            await anyio.to_thread.run_sync(_unlink_all, paths)

    def inside(self, name: str) -> Path | None:
        """The final path for ``name``, or None if it would not sit directly in the folder."""
        candidate = os.path.join(self._real_dir, name)
        if os.path.dirname(os.path.realpath(candidate)) != self._real_dir:
            return None
        return Path(candidate)

    def new_part(self, index: int) -> Path:
        """A fresh, hidden temporary path for the bytes of one output of input ``index``."""
        return Path(
            self._real_dir, f"{_part_prefix(index)}{secrets.token_hex(8)}{DOWNLOAD_PART_SUFFIX}"
        )

    def publish(self, temp: Path, final: Path) -> None:
        """Rename ``temp`` over ``final``, durably (blocking: call it in a worker thread)."""
        _publish(temp, final)

    async def intact_files(
        self, urls: Sequence[str], known: Iterable[StoredFile]
    ) -> list[StoredFile | None]:
        """For each URL, its ``known`` file if that is still intact here; None for the others.

        The downloader asks this first, before the URL rules: a file that is already here is
        not fetched, so a host that is not (or no longer) allowed, such as the sandbox's on a
        resumed batch, is no reason to fail it.
        """
        by_url = {stored.url: stored for stored in known}
        found: list[StoredFile | None] = [None] * len(urls)

        async def look(position: int, stored: StoredFile) -> None:
            if await anyio.to_thread.run_sync(self.is_intact, stored):
                found[position] = stored

        async with anyio.create_task_group() as group:
            for position, url in enumerate(urls):
                stored = by_url.get(url)
                if stored is not None:
                    group.start_soon(look, position, stored)
        return found

    def is_intact(self, known: StoredFile) -> bool:
        """True if ``known`` is still in the folder with its size and hash (blocking)."""
        name = known.path
        if (
            PurePosixPath(name).name != name
            or name in ("", ".", "..")
            or name.startswith(".")
            or "\\" in name
            or "\x00" in name
        ):
            return False  # not a name this downloader writes: don't trust it, fetch again
        path = os.path.join(self._real_dir, name)
        try:
            info = os.lstat(path)
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_size != known.size:
            return False
        return _sha256_of(path) == known.sha256


def _part_prefix(index: int) -> str:
    # The dot after the index keeps index 42's leftovers apart from index 420's.
    return f".{index:0{DOWNLOAD_INDEX_DIGITS}d}."


def _leftover_index(name: str) -> int | None:
    """The index whose part file ``name`` is (``.000042.<anything>.part``), or None."""
    if not (name.startswith(".") and name.endswith(DOWNLOAD_PART_SUFFIX)):
        return None
    digits, dot, _ = name[1:].partition(".")
    if not dot or not (digits.isascii() and digits.isdigit()):
        return None
    index = int(digits)
    prefix = _part_prefix(index)
    if not name.startswith(prefix) or len(name) < len(prefix) + len(DOWNLOAD_PART_SUFFIX):
        return None
    return index


def _scan_leftovers(real_dir: str) -> dict[int, list[str]]:
    found: defaultdict[int, list[str]] = defaultdict(list)
    with os.scandir(real_dir) as entries:
        for entry in entries:
            index = _leftover_index(entry.name)
            if index is not None and not entry.is_dir(follow_symlinks=False):
                found[index].append(entry.path)
    return dict(found)


def _unlink_all(paths: Sequence[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)


def _publish(temp: Path, final: Path) -> None:
    """Rename ``temp`` over ``final`` and make the rename itself durable."""
    os.replace(temp, final)
    if os.name == "posix":
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(functools.partial(handle.read, DOWNLOAD_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
