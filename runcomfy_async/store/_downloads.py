"""Streaming a job's output files to disk, safely.

Output URLs come from the server's answer, so the downloader treats them as untrusted:

- **No credentials.** The downloader owns its own ``aiohttp.ClientSession``, separate from the
  API client's: no Authorization header, no cookie jar (cookies are dropped), no ``.netrc``
  (``trust_env=False``). The token cannot reach a CDN because this session never had it. A
  session passed in is checked for the same properties.
- **Only allowed places.** ``https`` only (plain ``http`` only to loopback, for the sandbox),
  only hosts under the allowed suffixes (``runcomfy.net`` allows ``cdn.runcomfy.net``, never
  ``evilruncomfy.net``) or exactly the allowed origins, no ``user:password@`` URLs. Every URL is
  checked before any connection or DNS lookup, and redirects are followed by hand (at most
  :data:`DOWNLOAD_MAX_REDIRECTS` hops) so that every hop is checked by the same rules.
- **Names from us, not from the server.** A file is named from the input index and a slug of
  its label (the prompt), ``000042-a-red-fox-in-snow.png``, with the extension taken from the
  Content-Type. Nothing from the URL path or the answer becomes part of a path, and the final
  path is checked to sit directly in the output folder.
- **Bounded.** A size cap (from Content-Length before reading, and from the bytes streamed),
  bounded concurrency shared by all downloads, and a bounded number of attempts.
- **Atomic.** Bytes go to a hidden temporary file in the output folder, which is fsync'd and
  renamed over the final name; a failed, capped or cancelled download deletes it. A killed
  process can leave one behind (``.000042.<random>.part``): it never looks like an output,
  and the next download of that index removes it.

Retries: connection failures, timeouts, truncated bodies, 5xx, 408 and 429 are retried with
exponential backoff and jitter (an output URL is a GET: repeating it costs nothing). Other
answers (403 for an expired signed URL, 404 for an expired output) and refusals are final.

Errors carry the URL without its query string: signed CDN URLs carry their signature there.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import random
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Final

import aiohttp
import anyio
from typing_extensions import Self
from yarl import URL

from .._constants import (
    CONNECT_TIMEOUT_S,
    DOWNLOAD_ALLOWED_HOST_SUFFIXES,
    DOWNLOAD_CHUNK_BYTES,
    DOWNLOAD_CONCURRENCY,
    DOWNLOAD_MAX_ATTEMPTS,
    DOWNLOAD_MAX_BYTES,
    DOWNLOAD_MAX_REDIRECTS,
    DOWNLOAD_SLUG_MAX_CHARS,
    READ_TIMEOUT_S,
    RETRY_INITIAL_DELAY_S,
    RETRY_MAX_DELAY_S,
)
from .._version import __version__
from ..core._errors import ConfigurationError, DownloadError, redact_url
from ..core._files import StoredFile
from ..core._net import is_loopback

__all__ = ["DownloadError", "Downloader", "file_stem", "redact_url", "slug"]

# Digits of the zero-padded input index at the start of every file name.
DOWNLOAD_INDEX_DIGITS: Final = 6
# Suffix of the hidden temporary files that bytes are streamed into.
DOWNLOAD_PART_SUFFIX: Final = ".part"
# Answers worth another attempt: the server (or a proxy) said "not now", not "no".
DOWNLOAD_RETRY_STATUSES: Final = frozenset({408, 429})
# Extensions by declared media type; anything else is saved as ``.bin``.
DOWNLOAD_EXTENSIONS: Final[Mapping[str, str]] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
}
DOWNLOAD_FALLBACK_EXTENSION: Final = ".bin"

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# Headers that would carry a credential; a session given to the downloader must not set them.
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
_REQUEST_HEADERS: Final = {"Accept": "*/*", "Accept-Encoding": "identity"}
_QUERY_IN_TEXT: Final = re.compile(r"(https?://[^\s'\"?#]*)[?#][^\s'\"]*")


class _Transient(Exception):
    """One attempt failed in a way that another attempt may not."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


def slug(label: str) -> str:
    """A file-name-safe slug of ``label``: ASCII ``[a-z0-9-]``, at most 48 characters.

    NFKD normalisation turns ``é`` into ``e`` and full-width letters into ASCII; everything
    else (separators, dots, NUL, drive colons, other scripts) becomes a dash or disappears,
    so no slug can name a folder, a parent or an absolute path.

    Args:
        label: any text, usually the prompt.
    """
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    dashed = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return dashed[:DOWNLOAD_SLUG_MAX_CHARS].rstrip("-")


