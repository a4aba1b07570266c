"""Streaming a job's output files to disk, safely.

Output URLs come from the server's answer, so the downloader treats them as untrusted. Its
rules live beside it: no credentials (:mod:`._session`), only allowed places
(:mod:`._policy`), names from us and not from the server (:mod:`._naming`), atomic writes
directly in the output folder (:mod:`._folder`). Here:

- **Redirects by hand.** Redirects are followed by hand (at most
  :data:`DOWNLOAD_MAX_REDIRECTS` hops) so that every hop is checked by the same rules as the
  URL itself, before any connection to it.
- **Bounded.** A size cap (from Content-Length before reading, and from the bytes streamed),
  bounded concurrency shared by all downloads, and a bounded number of attempts.
- **Nothing twice.** A file recorded earlier and still intact is kept as it is: it is not
  fetched again, so neither the network nor the URL rules are consulted for it.

Retries: connection failures, timeouts, truncated bodies, 5xx, 408 and 429 are retried with
exponential backoff and jitter (an output URL is a GET: repeating it costs nothing). Other
answers (403 for an expired signed URL, 404 for an expired output) and refusals are final.

Errors carry the URL without its query string: signed CDN URLs carry their signature there.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import ssl as ssl_
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

import aiohttp
import aiohttp.abc
import anyio
from typing_extensions import Self
from yarl import URL

from ..._constants import (
    DOWNLOAD_ALLOWED_HOST_SUFFIXES,
    DOWNLOAD_CHUNK_BYTES,
    DOWNLOAD_CONCURRENCY,
    DOWNLOAD_MAX_ATTEMPTS,
    DOWNLOAD_MAX_BYTES,
    DOWNLOAD_MAX_REDIRECTS,
    RETRY_INITIAL_DELAY_S,
    RETRY_MAX_DELAY_S,
)
from ...core._errors import DownloadError
from ...core._files import StoredFile
from ...core._validate import finite_at_least, finite_non_negative, positive_int
from ._folder import OutputFolder
from ._naming import extension_for, file_stem
from ._policy import UrlPolicy
from ._session import check_session, new_session

__all__ = ["DOWNLOAD_RETRY_STATUSES", "Downloader"]

# Answers worth another attempt: the server (or a proxy) said "not now", not "no".
DOWNLOAD_RETRY_STATUSES: Final = frozenset({408, 429})

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_REQUEST_HEADERS: Final = {"Accept": "*/*", "Accept-Encoding": "identity"}
_QUERY_IN_TEXT: Final = re.compile(r"(https?://[^\s'\"?#]*)[?#][^\s'\"]*")


class _Transient(Exception):
    """One attempt failed in a way that another attempt may not."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


