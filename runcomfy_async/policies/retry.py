"""When to retry a request, and how long to wait first.

Why the rules differ for submits: a submit (``POST /models/{id}``) that reached the server
is a paid job, and RunComfy has no idempotency key. So a submit is retried only when it
*certainly* did not arrive (the connection could not be made) or when the server declined
it without doing anything (429, 503). After anything ambiguous (a read timeout, a reset
after the body went out, 500/502/504, a 200 carrying a 5xx ``error_code``), retrying could
pay for the same job twice: the transport raises
:class:`~runcomfy_async.SubmitOutcomeUnknownError` instead.

GETs and cancels change nothing (a cancel of a cancelled job is a no-op), so they retry on
every transient failure: connection errors, timeouts, 408, 429, 5xx.

4xx answers other than 408 and 429 are never retried: they would fail the same way again.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

import attrs

from runcomfy_async._constants import (
    RETRY_AFTER_CAP_S,
    RETRY_INITIAL_DELAY_S,
    RETRY_MAX_ATTEMPTS,
    RETRY_MAX_DELAY_S,
    RETRY_MAX_ELAPSED_S,
    RETRY_MULTIPLIER,
)

from ..core._validate import finite_non_negative, finite_positive, positive_int

__all__ = [
    "Attempt",
    "FailureKind",
    "RetryDecision",
    "RetryPolicy",
    "SubmitVerdict",
    "submit_verdict",
]


class FailureKind(enum.Enum):
    """What went wrong with one attempt, as far as retrying is concerned."""

    NOT_SENT = "connection failed before the request was sent"
    """Connection refused, DNS failure, TLS failure, connect timeout: nothing arrived."""

    MAYBE_SENT = "no answer after the request was sent"
    """Read timeout, reset or disconnect after sending, truncated answer: it may have arrived."""

    RATE_LIMITED = "rate limited (429)"
    UNAVAILABLE = "service unavailable (503)"
    REQUEST_TIMEOUT = "request timeout (408)"
    SERVER_ERROR = "server error"
    """500, 502, 504 and other 5xx, or a body carrying a 5xx ``error_code``."""

    CLIENT_ERROR = "client error"
    """Any other 4xx: never retried."""


@attrs.frozen(kw_only=True)
class Attempt:
    """One failed attempt, described for :meth:`RetryPolicy.decide`.

    Args:
        number: 1 for the first attempt.
        elapsed: seconds since the first attempt started.
        kind: what went wrong.
        is_submit: True for a submit (not idempotent).
        retry_after: seconds the server asked us to wait (``Retry-After``), when it did.
        status: the HTTP status, when there was an answer.
    """

    number: int
    elapsed: float
    kind: FailureKind
    is_submit: bool = False
    retry_after: float | None = None
    status: int | None = None


@attrs.frozen(kw_only=True)
class RetryDecision:
    """What to do after a failed attempt.

    Attributes:
        retry: True to try again after ``delay`` seconds.
        delay: seconds to wait before the next attempt (0 when not retrying).
        outcome_unknown: True when a submit may have created a job: do not retry, report it.
        reason: one line saying why, for logs and hooks.
    """

    retry: bool
    delay: float = 0.0
    outcome_unknown: bool = False
    reason: str = ""


_SAFE_FOR_SUBMIT = frozenset(
    {
        FailureKind.NOT_SENT,
        FailureKind.RATE_LIMITED,
        FailureKind.UNAVAILABLE,
        FailureKind.REQUEST_TIMEOUT,
    }
)
_AMBIGUOUS_FOR_SUBMIT = frozenset({FailureKind.MAYBE_SENT, FailureKind.SERVER_ERROR})


class SubmitVerdict(enum.Enum):
    """What a failed submit attempt says about the job it was for."""

    NOT_CREATED = "not created"
    """It certainly did not create a job (never sent, or declined with 429/503/408): it may
    be tried again."""
    REFUSED = "refused"
    """The service refused it (4xx): no job, and trying again would fail the same way."""
    UNKNOWN = "unknown"
    """It may have created a paid job: never retried blindly."""


def submit_verdict(kind: FailureKind, *, accepted_unreadably: bool = False) -> SubmitVerdict:
    """The verdict on a failed submit attempt, from its failure kind.

    Args:
        kind: what went wrong.
        accepted_unreadably: the answer was a 2xx or 3xx that could not be read (no request
            id, not JSON, a redirect): the service said yes, or may have.
    """
    if accepted_unreadably:
        return SubmitVerdict.UNKNOWN
    if kind is FailureKind.CLIENT_ERROR:
        return SubmitVerdict.REFUSED
    if kind in _SAFE_FOR_SUBMIT:
        return SubmitVerdict.NOT_CREATED
    return SubmitVerdict.UNKNOWN


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped per delay, in attempts and in total time.

    Args:
        max_attempts: attempts in all, the first included (1 = never retry).
        initial_delay: the cap of the first backoff delay, in seconds.
        multiplier: how much the cap grows per attempt.
        max_delay: the largest delay between two attempts.
        max_elapsed: give up once this many seconds have passed since the first attempt.
        retry_after_cap: the longest ``Retry-After`` we sleep through; a longer one ends the
            retries with a :class:`~runcomfy_async.RateLimitedError` carrying ``retry_after``.
        honour_retry_after: when False, ``Retry-After`` is ignored and plain backoff is used
            (for comparison only; the default is what servers ask for).
    """

    max_attempts: int = attrs.field(default=RETRY_MAX_ATTEMPTS, validator=positive_int)
    initial_delay: float = attrs.field(default=RETRY_INITIAL_DELAY_S, validator=finite_positive)
    multiplier: float = attrs.field(default=RETRY_MULTIPLIER, validator=finite_positive)
    max_delay: float = attrs.field(default=RETRY_MAX_DELAY_S, validator=finite_positive)
    max_elapsed: float = attrs.field(default=RETRY_MAX_ELAPSED_S, validator=finite_non_negative)
    retry_after_cap: float = attrs.field(default=RETRY_AFTER_CAP_S, validator=finite_non_negative)
    honour_retry_after: bool = True

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    def backoff(self, attempt_number: int, rand: Callable[[], float] = random.random) -> float:
        """Full-jitter backoff after attempt ``attempt_number`` (1-based): uniform in [0, cap)."""
        exponent = min(max(attempt_number - 1, 0), 64)
        cap = min(self.max_delay, self.initial_delay * self.multiplier**exponent)
        return cap * rand()

    def decide(self, attempt: Attempt, rand: Callable[[], float] = random.random) -> RetryDecision:
        """Whether and when to try again after ``attempt`` failed.

        Args:
            attempt: the failed attempt.
            rand: a source of uniform floats in [0, 1); inject it for exact tests.
        """
        kind = attempt.kind
        if kind is FailureKind.CLIENT_ERROR:
            return RetryDecision(retry=False, reason=kind.value)
        if attempt.is_submit and kind in _AMBIGUOUS_FOR_SUBMIT:
            return RetryDecision(retry=False, outcome_unknown=True, reason=kind.value)
        if attempt.is_submit and kind not in _SAFE_FOR_SUBMIT:  # pragma: no cover - exhaustive
            return RetryDecision(retry=False, outcome_unknown=True, reason=kind.value)
        if attempt.number >= self.max_attempts:
            return RetryDecision(
                retry=False, reason=f"{kind.value}; gave up after {attempt.number} attempts"
            )
        if (
            self.honour_retry_after
            and attempt.retry_after is not None
            and kind in (FailureKind.RATE_LIMITED, FailureKind.UNAVAILABLE)
        ):
            if attempt.retry_after > self.retry_after_cap:
                return RetryDecision(
                    retry=False,
                    reason=f"{kind.value}; Retry-After {attempt.retry_after:g} s is over the "
                    f"{self.retry_after_cap:g} s cap",
                )
            delay = attempt.retry_after
            reason = f"{kind.value}, Retry-After {delay:g} s"
        else:
            delay = self.backoff(attempt.number, rand)
            reason = (
                kind.value if attempt.status is None else f"{kind.value} (HTTP {attempt.status})"
            )
        if attempt.elapsed + delay > self.max_elapsed:
            return RetryDecision(
                retry=False,
                reason=(
                    f"{kind.value}; the next attempt would pass the "
                    f"{self.max_elapsed:g} s limit"
                ),
            )
        return RetryDecision(retry=True, delay=delay, reason=reason)
