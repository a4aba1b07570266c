"""The one exception hierarchy of runcomfy-async.

Everything the library raises on purpose derives from :class:`RunComfyError`::

    RunComfyError
    ├── ConfigurationError           no token, a refused base URL, nonsense settings
    ├── InvalidInputError            client-side validation, before anything is sent
    ├── APIError                     the server answered, and the answer is an error
    │   ├── AuthenticationError      401, 401001, 400004 (token missing/expired/revoked)
    │   ├── PermissionDeniedError    403, 403001 (the request belongs to another user)
    │   ├── NotFoundError            404, 404001 (unknown or expired request id)
    │   ├── InvalidRequestError      400, 413, 422, 400001 (unknown model), 422001
    │   ├── InsufficientBalanceError 402, 400002
    │   ├── RateLimitedError         429 (carries ``retry_after``)
    │   ├── ServerError              5xx, 500001
    │   └── MalformedResponseError   a body that is not JSON, or JSON of the wrong shape
    ├── TransportError               no usable answer at all
    │   ├── ConnectionFailedError    refused, reset, DNS, TLS
    │   └── RequestTimeoutError      connect or read timeout
    ├── SubmitOutcomeUnknownError    a submit that may or may not have created a paid job
    ├── JournalError                 a journal that cannot be used as asked
    ├── DownloadError                an output file refused or not downloadable
    ├── BudgetExceededError          an input not sent: it would pass the batch's ``max_spend``
    ├── BatchAbortedError            ``fail_fast``: the first outcome that was not a success
    └── JobError                     the job itself ended badly
        ├── JobFailedError           the job ran and failed (carries the result)
        ├── JobCancelledError        the job was cancelled
        └── WaitTimeoutError         we stopped waiting (carries the last known state)

Why a submit has its own "outcome unknown" error: RunComfy has no idempotency key, so a
submit that may have reached the server cannot be retried without risking a second paid
job. The error carries the model id and a fingerprint of the input so that the caller (or
the journal) can find the job later instead of paying twice.

No exception text ever contains the API token: messages are built only from status codes,
the server's error codes and messages, request ids and model ids.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from .._constants import ERROR_DETAIL_CHARS, ERROR_DETAILS_SHOWN
from ._text import quote_body, redact_url, short_repr

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionFailedError",
    "DownloadError",
    "InputProblem",
    "InsufficientBalanceError",
    "InvalidInputError",
    "InvalidRequestError",
    "JournalError",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RunComfyError",
    "ServerError",
    "TransportError",
    "rebuild",
]


class RunComfyError(Exception):
    """Base class of every error runcomfy-async raises on purpose."""


class ConfigurationError(RunComfyError, ValueError):
    """The client cannot be set up as asked: no token, a refused base URL, bad settings."""


class InputProblem:
    """One thing wrong with an input: where, what was received, what is allowed."""

    __slots__ = ("allowed", "path", "received")

    def __init__(self, path: str, received: object, allowed: str) -> None:
        self.path = path
        self.received = received
        self.allowed = allowed

    def __repr__(self) -> str:
        return (
            f"InputProblem(path={self.path!r}, received={short_repr(self.received)}, "
            f"allowed={self.allowed!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InputProblem):
            return NotImplemented
        return (self.path, self.allowed) == (other.path, other.allowed) and (
            short_repr(self.received) == short_repr(other.received)
        )

    def __hash__(self) -> int:
        return hash((self.path, self.allowed))

    def __str__(self) -> str:
        return f"{self.path}: got {short_repr(self.received)}; {self.allowed}"


class InvalidInputError(RunComfyError, ValueError):
    """An input was refused on this side, before any request was sent.

    Lists every problem at once, so that a batch of thousands can be fixed in one pass.

    Attributes:
        problems: each problem, with its field path, the value received and what is allowed.
        model_id: the model the input was meant for, when known.
    """

    def __init__(self, problems: Sequence[InputProblem], *, model_id: str | None = None) -> None:
        self.problems: tuple[InputProblem, ...] = tuple(problems)
        self.model_id = model_id
        super().__init__(self._message())

    def _message(self) -> str:
        where = f" for {self.model_id}" if self.model_id else ""
        count = len(self.problems)
        head = f"invalid input{where}: {count} problem{'s' if count != 1 else ''}"
        return head + "".join(f"\n  - {p}" for p in self.problems)

    @property
    def fields(self) -> tuple[str, ...]:
        """The field paths named by the problems, in order."""
        return tuple(p.path for p in self.problems)


class APIError(RunComfyError):
    """The server answered, and the answer is an error.

    Attributes:
        status: the HTTP status (200 when an error body came with a 200).
        error_code: RunComfy's numeric ``error_code``, when the body had one.
        message: the server's ``error_message``, or a description of what went wrong.
        detail: the server's ``detail`` (a list of problems for validation errors), raw.
        request_id: the job's request id, when the call concerned one.
        model_id: the model id, when the call concerned one.
        method, path: the request that was answered (path only; never the query or
            headers). Named in the message when no request or model id says what the call
            was about (a catalog listing).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: int | None = None,
        detail: Any = None,
        request_id: str | None = None,
        model_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.error_code = error_code
        self.detail = detail
        self.request_id = request_id
        self.model_id = model_id
        self.method = method
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.error_code is not None:
            parts.append(f"error_code {self.error_code}")
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        context = []
        if self.model_id:
            context.append(f"model_id={self.model_id}")
        if self.request_id:
            context.append(f"request_id={self.request_id}")
        if not context and self.method and self.path:
            context.append(f"{self.method} {self.path}")
        if context:
            text += f" ({', '.join(context)})"
        details = _describe_detail(self.detail)
        if details:
            text += "".join(f"\n  - {d}" for d in details)
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors need help to survive pickling (multiprocessing, logging).
        return (rebuild, (type(self), self.__dict__.copy()))


