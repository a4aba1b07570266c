"""Sans-IO policies: decisions and delays, with no I/O and an injectable clock and random source.

The I/O shells (transport, client, batch scheduler) ask these objects *what* to do and *how
long* to wait; they never decide on their own. That keeps every delay exactly testable.
"""

from .poll import PollSchedule
from .retry import (
    Attempt,
    FailureKind,
    RetryDecision,
    RetryPolicy,
    SubmitVerdict,
    submit_verdict,
)
from .retry_after import parse_retry_after

__all__ = [
    "Attempt",
    "FailureKind",
    "PollSchedule",
    "RetryDecision",
    "RetryPolicy",
    "SubmitVerdict",
    "parse_retry_after",
    "submit_verdict",
]