class Downloader:
    """Downloads output files into one folder, with the safety rules of this package.

    Use it as an async context manager; every download shares its connection pool and its
    concurrency limit::

        async with Downloader("out", allowed_origins=[sandbox_cdn]) as downloader:
            files = await downloader.download(42, "a red fox", result.outputs)

    Args:
        out_dir: the folder the files go into; created if missing.
        allowed_hosts: host suffixes to download from over https: ``runcomfy.net`` allows
            ``runcomfy.net`` and ``*.runcomfy.net``.
        allowed_origins: exact ``scheme://host:port`` origins also allowed (the sandbox's
            file server on loopback, for instance).
        max_bytes: the largest file accepted; a larger one is abandoned and deleted.
        concurrency: downloads running at once, across all calls.
        max_attempts: attempts per URL, counting the first.
        retry_initial_delay: the delay before the second attempt; it doubles after each.
        retry_max_delay: the longest delay between two attempts.
        session: an ``aiohttp.ClientSession`` to use instead of the downloader's own. It must
            not be the API client's: it must set no Authorization or Cookie header and no
            auth, use ``aiohttp.DummyCookieJar()`` and ``trust_env=False``. It is not closed.
        resolver, ssl: name resolution and TLS context of the downloader's own session (a
            sandbox's CDN under a RunComfy-like name, with its test CA); ignored with
            ``session``.
        rng: the random source for backoff jitter (for exact tests).

    Raises:
        ConfigurationError: a setting is out of range, an origin is not an origin, or the
            session could carry credentials.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        allowed_hosts: Sequence[str] = DOWNLOAD_ALLOWED_HOST_SUFFIXES,
        allowed_origins: Sequence[str] = (),
        max_bytes: int = DOWNLOAD_MAX_BYTES,
        concurrency: int = DOWNLOAD_CONCURRENCY,
        max_attempts: int = DOWNLOAD_MAX_ATTEMPTS,
        retry_initial_delay: float = RETRY_INITIAL_DELAY_S,
        retry_max_delay: float = RETRY_MAX_DELAY_S,
        session: aiohttp.ClientSession | None = None,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        ssl: ssl_.SSLContext | None = None,
        rng: random.Random | None = None,
    ) -> None:
        positive_int.check("max_bytes", max_bytes)
        positive_int.check("concurrency", concurrency)
        positive_int.check("max_attempts", max_attempts)
        finite_non_negative.check("retry_initial_delay", retry_initial_delay)
        finite_at_least(retry_initial_delay).check("retry_max_delay", retry_max_delay)
        if session is not None:
            check_session(session)
        self._out_dir = Path(out_dir).expanduser()
        self._policy = UrlPolicy(allowed_hosts, allowed_origins)
        self._max_bytes = max_bytes
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._initial_delay = retry_initial_delay
        self._max_delay = retry_max_delay
        self._given_session = session
        self._resolver = resolver
        self._ssl = ssl
        self._rng = rng or random.Random()
        # Read a little past the cap at most, so a small cap never buffers a big chunk.
        self._chunk_bytes = min(DOWNLOAD_CHUNK_BYTES, max_bytes + 1)
        self._session: aiohttp.ClientSession | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._folder: OutputFolder | None = None

    async def __aenter__(self) -> Self:
        self._folder = await anyio.to_thread.run_sync(OutputFolder.open, self._out_dir)
        self._limiter = anyio.CapacityLimiter(self._concurrency)
        self._session = self._given_session or new_session(resolver=self._resolver, ssl=self._ssl)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None and session is not self._given_session:
            await session.close()

    @property
    def out_dir(self) -> Path:
        """The folder files are written into."""
        return self._out_dir

    async def download(
        self,
        index: int,
        label: str | None,
        urls: Sequence[str],
        known: Iterable[StoredFile] = (),
    ) -> list[StoredFile]:
        """Download the outputs of input ``index``; return their files, in URL order.

        A URL with a ``known`` file still present and intact (same size and sha256) is not
        fetched again, whatever its host: the file is kept and returned as recorded. Every
        other URL is checked against the rules before anything is fetched, so a refused URL
        costs no request. Leftover temporary files of this index (from a killed run) are
        removed.

        Args:
            index: the input's position in the batch (the file names' prefix).
            label: the text to name the files after (the prompt), or None.
            urls: the output URLs, in the server's order.
            known: files recorded earlier for this input (from the journal).

        Raises:
            DownloadError: a URL was refused or could not be downloaded (for several
                failures, the first in URL order). Files of other URLs may have been written.
        """
        session, limiter, folder = self._session, self._limiter, self._folder
        if session is None or limiter is None or folder is None:
            raise RuntimeError("use the Downloader inside 'async with'")
        if index < 0:
            raise ValueError(f"an input index is an int >= 0, got {index!r}")
        found: list[StoredFile | DownloadError | None] = list(
            await folder.intact_files(urls, known)
        )
        checked = {
            position: self._policy.check(url, reported=url, index=index)
            for position, url in enumerate(urls)
            if found[position] is None
        }
        await folder.remove_leftovers(index)

        async def fetch(position: int) -> None:
            try:
                found[position] = await self._download_one(
                    session,
                    limiter,
                    folder,
                    index,
                    file_stem(index, label, position),
                    urls[position],
                    checked[position],
                )
            except DownloadError as exc:
                found[position] = exc

        async with anyio.create_task_group() as group:
            for position in checked:
                group.start_soon(fetch, position)
        files: list[StoredFile] = []
        for item in found:
            if isinstance(item, DownloadError):
                raise item
            assert item is not None
            files.append(item)
        return files

    # --- One URL -------------------------------------------------------------------------

    async def _download_one(
        self,
        session: aiohttp.ClientSession,
        limiter: anyio.CapacityLimiter,
        folder: OutputFolder,
        index: int,
        stem: str,
        raw_url: str,
        url: URL,
    ) -> StoredFile:
        attempt = 1
        while True:
            try:
                async with limiter:
                    return await self._fetch(session, folder, index, stem, raw_url, url)
            except _Transient as exc:
                if attempt >= self._max_attempts:
                    raise DownloadError(
                        raw_url,
                        f"{exc.reason} (gave up after {attempt} attempts)",
                        index=index,
                        status=exc.status,
                    ) from None
            await anyio.sleep(self._delay(attempt))
            attempt += 1

    async def _fetch(
        self,
        session: aiohttp.ClientSession,
        folder: OutputFolder,
        index: int,
        stem: str,
        raw_url: str,
        url: URL,
    ) -> StoredFile:
        current = url
        for _ in range(DOWNLOAD_MAX_REDIRECTS + 1):
            try:
                async with session.get(
                    current, allow_redirects=False, headers=_REQUEST_HEADERS
                ) as response:
                    if response.status in _REDIRECT_STATUSES:
                        current = self._redirect_target(raw_url, index, current, response)
                        continue
                    status = response.status
                    if status >= 500 or status in DOWNLOAD_RETRY_STATUSES:
                        raise _Transient(f"HTTP {status}", status)
                    if status != 200:
                        raise DownloadError(raw_url, f"HTTP {status}", index=index, status=status)
                    return await self._store(folder, index, stem, raw_url, response)
            # Exceptions are described, not chained: aiohttp's carry the full URL, query and all.
            except (
                aiohttp.ClientError,
                ConnectionError,
                asyncio.TimeoutError,
                TimeoutError,
            ) as exc:
                raise _Transient(_describe(exc)) from None
        raise DownloadError(raw_url, f"more than {DOWNLOAD_MAX_REDIRECTS} redirects", index=index)

    def _redirect_target(
        self, raw_url: str, index: int, current: URL, response: aiohttp.ClientResponse
    ) -> URL:
        location = response.headers.get("Location")
        if not location:
            raise DownloadError(
                raw_url, f"HTTP {response.status} redirect without a Location", index=index
            )
        try:
            target = current.join(URL(location))
        except (ValueError, TypeError):
            raise DownloadError(
                raw_url, "redirect to an unreadable Location", index=index
            ) from None
        return self._policy.check(target, reported=raw_url, index=index, redirect=True)

    async def _store(
        self,
        folder: OutputFolder,
        index: int,
        stem: str,
        raw_url: str,
        response: aiohttp.ClientResponse,
    ) -> StoredFile:
        length = response.content_length
        if length is not None and length > self._max_bytes:
            raise DownloadError(
                raw_url,
                f"Content-Length {length} exceeds the {self._max_bytes}-byte cap",
                index=index,
            )
        content_type = response.content_type.lower()
        name = stem + extension_for(content_type)
        final = folder.inside(name)
        if final is None:
            raise DownloadError(
                raw_url, f"{name!r} would be outside the output folder", index=index
            )
        temp = folder.new_part(index)
        digest = hashlib.sha256()
        size = 0
        published = False
        try:
            async with await anyio.open_file(temp, "xb") as handle:
                async for chunk in response.content.iter_chunked(self._chunk_bytes):
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise DownloadError(
                            raw_url,
                            f"body exceeds the {self._max_bytes}-byte cap",
                            index=index,
                        )
                    digest.update(chunk)
                    await handle.write(chunk)
                await handle.flush()
                await anyio.to_thread.run_sync(os.fsync, handle.wrapped.fileno())
            await anyio.to_thread.run_sync(folder.publish, temp, final)
            published = True
        except OSError as exc:
            if isinstance(exc, (aiohttp.ClientError, ConnectionError, TimeoutError)):
                raise  # the network's fault, not the disk's: _fetch decides on a retry
            raise DownloadError(
                raw_url, f"cannot write {name}: {exc.strerror or exc}", index=index
            ) from None
        finally:
            if not published:
                # Synchronous on purpose: this also runs when the task is being cancelled.
                temp.unlink(missing_ok=True)
        return StoredFile(
            url=raw_url, path=name, sha256=digest.hexdigest(), size=size, content_type=content_type
        )

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of the capped delay."""
        ceiling = min(self._max_delay, self._initial_delay * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + self._rng.random() / 2)


def _describe(exc: BaseException) -> str:
    text = _QUERY_IN_TEXT.sub(r"\1", str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
