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
from typing import TYPE_CHECKING, Any

from yarl import URL

from .._constants import ERROR_BODY_QUOTE_CHARS

if TYPE_CHECKING:
    from ._wire import JobResult, JobState

__all__ = [
    "APIError",
    "AuthenticationError",
    "BatchAbortedError",
    "ConfigurationError",
    "ConnectionFailedError",
    "DownloadError",
    "InputProblem",
    "InsufficientBalanceError",
    "InvalidInputError",
    "InvalidRequestError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JournalError",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RunComfyError",
    "ServerError",
    "SubmitOutcomeUnknownError",
    "TransportError",
    "WaitTimeoutError",
    "error_json",
    "quote_body",
    "redact_url",
]


def quote_body(body: str | bytes | None, limit: int = ERROR_BODY_QUOTE_CHARS) -> str:
    """A body cut to ``limit`` characters, for error messages that must stay one line."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


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
            f"InputProblem(path={self.path!r}, received={_short(self.received)}, "
            f"allowed={self.allowed!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InputProblem):
            return NotImplemented
        return (self.path, self.allowed) == (other.path, other.allowed) and (
            _short(self.received) == _short(other.received)
        )

    def __hash__(self) -> int:
        return hash((self.path, self.allowed))

    def __str__(self) -> str:
        return f"{self.path}: got {_short(self.received)}; {self.allowed}"


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


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
    ) -> None:
        self.message = message
        self.status = status
        self.error_code = error_code
        self.detail = detail
        self.request_id = request_id
        self.model_id = model_id
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
        if context:
            text += f" ({', '.join(context)})"
        details = _describe_detail(self.detail)
        if details:
            text += "".join(f"\n  - {d}" for d in details)
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors need help to survive pickling (multiprocessing, logging).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[Exception], state: dict[str, Any]) -> Exception:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


def _describe_detail(detail: Any) -> list[str]:
    """Readable lines for a validation ``detail`` list (FastAPI style ``{loc, msg}`` or text)."""
    if not isinstance(detail, list):
        return []
    lines = []
    for item in detail[:50]:
        if isinstance(item, Mapping):
            loc = item.get("loc")
            where = ".".join(str(p) for p in loc) if isinstance(loc, list) else item.get("field")
            msg = item.get("msg") or item.get("message") or item.get("error") or ""
            lines.append(f"{where}: {msg}" if where else str(msg))
        else:
            lines.append(quote_body(str(item), 200))
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
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
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


class SubmitOutcomeUnknownError(RunComfyError):
    """A submit may have created a paid job, but no request id came back.

    Raised after a read timeout, a reset after the body was sent, or a 500/502/504 answer to
    a submit. The submit is *not* retried, because RunComfy has no idempotency key and a
    retry could pay for the same job twice.

    Attributes:
        model_id: the model the job was submitted to.
        fingerprint: sha256 of the model id and the canonical input JSON.
        cause: the failure that made the outcome unknown.
    """

    def __init__(self, *, model_id: str, fingerprint: str, cause: BaseException | str) -> None:
        self.model_id = model_id
        self.fingerprint = fingerprint
        self.cause = cause
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(
            f"submit to {model_id} may or may not have created a job (input fingerprint "
            f"{fingerprint[:16]}): {reason}. It was not retried, to avoid paying twice."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


class BatchAbortedError(RunComfyError):
    """A ``fail_fast`` batch stopped at an outcome that was not a success.

    Attributes:
        outcome: that outcome (its ``error`` says what went wrong).
    """

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        super().__init__(
            f"batch stopped (fail_fast): input {outcome.index} ended {outcome.state.value}"
            + (f": {outcome.error}" if outcome.error is not None else "")
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


class JournalError(RunComfyError):
    """The journal cannot be used as asked.

    Raised for a file written by a newer version of the library, a file that is not a
    journal or is corrupt, a journal already open elsewhere, a closed journal, and for writes
    that would lose a paid job (a new intent while a job is in flight, a second request id).
    """


def redact_url(url: str) -> str:
    """``url`` without query string, fragment or user info, fit for messages and logs.

    Args:
        url: any URL text, valid or not.
    """
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return url.split("?", 1)[0].split("#", 1)[0]


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


class JobError(RunComfyError):
    """The job itself ended badly, or we stopped waiting for it.

    Attributes:
        request_id: the job's request id.
    """

    def __init__(self, message: str, *, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


class JobFailedError(JobError):
    """The job ran and failed.

    Attributes:
        result: the job's final result.
        error: the server's raw error (a string, an object, or a list; its shape is undocumented).
    """

    def __init__(self, result: JobResult) -> None:
        self.result = result
        self.error = result.error
        super().__init__(
            f"job {result.request_id} failed: {quote_body(_error_text(result.error), 300)}",
            request_id=result.request_id,
        )


def _error_text(error: Any) -> str:
    if isinstance(error, str):
        return error
    if isinstance(error, Mapping):
        for key in ("error_message", "message", "error", "detail"):
            if isinstance(error.get(key), str):
                return str(error[key])
    if isinstance(error, list) and error and isinstance(error[0], Mapping):
        first = error[0]
        for key in ("error", "message", "error_message"):
            if isinstance(first.get(key), str):
                return str(first[key])
    return repr(error)


class JobCancelledError(JobError):
    """The job was cancelled (by us, or elsewhere)."""


class WaitTimeoutError(JobError, TimeoutError):
    """We stopped waiting for a job before it finished.

    Attributes:
        last_state: the last state we saw (None if we never got an answer).
        cancelled_remotely: True if the job was still queued and our cancel was accepted.
    """

    def __init__(
        self,
        *,
        request_id: str,
        timeout: float,
        last_state: JobState | None,
        cancelled_remotely: bool | None = None,
    ) -> None:
        self.timeout = timeout
        self.last_state = last_state
        self.cancelled_remotely = cancelled_remotely
        state = last_state.value if last_state is not None else "never answered"
        text = f"gave up waiting for job {request_id} after {timeout:g} s (last state: {state})"
        if cancelled_remotely is True:
            text += "; it was still queued and has been cancelled"
        elif cancelled_remotely is False:
            text += "; it could not be cancelled and may still run (and be billed)"
        super().__init__(text, request_id=request_id)


def error_json(error: BaseException | None) -> Any:
    """An error as JSON data, for the journal, the manifest and ``--json`` output.

    A failed job's error is the server's own (raw JSON); any other error is its type and
    message. Never holds the token: no message in this module contains it.
    """
    if error is None:
        return None
    if isinstance(error, JobFailedError):
        return error.error
    return {"type": type(error).__name__, "message": str(error)}
