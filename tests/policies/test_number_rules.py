"""Every number a policy, the client or the downloader takes is checked when it is given, the
same way: a ConfigurationError (a ValueError) that names the field and what is allowed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from runcomfy_async import AdaptivePoll, AsyncRunComfy, ConfigurationError, PollSchedule
from runcomfy_async.policies.adaptive_poll import FixedIntervalPoll
from runcomfy_async.policies.rate import AdaptiveRate, TokenBucket
from runcomfy_async.policies.retry import RetryPolicy
from runcomfy_async.store.downloads import Downloader

NOT_A_NUMBER = "x"


def _bucket() -> TokenBucket:
    return TokenBucket(rate=1.0, burst=1, clock=lambda: 0.0)


# (what is built, the field, a value the field refuses, words of what is allowed)
CASES: list[tuple[Any, str, object, str]] = [
    (PollSchedule, "first_delay", -1.0, ">= 0"),
    (PollSchedule, "growth", 0.5, ">= 1"),
    (PollSchedule, "growth", math.inf, ">= 1"),
    (PollSchedule, "max_delay", 0.0, "> 0"),
    (PollSchedule, "jitter", 2.0, "between 0 and 1"),
    (FixedIntervalPoll, "interval", 0.0, "> 0"),
    (AdaptivePoll, "target_lag_fraction", 0.0, "> 0"),
    (AdaptivePoll, "min_interval", -1.0, "> 0"),
    (AdaptivePoll, "max_interval", math.nan, "> 0"),
    (AdaptivePoll, "window", NOT_A_NUMBER, "integer >= 1"),
    (AdaptivePoll, "window", 0, "integer >= 1"),
    (AdaptivePoll, "min_samples", 1, "integer >= 2"),
    (AdaptivePoll, "min_samples", 8.0, "integer >= 2"),
    (AdaptivePoll, "refit_every", 0, "integer >= 1"),
    (AdaptivePoll, "refit_interval", -0.5, ">= 0"),
    (AdaptivePoll, "max_share_per_poll", 1.5, "between 0 and 1"),
    (TokenBucket, "rate", 0.0, "> 0, or math.inf"),
    (TokenBucket, "burst", True, "integer >= 1"),
    (AdaptiveRate, "max_rate", -1.0, "> 0, or math.inf"),
    (AdaptiveRate, "min_rate", 0.0, "> 0"),
    (AdaptiveRate, "backoff_factor", 1.5, "between 0 and 1, exclusive"),
    (AdaptiveRate, "backoff_factor", 1.0, "between 0 and 1, exclusive"),
    (AdaptiveRate, "recovery_step", 0.9, "> 1"),
    (AdaptiveRate, "recovery_step", 1.0, "> 1"),
    (AdaptiveRate, "recovery_after", 0, "integer >= 1"),
    (AdaptiveRate, "cut_window", NOT_A_NUMBER, "> 0"),
    (RetryPolicy, "max_attempts", 0, "integer >= 1"),
    (RetryPolicy, "initial_delay", 0.0, "> 0"),
    (RetryPolicy, "multiplier", math.nan, "> 0"),
    (RetryPolicy, "max_delay", math.inf, "> 0"),
    (RetryPolicy, "max_elapsed", -1.0, ">= 0"),
]


def _build(kind: Any, field: str, value: Any) -> object:
    if kind is TokenBucket:
        settings: dict[str, Any] = {"rate": 1.0, "burst": 1, "clock": lambda: 0.0}
        settings[field] = value
        return TokenBucket(**settings)
    if kind is AdaptiveRate:
        return AdaptiveRate(_bucket(), **{field: value})
    if kind is FixedIntervalPoll:
        return FixedIntervalPoll(value)
    return kind(**{field: value})


@pytest.mark.parametrize(
    ("kind", "field", "value", "allowed"),
    CASES,
    ids=[f"{kind.__name__}.{field}={value!r}" for kind, field, value, _ in CASES],
)
def test_a_policy_refuses_a_nonsense_number_by_name(
    kind: Any, field: str, value: object, allowed: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{field} must be .*{allowed}.*got") as caught:
        _build(kind, field, value)
    assert repr(value) in str(caught.value)


def test_the_adaptive_planner_refuses_a_window_smaller_than_its_samples() -> None:
    with pytest.raises(ConfigurationError, match=r"^min_samples must be <= window \(4\)"):
        AdaptivePoll(window=4, min_samples=5)


def test_the_adaptive_planner_refuses_intervals_the_wrong_way_round() -> None:
    with pytest.raises(ConfigurationError, match=r"^min_interval must be <= max_interval"):
        AdaptivePoll(min_interval=2.0, max_interval=1.0)


def test_a_bucket_refuses_a_nonsense_rate_change_by_name() -> None:
    with pytest.raises(ConfigurationError, match=r"^rate must be .*got -1"):
        _bucket().set_rate(-1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_connections", 0), ("max_connections_per_host", 1.5), ("max_connections", True)],
)
def test_the_client_refuses_a_nonsense_connection_count_by_name(field: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{field} must be an integer >= 1, got"):
        AsyncRunComfy("token", "http://127.0.0.1:9", allow_insecure_http=True, **{field: value})


@pytest.mark.parametrize("timeout", [0, -1.0, math.inf, "10", True])
async def test_a_wait_refuses_a_nonsense_timeout_by_name(timeout: object) -> None:
    async with AsyncRunComfy("token", "http://127.0.0.1:9", allow_insecure_http=True) as client:
        with pytest.raises(ConfigurationError, match=r"^timeout must be a number of seconds > 0"):
            await client.wait("a-request-id", timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("max_bytes", 0, "an integer >= 1"),
        ("concurrency", 2.0, "an integer >= 1"),
        ("max_attempts", None, "an integer >= 1"),
        ("retry_initial_delay", -1.0, "a finite number >= 0"),
        ("retry_max_delay", math.inf, "a finite number >= 0.5"),
        ("retry_max_delay", 0.1, "a finite number >= 0.5"),
    ],
)
def test_the_downloader_refuses_a_nonsense_setting_by_name(
    tmp_path: Path, field: str, value: object, allowed: str
) -> None:
    settings: dict[str, Any] = {"retry_initial_delay": 0.5, field: value}
    with pytest.raises(ConfigurationError, match=rf"^{field} must be {allowed}, got"):
        Downloader(tmp_path, **settings)
