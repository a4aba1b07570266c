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
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import attrs
from yarl import URL

from .._constants import (
    CONNECT_TIMEOUT_S,
    KEEPALIVE_TIMEOUT_S,
    LOGGER_NAME,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    READ_TIMEOUT_S,
    TOTAL_TIMEOUT_S,
)
from .._version import __version__
from ..core._errors import (
    APIError,
    ConfigurationError,
    ConnectionFailedError,
    InputProblem,
    InvalidInputError,
    MalformedResponseError,
    RequestTimeoutError,
    RunComfyError,
    error_for_response,
    quote_body,
)
from ..policies import FailureKind, RetryPolicy, parse_retry_after
from ._retrying import NO_HOOKS, CallHooks, Failure, Retrier

__all__ = ["Timeouts", "Transport", "encode_body"]

_log = logging.getLogger(LOGGER_NAME)

USER_AGENT = f"runcomfy-async/{__version__}"
_JSON_BODY = {"Content-Type": "application/json"}
# Submit URLs kept built (one per model id seen).
_MODEL_URLS_KEPT = 1024
# Python's json raises RecursionError on deep nesting; aiohttp's timeouts are
# asyncio.TimeoutError, which is not the built-in TimeoutError before Python 3.11.
_UNPARSABLE = (ValueError, UnicodeDecodeError, RecursionError)
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)


def _seconds(name: str) -> Callable[[Any, Any, float | None], None]:
    def check(_: Any, __: Any, value: float | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0 < value < float("inf")
        ):
            raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class Timeouts:
    """How long one HTTP attempt may take, each number measuring one thing.

    Args:
        connect: seconds to open a TCP (and TLS) connection.
        read: seconds between two reads of the answer once the request is sent (a server
            that stops answering); uploading a large body is not limited by it.
        total: seconds for the whole attempt, upload included; None for no such limit.
            A caller's deadline (``wait(timeout=...)``) also bounds every attempt but a
            submit's, which is shielded and ends by ``total``.
    """

    connect: float = attrs.field(default=CONNECT_TIMEOUT_S, validator=_seconds("connect"))
    read: float = attrs.field(default=READ_TIMEOUT_S, validator=_seconds("read"))
    total: float | None = attrs.field(default=TOTAL_TIMEOUT_S, validator=_seconds("total"))

    def for_aiohttp(self, cap: float | None = None) -> aiohttp.ClientTimeout:
        total = self.total
        if cap is not None:
            total = cap if total is None else min(total, cap)
        # aiohttp's `connect` would also time the wait for a pooled connection: we keep that
        # wait outside (see Transport.connection), so only sock_connect is set.
        return aiohttp.ClientTimeout(
            total=total, connect=None, sock_connect=self.connect, sock_read=self.read
        )


