"""The HTTP layer: one aiohttp session, the token, timeouts, and answers turned into errors.

Everything that touches the network for the API goes through :class:`Transport`:

- The token is sent only to the API's own origin: URLs are built from the base URL and
  redirects are never followed (a redirect could carry the token to another host).
- :meth:`Transport.attempt` sends one request and returns parsed JSON, or raises a
  :class:`~._retrying.Failure` holding a typed error from :mod:`._errors` and the kind of
  failure the retry policy judges. A body that is not JSON, too large or too deeply nested
  is a :class:`MalformedResponseError` quoting its start; nothing raw escapes.
- :meth:`Transport.request` retries attempts through :class:`~._retrying.Retrier`, under the
  caller's deadline. Submits do not come through here: :mod:`._api` drives them, because
  their single attempt must be shielded and witnessed.

Timeouts mean what their names say (see :class:`Timeouts`). The wait for a free pooled
connection happens on our own semaphore, outside every timer, so a request that never got
a connection is never taken for one that may have been sent.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
from yarl import URL

from .._constants import (
    KEEPALIVE_TIMEOUT_S,
    LOGGER_NAME,
    MAX_REQUEST_BYTES,
    MODEL_URLS_KEPT,
    TIMEOUT_SWEEP_S,
    UPLOAD_TIMED_BY_AIOHTTP_BYTES,
)
from .._version import __version__
from ..core._errors import (
    InputProblem,
    InvalidInputError,
    RunComfyError,
)
from ..core._identity import canonical_json
from ..core._semaphore import Semaphore
from ..policies import RetryPolicy
from ._answers import TIMEOUTS, BodyTooLarge, failure_for, interpret, read_capped
from ._retrying import NO_HOOKS, CallHooks, Failure, Retrier
from ._timeouts import Timeouts
from ._watchdog import Watchdog

__all__ = ["Transport", "encode_body"]

_log = logging.getLogger(LOGGER_NAME)

USER_AGENT = f"runcomfy-async/{__version__}"
_JSON_BODY = {"Content-Type": "application/json"}
_NO_CONTENT_TYPE = ("Content-Type",)


def encode_body(body: Mapping[str, Any], *, model_id: str | None) -> bytes:
    """The request body: the input's canonical JSON (sorted keys, compact, UTF-8), which is
    also what the journal keeps and the fingerprint hashes, so that it is encoded once.

    Raises:
        InvalidInputError: over the 64 MiB request cap (nothing is sent).
    """
    data = canonical_json(body).encode("utf-8")
    if len(data) > MAX_REQUEST_BYTES:
        raise InvalidInputError(
            [
                InputProblem(
                    "input",
                    f"<{len(data)} bytes of JSON>",
                    f"a request body of at most {MAX_REQUEST_BYTES} bytes (64 MiB); "
                    "send large images as https URLs",
                )
            ],
            model_id=model_id,
        )
    return data


class Transport:
    """Sends API requests and returns parsed JSON, or raises a typed error.

    Args:
        base_url: the API base, version segment included (``https://…/v1``).
        token: the API token; kept only in the request headers of this object.
        retrier: retries under deadlines, with the client's cool-down.
        timeouts: connect, read and total timeouts of one attempt.
        max_connections, max_connections_per_host: the connection pool's limits.
    """

    def __init__(
        self,
        *,
        base_url: URL,
        token: str,
        retrier: Retrier,
        timeouts: Timeouts,
        max_connections: int,
        max_connections_per_host: int,
    ) -> None:
        self.base_url = base_url
        self.retrier = retrier
        self.timeouts = timeouts
        self._base_path = base_url.path.rstrip("/")
        self._origin = base_url.origin()
        self._headers = {
            "Authorization": f"Bearer {token}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self._timeout = timeouts.for_aiohttp()
        self._upload_timeout = timeouts.for_aiohttp(time_reads=True)
        self._watchdog = Watchdog(TIMEOUT_SWEEP_S)
        self._connections = Semaphore(max_connections_per_host)
        self._model_urls: dict[str, URL] = {}
        self._max_connections = max_connections
        self._max_connections_per_host = max_connections_per_host
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    @property
    def retry(self) -> RetryPolicy:
        return self.retrier.policy

    # --- Session lifetime --------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RunComfyError("this client is closed; create a new one")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._max_connections_per_host,
                keepalive_timeout=KEEPALIVE_TIMEOUT_S,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers=self._headers,
                # Cookies are not part of the API; a shared jar would only leak state.
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
                auto_decompress=True,
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session and its connections. Safe to call twice."""
        self._closed = True
        self._watchdog.close()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- Requests ----------------------------------------------------------------------

    def url_for(self, path: str) -> URL:
        """The absolute URL of an API path such as ``/requests/abc/status``."""
        url = self._model_urls.get(path)
        if url is None:
            url = self._origin.with_path(self._base_path + path, encoded=False)
            # Submit paths are one per model and repeat for every job: keep them.
            if path.startswith("/models/") and len(self._model_urls) < MODEL_URLS_KEPT:
                self._model_urls[path] = url
        return url

    def connection(self) -> AbstractAsyncContextManager[Any]:
        """Wait for a free connection of the pool (cancellable; outside every timer)."""
        return self._connections

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | str | None = None,
        deadline: float | None = None,
        hooks: CallHooks = NO_HOOKS,
        policy: RetryPolicy | None = None,
        ignore_cooldown: bool = False,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> Any:
        """Send a bodiless request (GET, cancel), retrying as the policy allows, by the
        deadline; return the parsed JSON. ``params`` is the query (a mapping, or a string
        already encoded).

        Raises:
            APIError: (a subclass) for every error answer.
            TransportError: when no answer came and retries (or the deadline) ran out.
        """
        url = self.url_for(path)
        if params:
            # Once per request, not per attempt; and a string query (a poll's constant
            # include_cost=true) costs yarl half what a mapping does.
            url = url.with_query(params)
        clock = self.retrier.clock

        async def one() -> Any:
            async with self._connections:
                cap = None if deadline is None else max(deadline - clock(), 0.001)
                return await self.attempt(
                    method, url, path, None, timeout_cap=cap,
                    request_id=request_id, model_id=model_id,
                )

        return await self.retrier.run(
            one, method=method, path=path, deadline=deadline, hooks=hooks, policy=policy,
            ignore_cooldown=ignore_cooldown, request_id=request_id, model_id=model_id,
        )

    async def attempt(
        self,
        method: str,
        url: URL,
        path: str,
        data: bytes | None,
        *,
        timeout_cap: float | None = None,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> Any:
        """One HTTP exchange to ``url`` (its query included); the caller holds a
        :meth:`connection`. ``path`` is the API path, for errors and logs.

        Raises:
            Failure: with the typed error and the kind of failure.
        """
        session = self._session or self._get_session()
        # A bodiless POST (cancel) says nothing about a content type.
        headers = _JSON_BODY if data is not None else None
        # Only a large body takes a while to upload: then aiohttp times the reads from the
        # end of the upload; otherwise the sweep times them from the start of the attempt.
        uploads = data is not None and len(data) > UPLOAD_TIMED_BY_AIOHTTP_BYTES
        body: bytes | io.BytesIO | None = io.BytesIO(data) if data and uploads else data
        timeouts = self.timeouts
        total = timeouts.total
        if timeout_cap is not None:
            total = timeout_cap if total is None else min(total, timeout_cap)
        watch = self._watchdog.watch(total, None if uploads else timeouts.read)
        t0 = time.perf_counter() if _log.isEnabledFor(logging.DEBUG) else 0.0
        failure: Failure | None = None
        raw: bytes | None = None
        try:
            async with session.request(
                # A large body goes out in chunks of 64 KiB, each awaited: handed over whole,
                # tens of megabytes (an inline image) are joined and copied in one callback,
                # which holds the event loop for as long.
                method, url, data=body, headers=headers,
                allow_redirects=False, timeout=self._upload_timeout if uploads else None,
                # aiohttp would label an empty POST application/octet-stream (a GET it
                # leaves alone, and skipping costs a set per request).
                skip_auto_headers=_NO_CONTENT_TYPE if data is None and method == "POST"
                else None,
            ) as response:
                status = response.status
                watch.progress()
                raw = await read_capped(response, watch.progress)
                retry_after_header = response.headers.get("Retry-After")
                location = response.headers.get("Location")
        except asyncio.CancelledError:
            if not watch.timed_out():
                raise
            if raw is None:  # the answer was not read: as aiohttp's timeouts would say
                failure = failure_for(
                    TimeoutError(f"{watch.fired} timeout"), self._origin, method, path,
                    request_id, model_id,
                )
        except (aiohttp.ClientError, OSError, *TIMEOUTS, BodyTooLarge) as exc:
            failure = failure_for(exc, self._origin, method, path, request_id, model_id)
        finally:
            self._watchdog.unwatch(watch)
        if failure is not None:
            # Raised outside the except block, so that the error keeps no link to aiohttp's
            # exception: its request_info holds our request headers, the token among them.
            raise failure
        assert raw is not None
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "%s %s -> %d in %.1f ms%s%s",
                method,
                path,
                status,
                (time.perf_counter() - t0) * 1000.0,
                f" request_id={request_id}" if request_id else "",
                f" ({len(data)} bytes sent)" if data is not None else "",
            )
        return interpret(
            status, raw, retry_after_header, location, method=method, path=path,
            request_id=request_id, model_id=model_id,
        )
