"""Errors about a job's fate rather than about one request (part of the one hierarchy).

The hierarchy's tree, and why each branch exists, is in :mod:`._errors`; these are its
``SubmitOutcomeUnknownError``, ``BatchAbortedError`` and ``JobError`` branches: what a caller
learns about a paid job, each carrying what identifies that job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import RunComfyError, rebuild
from ._text import quote_body

if TYPE_CHECKING:
    from ._wire import JobResult, JobState

__all__ = [
    "BatchAbortedError",
    "BudgetExceededError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "SubmitOutcomeUnknownError",
    "WaitTimeoutError",
]


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
        return (rebuild, (type(self), self.__dict__.copy()))


class BudgetExceededError(RunComfyError):
    """An input was not sent: its job would have taken the batch past its spending cap.

    The batch stops submitting at the first such input (it lets the jobs in flight finish);
    the input ends ``over_budget``, and a resumed batch with a larger cap submits it.

    Attributes:
        max_spend: the cap, in USD.
        committed_usd: what was spent or held for jobs in flight when the input came up.
        job_usd: the input's own estimate.
    """

    def __init__(self, *, max_spend: float, committed_usd: float, job_usd: float) -> None:
        self.max_spend = max_spend
        self.committed_usd = committed_usd
        self.job_usd = job_usd
        super().__init__(
            f"not sent: its job (about ${job_usd:.4g}) would take the batch to "
            f"${committed_usd + job_usd:.4g}, past its budget of ${max_spend:.4g}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (rebuild, (type(self), self.__dict__.copy()))


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
        return (rebuild, (type(self), self.__dict__.copy()))


class JobError(RunComfyError):
    """The job itself ended badly, or we stopped waiting for it.

    Attributes:
        request_id: the job's request id.
    """

    def __init__(self, message: str, *, request_id: str) -> None:
        self.request_id = request_id
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (rebuild, (type(self), self.__dict__.copy()))


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
            f"job {result.request_id} failed: {quote_body(_error_text(result.error))}",
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
