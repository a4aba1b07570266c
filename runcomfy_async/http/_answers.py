"""Reading an answer and judging it: parsed JSON, or a typed error and its failure kind.

Two kinds of judgement live here, both the transport's concern, not the error hierarchy's:

- which :mod:`~runcomfy_async.core._errors` class an answer is: by RunComfy's ``error_code``
  first (it sometimes answers 200, or a generic 400, with a specific code in the body), then
  by HTTP status;
- what kind of failure it is for the retry policy (:class:`~..policies.FailureKind`): not
  sent, maybe sent, rate limited, a server error, a refusal.

Nothing raw escapes: a body that is not JSON, too large, or nested too deeply to parse is a
:class:`MalformedResponseError` quoting its start, and an exception of aiohttp is reduced to
its text (its request information holds our headers, the token among them).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import aiohttp
import orjson

from .._constants import MAX_RESPONSE_BYTES, ONE_READ_BYTES, REDIRECT_QUOTE_CHARS
from ..core._errors import (
    APIError,
    AuthenticationError,
    ConnectionFailedError,
    InsufficientBalanceError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
)
from ..core._text import quote_body
from ..policies import FailureKind, parse_retry_after
from ._retrying import Failure

__all__ = [
    "TIMEOUTS",
    "BodyTooLarge",
    "error_for_response",
    "failure_for",
    "interpret",
    "read_capped",
]

# Python's json raises RecursionError on deep nesting; aiohttp's timeouts are
# asyncio.TimeoutError, which is not the built-in TimeoutError before Python 3.11.
_UNPARSABLE = (ValueError, UnicodeDecodeError, RecursionError)
TIMEOUTS = (TimeoutError, asyncio.TimeoutError)


class _Answered(TypedDict):
    """The request an answer is to, as every error of :func:`interpret` names it."""

    method: str
    path: str
    request_id: str | None
    model_id: str | None


def failure_for(
    exc: BaseException,
    origin: object,
    method: str,
    path: str,
    request_id: str | None,
    model_id: str | None,
) -> Failure:
    """What an exception of one attempt means for retrying, and the error to raise.

    Only the exception's text is kept, never the exception itself (see ``Transport.attempt``).
    """
    where: _Answered = {
        "method": method, "path": path, "request_id": request_id, "model_id": model_id
    }
    if isinstance(exc, BodyTooLarge):
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
                f"could not connect to {origin}: {exc.os_error or exc}", **where
            ),
        )
    if isinstance(exc, (aiohttp.ServerTimeoutError, *TIMEOUTS)):
        return Failure(
            FailureKind.MAYBE_SENT,
            RequestTimeoutError("timed out waiting for the answer", **where),
        )
    return Failure(
        FailureKind.MAYBE_SENT,
        ConnectionFailedError(f"connection lost: {type(exc).__name__}: {exc}", **where),
    )


def interpret(
    status: int,
    raw: bytes,
    retry_after_header: str | None,
    location: str | None,
    *,
    method: str,
    path: str,
    request_id: str | None,
    model_id: str | None,
) -> Any:
    """The parsed JSON of a 2xx answer; for anything else, raise its :class:`Failure`.

    Every error says which request it answers (``method``, ``path``) and what it was about.
    """
    try:
        body: Any = _loads(raw) if raw else None
        parsed = True
    except _UNPARSABLE:
        body, parsed = None, False
    # RunComfy sometimes says 200 and puts the error in the body.
    error_body = isinstance(body, dict) and body.get("error_code") not in (None, 0, "0", "")
    if 200 <= status < 300 and parsed and raw and not error_body:
        return body  # the common case, first and without building anything
    where: _Answered = {
        "method": method, "path": path, "request_id": request_id, "model_id": model_id
    }
    if 200 <= status < 300:
        if not parsed or not raw:
            raise Failure(
                FailureKind.CLIENT_ERROR,
                MalformedResponseError(
                    f"the answer is not JSON: {quote_body(raw) or '(empty body)'}",
                    status=status,
                    **where,
                ),
            )
        error = _api_error(status, body, retry_after_header, where)
        raise Failure(_kind_for(error.status or status, error.error_code), error)
    if 300 <= status < 400:
        raise Failure(
            FailureKind.CLIENT_ERROR,
            MalformedResponseError(
                f"unexpected redirect to {quote_body(location or '?', REDIRECT_QUOTE_CHARS)}; "
                "not followed, so that the token goes only to the API host",
                status=status,
                **where,
            ),
        )
    if parsed and isinstance(body, dict):
        error = _api_error(status, body, retry_after_header, where)
    else:
        error = error_for_response(
            status=status,
            error_code=None,
            message=quote_body(raw) or None,
            retry_after=parse_retry_after(retry_after_header),
            **where,
        )
    raise Failure(
        _kind_for(status, error.error_code),
        error,
        retry_after=parse_retry_after(retry_after_header),
        status=status,
    )


def _api_error(
    status: int,
    body: Mapping[str, Any],
    retry_after_header: str | None,
    where: _Answered,
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
        retry_after=parse_retry_after(retry_after_header),
        **where,
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


def _loads(raw: bytes) -> Any:
    """JSON from an answer, by orjson (a third of the stdlib's cost; two answers a job).

    What orjson refuses, the stdlib's full rules read: another encoding or a byte-order
    mark, ``NaN``, a lone surrogate, ``1e400``. One thing orjson reads differently: an
    integer beyond 64 bits comes out a float. The one integer that matters, a request id,
    is read again by the stdlib when that happens, so that its digits are kept (an id
    with a float's digits would be polled for a job that is not ours).
    """
    try:
        body = orjson.loads(raw)
    except ValueError:
        return json.loads(raw)
    if type(body) is dict and type(body.get("request_id")) is float:
        return json.loads(raw)
    return body


class BodyTooLarge(Exception):
    """An answer over ``MAX_RESPONSE_BYTES``: refused before it is read into memory."""

    def __init__(self, status: int) -> None:
        self.status = status


async def read_capped(
    response: aiohttp.ClientResponse, progress: Callable[[], None] | None = None
) -> bytes:
    """The whole body, or BodyTooLarge past MAX_RESPONSE_BYTES (never read past the cap).

    ``progress`` is called as each piece of a long or unsized body arrives (the read
    timeout counts from the last one); a short sized body is read in one go.
    """
    length = response.content_length
    if length is not None:
        if length > MAX_RESPONSE_BYTES:
            raise BodyTooLarge(response.status)
        if length <= ONE_READ_BYTES or progress is None:
            return await response.read()
    chunks = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise BodyTooLarge(response.status)
        chunks.append(chunk)
        if progress is not None:
            progress()
    return b"".join(chunks)


_BY_CODE: dict[int, type[APIError]] = {
    400001: InvalidRequestError,
    400002: InsufficientBalanceError,
    400004: AuthenticationError,
    401001: AuthenticationError,
    403001: PermissionDeniedError,
    404001: NotFoundError,
    422001: InvalidRequestError,
    429001: RateLimitedError,
    500001: ServerError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: InvalidRequestError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitedError,
}

# A 404 means different things by call: a request id the service does not know (status,
# result, cancel), or a model id or route it does not know (submit, catalog).
_NOT_FOUND_REQUEST = "unknown or expired request id"
_NOT_FOUND_MODEL = "unknown model id or route"


def error_for_response(
    *,
    status: int,
    error_code: int | None,
    message: str | None,
    detail: Any = None,
    request_id: str | None = None,
    model_id: str | None = None,
    method: str | None = None,
    path: str | None = None,
    retry_after: float | None = None,
) -> APIError:
    """The typed error for an answer: by RunComfy ``error_code`` first, then by HTTP status.

    The error code wins because RunComfy sometimes answers 200 (or a generic 400) with a
    specific code in the body.
    """
    cls: type[APIError] | None = _BY_CODE.get(error_code) if error_code is not None else None
    if cls is None and error_code is not None:
        # Unknown codes follow the HTTP-like convention of their first three digits.
        cls = _BY_STATUS.get(error_code // 1000) or (
            ServerError if 500 <= error_code // 1000 < 600 else None
        )
    if cls is None:
        cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 or status < 400 else InvalidRequestError
    text = message or _default_message(cls, status)
    if cls is NotFoundError:
        hint = _NOT_FOUND_REQUEST if request_id is not None else _NOT_FOUND_MODEL
        if hint not in text.lower():
            text = f"{text} ({hint})"
    kwargs: dict[str, Any] = {
        "status": status,
        "error_code": error_code,
        "detail": detail,
        "request_id": request_id,
        "model_id": model_id,
        "method": method,
        "path": path,
    }
    if cls is RateLimitedError:
        return RateLimitedError(text, retry_after=retry_after, **kwargs)
    return cls(text, **kwargs)


def _default_message(cls: type[APIError], status: int) -> str:
    return {
        AuthenticationError: (
            "authentication failed: the token is missing, wrong, expired or revoked"
        ),
        PermissionDeniedError: "the request belongs to another user",
        NotFoundError: "not found",
        InvalidRequestError: "the request was refused as invalid",
        InsufficientBalanceError: "insufficient balance",
        RateLimitedError: "rate limited",
        ServerError: "server error",
    }.get(cls, f"unexpected HTTP status {status}")
