"""The HTTP layer: one aiohttp session, the token, timeouts, errors, retries.

Everything that touches the network for the API goes through :class:`Transport`:

- The token is sent only to the API's own origin: URLs are built from the base URL and
  redirects are never followed (a redirect could carry the token to another host).
- Every answer is turned into parsed JSON or a typed error from :mod:`._errors`; a body
  that is not JSON, or too large, is a :class:`MalformedResponseError` quoting its start.
- Retries follow :class:`~.policies.RetryPolicy`: submits only when they certainly did not
  arrive; GETs on every transient failure.
- A 429 starts a cool-down shared by every request of the client: when the server says
  "wait 3 s", no request of ours goes out for 3 s, rather than each request learning it
  alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import anyio
import attrs
from yarl import URL

from ._constants import (
    COOLDOWN_DEFAULT_S,
    LOGGER_NAME,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
)
from ._errors import (
    APIError,
    ConnectionFailedError,
    InputProblem,
    InvalidInputError,
    MalformedResponseError,
    RateLimitedError,
    RequestTimeoutError,
    RunComfyError,
    SubmitOutcomeUnknownError,
    TransportError,
    error_for_response,
    quote_body,
)
from ._events import RetryEvent, call_hook
from ._version import __version__
from ._wire import input_fingerprint
from .policies import Attempt, FailureKind, RetryPolicy, parse_retry_after

__all__ = ["Clock", "RateLimitSignal", "Transport"]

_log = logging.getLogger(LOGGER_NAME)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

USER_AGENT = f"runcomfy-async/{__version__}"
_JSON_BODY = {"Content-Type": "application/json"}
# Submit URLs kept built (one per model id seen).
_MODEL_URLS_KEPT = 1024


@attrs.frozen
class RateLimitSignal:
    """A 429 arrived: the cool-down it started, and whether it answered a submit."""

    cooldown: float
    is_submit: bool


class Transport:
    """Sends API requests and returns parsed JSON, or raises a typed error.

    Args:
        base_url: the API base, version segment included (``https://…/v1``).
        token: the API token; kept only in the request headers of this object.
        retry: when and how to retry.
        connect_timeout, read_timeout: seconds; a read timeout applies per socket read.
        max_connections, max_connections_per_host: the connection pool's limits.
        on_retry: called with a :class:`RetryEvent` before each retry.

    Attributes:
        retry_listeners: more callables told of every retry (running batches add theirs).
        rate_limit_listeners: callables told of every 429 with a :class:`RateLimitSignal`
            (running batches use it to slow their submit rate).
        clock, sleep, rand: injectable for exact tests.
    """

    def __init__(
        self,
        *,
        base_url: URL,
        token: str,
        retry: RetryPolicy,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        max_connections_per_host: int,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url
        self.retry = retry
        self.on_retry = on_retry
        self.retry_listeners: set[Callable[[RetryEvent], Any]] = set()
        self.rate_limit_listeners: set[Callable[[RateLimitSignal], Any]] = set()
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._base_path = base_url.path.rstrip("/")
        self._origin = base_url.origin()
        self._headers = {
            "Authorization": f"Bearer {token}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        # One timer per request: `total` bounds connect, send and answer together, and
        # sock_connect the TCP (and TLS) connect. (aiohttp's `connect` would arm a timer even
        # for a pooled connection, and `sock_read` re-arms one twice per request: measurable
        # at thousands of requests a second.) Waiting for a free pooled connection happens in
        # `_connections` below, outside that timer, so a submit that times out has certainly
        # been handed to a connection; one that never got one is not "maybe sent".
        self._timeout = aiohttp.ClientTimeout(
            total=read_timeout, connect=None, sock_connect=connect_timeout, sock_read=None
        )
        self._connections = asyncio.Semaphore(max_connections_per_host)
        self._model_urls: dict[str, URL] = {}
        self._max_connections = max_connections
        self._max_connections_per_host = max_connections_per_host
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._cooldown_until = 0.0

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    # --- Session lifetime --------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RunComfyError("this client is closed; create a new one")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._max_connections_per_host,
                # Below common server idle timeouts (60 s and more), so that we rarely
                # reuse a connection the server is closing: for a submit, that race turns
                # into an "outcome unknown".
                keepalive_timeout=15.0,
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

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        is_submit: bool = False,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> Any:
        """Send one API request, retrying as the policy allows; return the parsed JSON.

        Raises:
            APIError: (a subclass) for every error answer.
            TransportError: when no answer came and retries ran out.
            SubmitOutcomeUnknownError: for a submit that may have created a job.
            InvalidInputError: for a body over the 64 MiB request cap (nothing sent).
        """
        data = None
        if body is not None:
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
        url = self.url_for(path)
        started = self._clock()
        number = 0
        while True:
            number += 1
            if self._cooldown_until:
                wait = self._cooldown_until - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            try:
                return await self._attempt(
                    method, url, path, params, data, request_id=request_id, model_id=model_id
                )
            except _Failure as failure:
                decision = self.retry.decide(
                    Attempt(
                        number=number,
                        elapsed=self._clock() - started,
                        kind=failure.kind,
                        is_submit=is_submit,
                        retry_after=failure.retry_after,
                        status=failure.status,
                    ),
                    self._rand,
                )
                if failure.kind is FailureKind.RATE_LIMITED:
                    self._start_cooldown(failure.retry_after, is_submit)
                if decision.outcome_unknown or (is_submit and _accepted_unreadably(failure)):
                    raise SubmitOutcomeUnknownError(
                        model_id=model_id or "?",
                        # Computed only here: hashing every submit's input costs time on
                        # the hot path for a value needed only when something went wrong.
                        fingerprint=input_fingerprint(model_id or "", body or {}),
                        cause=failure.error,
                    ) from failure.error
                if not decision.retry:
                    if isinstance(failure.error, RateLimitedError) and decision.reason:
                        failure.error.message = f"{failure.error.message} ({decision.reason})"
                    raise failure.error from None
                _log.info(
                    "retry %d/%d in %.2f s: %s (%s %s)",
                    number,
                    self.retry.max_attempts,
                    decision.delay,
                    decision.reason,
                    method,
                    path,
                )
                event = RetryEvent(
                        attempt=number,
                        max_attempts=self.retry.max_attempts,
                        delay=decision.delay,
                        reason=decision.reason,
                        method=method,
                        path=path,
                        request_id=request_id,
                        model_id=model_id,
                )
                call_hook(self.on_retry, event)
                for listener in tuple(self.retry_listeners):
                    call_hook(listener, event)
                await self._sleep(decision.delay)

    def _start_cooldown(self, retry_after: float | None, is_submit: bool) -> None:
        if not self.retry.honour_retry_after:
            delay = 0.0
        else:
            delay = retry_after if retry_after is not None else COOLDOWN_DEFAULT_S
            delay = min(delay, self.retry.retry_after_cap)
            self._cooldown_until = max(self._cooldown_until, self._clock() + delay)
        for listener in tuple(self.rate_limit_listeners):
            call_hook(listener, RateLimitSignal(cooldown=delay, is_submit=is_submit))

    async def _attempt(
        self,
        method: str,
        url: URL,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        *,
        request_id: str | None,
        model_id: str | None,
    ) -> Any:
        session = self._session or self._get_session()
        headers = _JSON_BODY if data is not None else None
        t0 = time.perf_counter() if _log.isEnabledFor(logging.DEBUG) else 0.0
        failure: _Failure | None = None
        async with self._connections:
            try:
                async with session.request(
                    method, url, params=params, data=data, headers=headers,
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    raw = await _read_capped(response)
                    retry_after_header = response.headers.get("Retry-After")
                    location = response.headers.get("Location")
            except (aiohttp.ClientError, OSError, TimeoutError, _BodyTooLarge) as exc:
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
    ) -> _Failure:
        """What an exception of one attempt means for retrying, and the error to raise.

        Only the exception's text is kept, never the exception itself (see ``_attempt``).
        """
        where = {"method": method, "path": path, "request_id": request_id, "model_id": model_id}
        if isinstance(exc, _BodyTooLarge):
            return _Failure(
                FailureKind.CLIENT_ERROR,
                MalformedResponseError(
                    f"answer larger than {MAX_RESPONSE_BYTES} bytes", status=exc.status,
                    request_id=request_id, model_id=model_id,
                ),
            )
        # Order matters: aiohttp's connect timeout is a ServerTimeoutError, and its
        # connector errors are OSErrors.
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return _Failure(
                FailureKind.NOT_SENT, RequestTimeoutError(f"connect timeout: {exc}", **where)
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return _Failure(
                FailureKind.NOT_SENT,
                ConnectionFailedError(
                    f"could not connect to {self._origin}: {exc.os_error or exc}", **where
                ),
            )
        if isinstance(exc, (aiohttp.ServerTimeoutError, TimeoutError)):
            return _Failure(
                FailureKind.MAYBE_SENT,
                RequestTimeoutError("timed out waiting for the answer", **where),
            )
        return _Failure(
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
        except (ValueError, UnicodeDecodeError):
            body, parsed = None, False
        if 200 <= status < 300:
            if not parsed or not raw:
                raise _Failure(
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
                raise _Failure(_kind_for(error.status or status, error.error_code), error)
            return body
        if 300 <= status < 400:
            raise _Failure(
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
        raise _Failure(
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


def _accepted_unreadably(failure: _Failure) -> bool:
    """A 2xx or 3xx answer that could not be read: for a submit, a job may exist."""
    error = failure.error
    return (
        isinstance(error, MalformedResponseError)
        and error.status is not None
        and 200 <= error.status < 400
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


class _Failure(Exception):
    """An attempt failed: what kind of failure (for the retry policy) and the error to raise."""

    def __init__(
        self,
        kind: FailureKind,
        error: APIError | TransportError,
        *,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(kind.value)
        self.kind = kind
        self.error = error
        self.retry_after = retry_after
        self.status = status


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