def encode_body(body: Mapping[str, Any], *, model_id: str | None) -> bytes:
    """The JSON bytes of a request body, refused (nothing sent) past the 64 MiB cap."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
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
        self._connections = asyncio.Semaphore(max_connections_per_host)
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
            if path.startswith("/models/") and len(self._model_urls) < _MODEL_URLS_KEPT:
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
        params: Mapping[str, str] | None = None,
        deadline: float | None = None,
        hooks: CallHooks = NO_HOOKS,
        policy: RetryPolicy | None = None,
        ignore_cooldown: bool = False,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> Any:
        """Send a bodiless request (GET, cancel), retrying as the policy allows, by the
        deadline; return the parsed JSON.

        Raises:
            APIError: (a subclass) for every error answer.
            TransportError: when no answer came and retries (or the deadline) ran out.
        """
        url = self.url_for(path)
        clock = self.retrier.clock

        async def one() -> Any:
            async with self._connections:
                cap = None if deadline is None else max(deadline - clock(), 0.001)
                return await self.attempt(
                    method, url, path, params, None, timeout_cap=cap,
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
        params: Mapping[str, str] | None,
        data: bytes | None,
        *,
        timeout_cap: float | None = None,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> Any:
        """One HTTP exchange; the caller holds a :meth:`connection`.

        Raises:
            Failure: with the typed error and the kind of failure.
        """
        session = self._session or self._get_session()
        # A bodiless POST (cancel) says nothing about a content type.
        headers = _JSON_BODY if data is not None else None
        timeout = self._timeout if timeout_cap is None else self.timeouts.for_aiohttp(timeout_cap)
        t0 = time.perf_counter() if _log.isEnabledFor(logging.DEBUG) else 0.0
        failure: Failure | None = None
        try:
            async with session.request(
                method, url, params=params, data=data, headers=headers,
                allow_redirects=False, timeout=timeout,
            ) as response:
                status = response.status
                raw = await _read_capped(response)
                retry_after_header = response.headers.get("Retry-After")
                location = response.headers.get("Location")
        except (aiohttp.ClientError, OSError, *_TIMEOUTS, _BodyTooLarge) as exc:
            failure = self._failure_for(exc, method, path, request_id, model_id)
        if failure is not None:
            # Raised outside the except block, so that the error keeps no link to aiohttp's
            # exception: its request_info holds our request headers, the token among them.
            raise failure
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
        return self._interpret(
            status, raw, retry_after_header, location, request_id=request_id, model_id=model_id
        )

    def _failure_for(
        self,
        exc: BaseException,
        method: str,
        path: str,
        request_id: str | None,
        model_id: str | None,
    ) -> Failure:
        """What an exception of one attempt means for retrying, and the error to raise.

        Only the exception's text is kept, never the exception itself (see ``_attempt``).
        """
        where = {"method": method, "path": path, "request_id": request_id, "model_id": model_id}
        if isinstance(exc, _BodyTooLarge):
            return Failure(
                FailureKind.CLIENT_ERROR,
                MalformedResponseError(
                    f"answer larger than {MAX_RESPONSE_BYTES} bytes", status=exc.status,
                    request_id=request_id, model_id=model_id,
                ),
            )
        # Order matters: aiohttp's connect timeout is a ServerTimeoutError, and its
        # connector errors are OSErrors.
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return Failure(
                FailureKind.NOT_SENT, RequestTimeoutError(f"connect timeout: {exc}", **where)
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return Failure(
                FailureKind.NOT_SENT,
                ConnectionFailedError(
                    f"could not connect to {self._origin}: {exc.os_error or exc}", **where
                ),
            )
        if isinstance(exc, (aiohttp.ServerTimeoutError, *_TIMEOUTS)):
            return Failure(
                FailureKind.MAYBE_SENT,
                RequestTimeoutError("timed out waiting for the answer", **where),
            )
        return Failure(
            FailureKind.MAYBE_SENT,
            ConnectionFailedError(f"connection lost: {type(exc).__name__}: {exc}", **where),
        )

    def _interpret(
        self,
        status: int,
        raw: bytes,
        retry_after_header: str | None,
        location: str | None,
        *,
        request_id: str | None,
        model_id: str | None,
    ) -> Any:
        try:
            body: Any = json.loads(raw) if raw else None
            parsed = True
        except _UNPARSABLE:
            body, parsed = None, False
        if 200 <= status < 300:
            if not parsed or not raw:
                raise Failure(
                    FailureKind.CLIENT_ERROR,
                    MalformedResponseError(
                        f"the answer is not JSON: {quote_body(raw) or '(empty body)'}",
                        status=status,
                        request_id=request_id,
                        model_id=model_id,
                    ),
                )
            if isinstance(body, dict) and body.get("error_code") not in (None, 0, "0", ""):
                # RunComfy sometimes says 200 and puts the error in the body.
                error = self._api_error(status, body, retry_after_header, request_id, model_id)
                raise Failure(_kind_for(error.status or status, error.error_code), error)
            return body
        if 300 <= status < 400:
            raise Failure(
                FailureKind.CLIENT_ERROR,
                MalformedResponseError(
                    f"unexpected redirect to {quote_body(location or '?', 120)}; not followed, "
                    "so that the token goes only to the API host",
                    status=status,
                    request_id=request_id,
                    model_id=model_id,
                ),
            )
        if parsed and isinstance(body, dict):
            error = self._api_error(status, body, retry_after_header, request_id, model_id)
        else:
            error = error_for_response(
                status=status,
                error_code=None,
                message=quote_body(raw) or None,
                request_id=request_id,
                model_id=model_id,
                retry_after=parse_retry_after(retry_after_header),
            )
        raise Failure(
            _kind_for(status, error.error_code),
            error,
            retry_after=parse_retry_after(retry_after_header),
            status=status,
        )

    @staticmethod
    def _api_error(
        status: int,
        body: Mapping[str, Any],
        retry_after_header: str | None,
        request_id: str | None,
        model_id: str | None,
    ) -> APIError:
        code = body.get("error_code")
        try:
            error_code = int(code) if code is not None and not isinstance(code, bool) else None
        except (TypeError, ValueError, OverflowError):  # e.g. "x", [1], 1e999
            error_code = None
        message = body.get("error_message") or body.get("message")
        return error_for_response(
            status=status,
            error_code=error_code,
            message=quote_body(str(message)) if message else None,
            detail=body.get("detail"),
            request_id=request_id,
            model_id=model_id,
            retry_after=parse_retry_after(retry_after_header),
        )


def _kind_for(status: int, error_code: int | None) -> FailureKind:
    """The failure kind of an answer, by HTTP status or, on a 200, by the body's code."""
    effective = status
    if 200 <= status < 300 and error_code is not None:
        effective = error_code // 1000
    if effective == 408:
        return FailureKind.REQUEST_TIMEOUT
    if effective == 429:
        return FailureKind.RATE_LIMITED
    if effective == 503:
        return FailureKind.UNAVAILABLE
    if 500 <= effective < 600:
        return FailureKind.SERVER_ERROR
    return FailureKind.CLIENT_ERROR


class _BodyTooLarge(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, or _BodyTooLarge past MAX_RESPONSE_BYTES (never read past the cap)."""
    length = response.content_length
    if length is not None:
        if length > MAX_RESPONSE_BYTES:
            raise _BodyTooLarge(response.status)
        return await response.read()
    chunks = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _BodyTooLarge(response.status)
        chunks.append(chunk)
    return b"".join(chunks)