def file_stem(index: int, label: str | None, position: int = 0) -> str:
    """The file name, without extension, of output ``position`` of input ``index``.

    ``file_stem(42, "A red fox in snow")`` is ``000042-a-red-fox-in-snow``; the second
    output adds ``-2``. The index prefix makes every name unique within a batch and
    harmless whatever the label (``000042-con`` is not a reserved Windows name).

    Args:
        index: the input's position in the batch.
        label: the text to slug into the name (the prompt), or None for the index alone.
        position: the output's position among the input's outputs, from 0.
    """
    if index < 0 or position < 0:
        raise ValueError(f"index and position must be >= 0, got {index} and {position}")
    text = slug(label) if label else ""
    stem = f"{index:0{DOWNLOAD_INDEX_DIGITS}d}" + (f"-{text}" if text else "")
    return stem if position == 0 else f"{stem}-{position + 1}"


class Downloader:
    """Downloads output files into one folder, with the safety rules of this module.

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
        rng: random.Random | None = None,
    ) -> None:
        for name, value in (
            ("max_bytes", max_bytes),
            ("concurrency", concurrency),
            ("max_attempts", max_attempts),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
        if not 0 <= retry_initial_delay <= retry_max_delay < float("inf"):
            raise ConfigurationError(
                "retry delays must satisfy 0 <= retry_initial_delay <= retry_max_delay < inf, "
                f"got {retry_initial_delay!r} and {retry_max_delay!r}"
            )
        if session is not None:
            _check_session(session)
        self._out_dir = Path(out_dir).expanduser()
        self._hosts = tuple(_host_suffix(host) for host in allowed_hosts)
        self._origins = frozenset(_origin(origin) for origin in allowed_origins)
        self._max_bytes = max_bytes
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._initial_delay = retry_initial_delay
        self._max_delay = retry_max_delay
        self._given_session = session
        self._rng = rng or random.Random()
        # Read a little past the cap at most, so a small cap never buffers a big chunk.
        self._chunk_bytes = min(DOWNLOAD_CHUNK_BYTES, max_bytes + 1)
        self._session: aiohttp.ClientSession | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._real_dir = ""

    async def __aenter__(self) -> Self:
        self._real_dir = await anyio.to_thread.run_sync(_prepare_folder, self._out_dir)
        self._limiter = anyio.CapacityLimiter(self._concurrency)
        self._session = self._given_session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            headers={"User-Agent": f"runcomfy-async/{__version__}"},
        )
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

        Every URL is checked before anything is fetched, so a refused URL costs no request.
        A URL with a ``known`` file still present and intact (same size and sha256) is not
        fetched again. Leftover temporary files of this index (from a killed run) are removed.

        Args:
            index: the input's position in the batch (the file names' prefix).
            label: the text to name the files after (the prompt), or None.
            urls: the output URLs, in the server's order.
            known: files recorded earlier for this input (from the journal).

        Raises:
            DownloadError: a URL was refused or could not be downloaded (for several
                failures, the first in URL order). Files of other URLs may have been written.
        """
        session, limiter = self._session, self._limiter
        if session is None or limiter is None:
            raise RuntimeError("use the Downloader inside 'async with'")
        if index < 0:
            raise ValueError(f"an input index is an int >= 0, got {index!r}")
        checked = [self._check(url, reported=url, index=index) for url in urls]
        by_url = {stored.url: stored for stored in known}
        await anyio.to_thread.run_sync(self._remove_leftovers, index)
        found: list[StoredFile | DownloadError | None] = [None] * len(urls)

        async def fetch(position: int) -> None:
            try:
                found[position] = await self._download_one(
                    session,
                    limiter,
                    index,
                    file_stem(index, label, position),
                    urls[position],
                    checked[position],
                    by_url.get(urls[position]),
                )
            except DownloadError as exc:
                found[position] = exc

        async with anyio.create_task_group() as group:
            for position in range(len(urls)):
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
        index: int,
        stem: str,
        raw_url: str,
        url: URL,
        known: StoredFile | None,
    ) -> StoredFile:
        if known is not None and await self._is_intact(known):
            return known
        attempt = 1
        while True:
            try:
                async with limiter:
                    return await self._fetch(session, index, stem, raw_url, url)
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
                    return await self._store(index, stem, raw_url, response)
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
        return self._check(target, reported=raw_url, index=index, redirect=True)

    async def _store(
        self, index: int, stem: str, raw_url: str, response: aiohttp.ClientResponse
    ) -> StoredFile:
        length = response.content_length
        if length is not None and length > self._max_bytes:
            raise DownloadError(
                raw_url,
                f"Content-Length {length} exceeds the {self._max_bytes}-byte cap",
                index=index,
            )
        content_type = response.content_type.lower()
        name = stem + DOWNLOAD_EXTENSIONS.get(content_type, DOWNLOAD_FALLBACK_EXTENSION)
        final = self._inside(name, raw_url, index)
        temp = Path(self._real_dir, f"{_part_prefix(index)}{secrets.token_hex(8)}")
        temp = temp.with_name(temp.name + DOWNLOAD_PART_SUFFIX)
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
            await anyio.to_thread.run_sync(_publish, temp, final)
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

    # --- Rules -----------------------------------------------------------------------------

    def _check(self, url: str | URL, *, reported: str, index: int, redirect: bool = False) -> URL:
        """``url`` parsed, if the rules allow fetching it; DownloadError if not."""
        what = f"redirect to {redact_url(str(url))}" if redirect else "URL"

        def refuse(reason: str) -> DownloadError:
            return DownloadError(reported, f"{what} refused: {reason}", index=index)

        try:
            parsed = url if isinstance(url, URL) else URL(url)
        except (ValueError, TypeError):
            raise refuse("not a valid URL") from None
        scheme = parsed.scheme.lower()
        if scheme not in ("https", "http"):
            raise refuse("only https URLs are downloaded")
        if not parsed.raw_host:
            raise refuse("no host")
        if parsed.raw_user is not None or parsed.raw_password is not None:
            raise refuse("URLs carrying credentials are not fetched")
        host = parsed.raw_host.lower().rstrip(".")
        if scheme == "http" and not is_loopback(host):
            raise refuse("plain http is only allowed to loopback hosts")
        if (scheme, host, parsed.port) in self._origins:
            return parsed
        if any(host == suffix or host.endswith("." + suffix) for suffix in self._hosts):
            return parsed
        raise refuse(f"host {host} is not an allowed download host")

    def _inside(self, name: str, raw_url: str, index: int) -> Path:
        """The final path for ``name``, checked to sit directly in the output folder."""
        candidate = os.path.join(self._real_dir, name)
        if os.path.dirname(os.path.realpath(candidate)) != self._real_dir:
            raise DownloadError(
                raw_url, f"{name!r} would be outside the output folder", index=index
            )
        return Path(candidate)

    async def _is_intact(self, known: StoredFile) -> bool:
        """True if ``known`` is still on disk, in the output folder, with its size and hash."""
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

        def check() -> bool:
            try:
                info = os.lstat(path)
            except OSError:
                return False
            if not stat.S_ISREG(info.st_mode) or info.st_size != known.size:
                return False
            return _sha256_of(path) == known.sha256

        return await anyio.to_thread.run_sync(check)

    def _remove_leftovers(self, index: int) -> None:
        for leftover in Path(self._real_dir).glob(_part_prefix(index) + "*" + DOWNLOAD_PART_SUFFIX):
            leftover.unlink(missing_ok=True)

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of the capped delay."""
        ceiling = min(self._max_delay, self._initial_delay * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + self._rng.random() / 2)


def _check_session(session: aiohttp.ClientSession) -> None:
    headers = {name.lower() for name in session.headers}
    if headers & _CREDENTIAL_HEADERS:
        raise ConfigurationError(
            "the download session sets a credential header; output files must be fetched "
            "without credentials (don't pass the API client's session)"
        )
    if session.auth is not None:
        raise ConfigurationError("the download session has auth; it must have none")
    if session.trust_env:
        raise ConfigurationError(
            "the download session has trust_env=True, which sends ~/.netrc credentials; "
            "create it with trust_env=False"
        )
    if not isinstance(session.cookie_jar, aiohttp.DummyCookieJar):
        raise ConfigurationError(
            "the download session keeps cookies; create it with cookie_jar=aiohttp.DummyCookieJar()"
        )


def _host_suffix(text: str) -> str:
    host = text.strip().lower().strip(".")
    if not host or any(c in host for c in "/:@?#* "):
        raise ConfigurationError(
            f"allowed_hosts takes host names like 'runcomfy.net', got {text!r}"
        )
    return host


def _origin(text: str) -> tuple[str, str, int | None]:
    try:
        url = URL(text)
    except (ValueError, TypeError):
        url = None
    if (
        url is None
        or url.scheme.lower() not in ("http", "https")
        or not url.raw_host
        or url.path not in ("", "/")
        or url.query_string
        or url.fragment
        or url.raw_user is not None
    ):
        raise ConfigurationError(
            f"allowed_origins takes origins like 'http://127.0.0.1:8080', got {text!r}"
        )
    return url.scheme.lower(), url.raw_host.lower().rstrip("."), url.port


def _prepare_folder(folder: Path) -> str:
    """Create ``folder`` if missing; return its real path (what final paths are checked against)."""
    folder.mkdir(parents=True, exist_ok=True)
    return os.path.realpath(folder)


def _part_prefix(index: int) -> str:
    # The dot after the index keeps index 42's leftovers apart from index 420's.
    return f".{index:0{DOWNLOAD_INDEX_DIGITS}d}."


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


def _describe(exc: BaseException) -> str:
    text = _QUERY_IN_TEXT.sub(r"\1", str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
