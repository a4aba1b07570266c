"""The retry policy's decisions, as a table: what is retried, when, and what is not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from runcomfy_async import ConfigurationError, RetryPolicy
from runcomfy_async.policies import Attempt, FailureKind, parse_retry_after

K = FailureKind


@pytest.mark.parametrize(
    ("kind", "is_submit", "retry", "unknown"),
    [
        (K.NOT_SENT, True, True, False),
        (K.RATE_LIMITED, True, True, False),
        (K.UNAVAILABLE, True, True, False),
        (K.REQUEST_TIMEOUT, True, True, False),
        (K.MAYBE_SENT, True, False, True),
        (K.SERVER_ERROR, True, False, True),
        (K.CLIENT_ERROR, True, False, False),
        (K.NOT_SENT, False, True, False),
        (K.MAYBE_SENT, False, True, False),
        (K.SERVER_ERROR, False, True, False),
        (K.CLIENT_ERROR, False, False, False),
    ],
)
def test_what_is_retried(kind: FailureKind, is_submit: bool, retry: bool, unknown: bool) -> None:
    decision = RetryPolicy().decide(
        Attempt(number=1, elapsed=0.0, kind=kind, is_submit=is_submit), lambda: 0.5
    )
    assert (decision.retry, decision.outcome_unknown) == (retry, unknown)


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap=10)
    ok = policy.decide(Attempt(number=1, elapsed=0, kind=K.RATE_LIMITED, retry_after=7))
    too_long = policy.decide(Attempt(number=1, elapsed=0, kind=K.RATE_LIMITED, retry_after=11))
    assert (ok.retry, ok.delay) == (True, 7)
    assert not too_long.retry
    assert "cap" in too_long.reason


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"initial_delay": 0}, {"max_delay": float("inf")},
     {"max_elapsed": -1}, {"multiplier": float("nan")}],
)
def test_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 1.5 ", 1.5),
        ("Sat, 21 Nov 2026 12:00:30 GMT", 30.0),
        ("Sat, 21 Nov 2026 11:00:00 GMT", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("-5", None),
        ("inf", None),
        ("nan", None),
        ("1e400", None),
    ],
)
def test_retry_after_forms(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_http_date_is_relative_to_now() -> None:
    later = NOW + timedelta(seconds=90)
    header = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(header, now=NOW) == 90.0
