"""runcomfy-async: an asyncio-first client for the RunComfy Model API, with batches.

The public surface is what this module exports; everything in ``_private`` modules may
change without notice.
"""

from ._version import __version__
from .batch import (
    Batch,
    BatchEvent,
    BatchProgress,
    CancelReport,
    Deadlines,
    Downloads,
    JobCompleted,
    JobStateChanged,
    JobSubmitted,
    Limits,
    MapOptions,
    Outcome,
    OutcomeState,
    RateChanged,
    Resubmit,
    Timings,
)
from .client import AsyncRunComfy, RunComfy, resolve_base_url, resolve_token
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
from .core._events import RetryEvent
from .core._identity import input_fingerprint
from .core._inputs import ModelInput
from .core._job_errors import (
    BatchAbortedError,
    JobCancelledError,
    JobError,
    JobFailedError,
    SubmitOutcomeUnknownError,
    WaitTimeoutError,
)
from .core._lifecycle import InputState
from .core._wire import CancelAnswer, CancelOutcome, Job, JobResult, JobState, JobStatus, ModelInfo
from .http._timeouts import Timeouts
from .policies import PollSchedule, RetryPolicy
from .policies.adaptive_poll import AdaptivePoll, BackoffPoll, FixedIntervalPoll, PollPlanner

__all__ = [
    "APIError",
    "AdaptivePoll",
    "AsyncRunComfy",
    "AuthenticationError",
    "BackoffPoll",
    "Batch",
    "BatchAbortedError",
    "BatchEvent",
    "BatchProgress",
    "CancelAnswer",
    "CancelOutcome",
    "CancelReport",
    "ConfigurationError",
    "ConnectionFailedError",
    "Deadlines",
    "DownloadError",
    "Downloads",
    "FixedIntervalPoll",
    "InputProblem",
    "InputState",
    "InsufficientBalanceError",
    "InvalidInputError",
    "InvalidRequestError",
    "Job",
    "JobCancelledError",
    "JobCompleted",
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
    "RateChanged",
    "RateLimitedError",
    "RequestTimeoutError",
    "Resubmit",
    "RetryEvent",
    "RetryPolicy",
    "RunComfy",
    "RunComfyError",
    "ServerError",
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
