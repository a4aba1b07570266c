"""runcomfy-async: an asyncio-first client for the RunComfy Model API, with batches.

The public surface is what this module exports; everything in ``_private`` modules may
change without notice.

Every public name is imported on first use (PEP 562): ``import runcomfy_async`` alone (which
the pytest plugin and ``runcomfy-async --version`` do) costs next to nothing, and
``from runcomfy_async import RunComfyError`` loads the errors, not the client and aiohttp.
A new public name goes in three places, which a test keeps in step: the imports for type
checkers, ``_HOMES`` (where it is imported from at run time) and ``__all__``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from ._version import __version__

if TYPE_CHECKING:
    from .batch import (
        Attach,
        Batch,
        BatchEvent,
        BatchProgress,
        Budget,
        CancelReport,
        Deadlines,
        Downloads,
        Event,
        JobCompleted,
        JobEnded,
        JobStateChanged,
        JobSubmitted,
        Limits,
        MapOptions,
        Outcome,
        OutcomeState,
        RateChanged,
        Resubmit,
        StopReason,
        Timings,
    )
    from .client import AsyncRunComfy, RunComfy, resolve_base_url, resolve_token
    from .core._cost import Estimate, EstimateLine
    from .core._errors import (
        APIError,
        AuthenticationError,
        ConfigurationError,
        ConnectionFailedError,
        DownloadError,
        InputProblem,
        InsufficientBalanceError,
        InvalidInputError,
        InvalidRequestError,
        JournalError,
        MalformedResponseError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitedError,
        RequestTimeoutError,
        RunComfyError,
        ServerError,
        TransportError,
    )
    from .core._events import Hook, RequestFinished, RetryEvent
    from .core._identity import input_fingerprint
    from .core._inputs import ModelInput
    from .core._job_errors import (
        BatchAbortedError,
        BudgetExceededError,
        JobCancelledError,
        JobError,
        JobFailedError,
        SubmitOutcomeUnknownError,
        WaitTimeoutError,
    )
    from .core._lifecycle import InputState
    from .core._wire import (
        CancelAnswer,
        CancelOutcome,
        Job,
        JobResult,
        JobState,
        JobStatus,
        ModelInfo,
        Price,
    )
    from .http._timeouts import Timeouts
    from .policies import PollSchedule, RetryPolicy
    from .policies.adaptive_poll import AdaptivePoll, BackoffPoll, FixedIntervalPoll, PollPlanner

# Each public name and the module it is imported from on first use.
_HOMES: Final = {
    "Attach": ".batch",
    "Batch": ".batch",
    "BatchEvent": ".batch",
    "BatchProgress": ".batch",
    "CancelReport": ".batch",
    "Deadlines": ".batch",
    "Downloads": ".batch",
    "JobCompleted": ".batch",
    "JobStateChanged": ".batch",
    "JobSubmitted": ".batch",
    "Limits": ".batch",
    "MapOptions": ".batch",
    "Outcome": ".batch",
    "OutcomeState": ".batch",
    "RateChanged": ".batch",
    "Resubmit": ".batch",
    "Timings": ".batch",
    "AsyncRunComfy": ".client",
    "RunComfy": ".client",
    "resolve_base_url": ".client",
    "resolve_token": ".client",
    "APIError": ".core._errors",
    "AuthenticationError": ".core._errors",
    "ConfigurationError": ".core._errors",
    "ConnectionFailedError": ".core._errors",
    "DownloadError": ".core._errors",
    "InputProblem": ".core._errors",
    "InsufficientBalanceError": ".core._errors",
    "InvalidInputError": ".core._errors",
    "InvalidRequestError": ".core._errors",
    "JournalError": ".core._errors",
    "MalformedResponseError": ".core._errors",
    "NotFoundError": ".core._errors",
    "PermissionDeniedError": ".core._errors",
    "RateLimitedError": ".core._errors",
    "RequestTimeoutError": ".core._errors",
    "RunComfyError": ".core._errors",
    "ServerError": ".core._errors",
    "TransportError": ".core._errors",
    "RetryEvent": ".core._events",
    "input_fingerprint": ".core._identity",
    "ModelInput": ".core._inputs",
    "BatchAbortedError": ".core._job_errors",
    "JobCancelledError": ".core._job_errors",
    "JobError": ".core._job_errors",
    "JobFailedError": ".core._job_errors",
    "SubmitOutcomeUnknownError": ".core._job_errors",
    "WaitTimeoutError": ".core._job_errors",
    "InputState": ".core._lifecycle",
    "CancelAnswer": ".core._wire",
    "CancelOutcome": ".core._wire",
    "Job": ".core._wire",
    "JobResult": ".core._wire",
    "JobState": ".core._wire",
    "JobStatus": ".core._wire",
    "ModelInfo": ".core._wire",
    "Timeouts": ".http._timeouts",
    "PollSchedule": ".policies",
    "RetryPolicy": ".policies",
    "AdaptivePoll": ".policies.adaptive_poll",
    "BackoffPoll": ".policies.adaptive_poll",
    "FixedIntervalPoll": ".policies.adaptive_poll",
    "PollPlanner": ".policies.adaptive_poll",
    "Budget": ".batch",
    "Event": ".batch",
    "JobEnded": ".batch",
    "StopReason": ".batch",
    "Estimate": ".core._cost",
    "EstimateLine": ".core._cost",
    "Hook": ".core._events",
    "RequestFinished": ".core._events",
    "BudgetExceededError": ".core._job_errors",
    "Price": ".core._wire",
}

__all__ = [
    "APIError",
    "AdaptivePoll",
    "AsyncRunComfy",
    "Attach",
    "AuthenticationError",
    "BackoffPoll",
    "Batch",
    "BatchAbortedError",
    "BatchEvent",
    "BatchProgress",
    "Budget",
    "BudgetExceededError",
    "CancelAnswer",
    "CancelOutcome",
    "CancelReport",
    "ConfigurationError",
    "ConnectionFailedError",
    "Deadlines",
    "DownloadError",
    "Downloads",
    "Estimate",
    "EstimateLine",
    "Event",
    "FixedIntervalPoll",
    "Hook",
    "InputProblem",
    "InputState",
    "InsufficientBalanceError",
    "InvalidInputError",
    "InvalidRequestError",
    "Job",
    "JobCancelledError",
    "JobCompleted",
    "JobEnded",
    "JobError",
    "JobFailedError",
    "JobResult",
    "JobState",
    "JobStateChanged",
    "JobStatus",
    "JobSubmitted",
    "JournalError",
    "Limits",
    "MalformedResponseError",
    "MapOptions",
    "ModelInfo",
    "ModelInput",
    "NotFoundError",
    "Outcome",
    "OutcomeState",
    "PermissionDeniedError",
    "PollPlanner",
    "PollSchedule",
    "Price",
    "RateChanged",
    "RateLimitedError",
    "RequestFinished",
    "RequestTimeoutError",
    "Resubmit",
    "RetryEvent",
    "RetryPolicy",
    "RunComfy",
    "RunComfyError",
    "ServerError",
    "StopReason",
    "SubmitOutcomeUnknownError",
    "Timeouts",
    "Timings",
    "TransportError",
    "WaitTimeoutError",
    "__version__",
    "input_fingerprint",
    "resolve_base_url",
    "resolve_token",
]


if not TYPE_CHECKING:
    # Hidden from type checkers, which would otherwise accept any name from this package.

    def __getattr__(name: str) -> Any:
        """Import a public name's module on first use (PEP 562), then keep the name here."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