def rebuild(cls: type[Exception], state: dict[str, Any]) -> Exception:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


def _describe_detail(detail: Any) -> list[str]:
    """Readable lines for a validation ``detail`` list (FastAPI style ``{loc, msg}`` or text)."""
    if not isinstance(detail, list):
        return []
    lines = []
    for item in detail[:ERROR_DETAILS_SHOWN]:
        if isinstance(item, Mapping):
            loc = item.get("loc")
            where = ".".join(str(p) for p in loc) if isinstance(loc, list) else item.get("field")
            msg = item.get("msg") or item.get("message") or item.get("error") or ""
            lines.append(f"{where}: {msg}" if where else str(msg))
        else:
            lines.append(quote_body(str(item), ERROR_DETAIL_CHARS))
    return lines


class AuthenticationError(APIError):
    """The token is missing, wrong, expired or revoked, or the account is inactive."""


class PermissionDeniedError(APIError):
    """The request belongs to another user (403001)."""


class NotFoundError(APIError):
    """Unknown or expired request id (404001). Records expire (outputs after about 7 days)."""


class InvalidRequestError(APIError):
    """The server refused the request as invalid (unknown model, input not matching schema)."""

    @property
    def fields(self) -> tuple[str, ...]:
        """Field paths named in ``detail``, when the server listed them."""
        out = []
        if isinstance(self.detail, list):
            for item in self.detail:
                if isinstance(item, Mapping) and isinstance(item.get("loc"), list):
                    out.append(".".join(str(p) for p in item["loc"]))
        return tuple(out)


class InsufficientBalanceError(APIError):
    """The account has too little balance for this job (400002, or HTTP 402)."""


class RateLimitedError(APIError):
    """The server said 429 and we did not (or could no longer) wait it out.

    Attributes:
        retry_after: seconds the server asked us to wait, when it said.
        gave_up: why the client stopped waiting (out of attempts, a Retry-After past the
            deadline...), when a retry policy decided; ``message`` stays the server's.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        self.gave_up: str | None = None
        super().__init__(message, **kwargs)

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        if self.gave_up:
            text += f" ({self.gave_up})"
        return text


class ServerError(APIError):
    """The server failed (5xx, or 500001 in a body)."""


class MalformedResponseError(APIError):
    """The answer could not be understood: not JSON, or JSON of an unexpected shape.

    The message quotes the start of the body, never more than a few hundred characters.
    """


class TransportError(RunComfyError):
    """No usable answer arrived: the connection failed or timed out.

    Attributes:
        method, path: the request that failed (path only; never the query or headers).
        request_id, model_id: what the request concerned, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> None:
        self.message = message
        self.method = method
        self.path = path
        self.request_id = request_id
        self.model_id = model_id
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        return f"{where}{self.message}"

    __reduce__ = APIError.__reduce__


class ConnectionFailedError(TransportError):
    """The connection was refused, reset, or could not be made (DNS, TLS)."""


class RequestTimeoutError(TransportError, TimeoutError):
    """A connect or read timeout."""


class JournalError(RunComfyError):
    """The journal cannot be used as asked.

    Raised for a file written by a newer version of the library, a file that is not a
    journal or is corrupt, a journal already open elsewhere, a closed journal, and for writes
    that would lose a paid job (a new intent while a job is in flight, a second request id).
    """


class DownloadError(RunComfyError):
    """An output file could not be downloaded, or its URL was refused.

    Attributes:
        url: the URL, without its query string, fragment or user info.
        reason: what went wrong, or which rule refused it.
        index: the input index the file belongs to, when known.
        status: the HTTP status of the last answer, when there was one.
    """

    def __init__(
        self, url: str, reason: str, *, index: int | None = None, status: int | None = None
    ) -> None:
        self.url = redact_url(url)
        self.reason = reason
        self.index = index
        self.status = status
        where = f" (input {index})" if index is not None else ""
        super().__init__(f"cannot download {self.url}{where}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments need help to survive pickling (multiprocessing, logging).
        rebuild = functools.partial(type(self), index=self.index, status=self.status)
        return (rebuild, (self.url, self.reason))
