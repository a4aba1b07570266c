"""runcomfy-async: an asyncio-first client for the RunComfy Model API, with batches.

The public surface is what this module exports; everything in ``_private`` modules may
change without notice.
"""

from ._client import AsyncRunComfy, resolve_base_url, resolve_token
from ._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    InputProblem,
    InsufficientBalanceError,
    InvalidInputError,
    InvalidRequestError,
    JobCancelledError,
    JobError,
    JobFailedError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    RunComfyError,
    ServerError,
    SubmitOutcomeUnknownError,
    TransportError,
    WaitTimeoutError,
)
from ._events import RetryEvent
from ._inputs import ModelInput
from ._version import __version__
from ._wire import (
    CancelAnswer,
    CancelOutcome,
    Job,
    JobResult,
    JobState,
    JobStatus,
    ModelInfo,
    input_fingerprint,
)
from .policies import PollSchedule, RetryPolicy

__all__ = [
    "APIError",
    "AsyncRunComfy",
    "AuthenticationError",
    "CancelAnswer",
    "CancelOutcome",
    "ConfigurationError",
    "ConnectionFailedError",
    "InputProblem",
    "InsufficientBalanceError",
    "InvalidInputError",
    "InvalidRequestError",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobResult",
    "JobState",
    "JobStatus",
    "MalformedResponseError",
    "ModelInfo",
    "ModelInput",
    "NotFoundError",
    "PermissionDeniedError",
    "PollSchedule",
    "RateLimitedError",
    "RequestTimeoutError",
    "RetryEvent",
    "RetryPolicy",
    "RunComfyError",
    "ServerError",
    "SubmitOutcomeUnknownError",
    "TransportError",
    "WaitTimeoutError",
    "__version__",
    "input_fingerprint",
    "resolve_base_url",
    "resolve_token",
]
