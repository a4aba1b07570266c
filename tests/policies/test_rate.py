"""The submit rate limiter, with an injected clock: exact waits, cuts and recovery."""

from __future__ import annotations

import math

import pytest

from runcomfy_async import ConfigurationError
from runcomfy_async.policies.rate import AdaptiveRate, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_gives_a_burst_then_spaces_tokens_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    # Reservations queue up in order, each half a second further out.
    assert [bucket.reserve() for _ in range(3)] == [0.5, 1.0, 1.5]


def test_bucket_refills_with_time_up_to_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock)
    bucket.reserve()
    bucket.reserve()
    clock.now += 10
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 1.0]


def test_unlimited_bucket_never_waits() -> None:
    bucket = TokenBucket(rate=math.inf, burst=1, clock=Clock())
    assert all(bucket.reserve() == 0.0 for _ in range(1000))


@pytest.mark.parametrize("rate", [0, -1, float("nan")])
def test_bucket_refuses_nonsense_rates(rate: float) -> None:
    with pytest.raises(ConfigurationError, match="rate"):
        TokenBucket(rate=rate, burst=1, clock=Clock())


def test_first_429_cuts_to_a_fraction_of_the_measured_rate() -> None:
    clock = Clock()
    rate = AdaptiveRate(TokenBucket(rate=math.inf, burst=10, clock=clock))
    for _ in range(100):  # 100 successes over one second: 100/s achieved
        clock.now += 0.01
        rate.on_success()
    rate.on_rate_limited()
    assert rate.rate == pytest.approx(70.0, rel=0.02)  # x0.7


def test_429_before_any_success_cuts_nothing() -> None:
    rate = AdaptiveRate(TokenBucket(rate=math.inf, burst=10, clock=Clock()))
    rate.on_rate_limited()
    assert rate.rate == math.inf
    assert rate.cuts == 0


def test_429s_within_the_cut_window_cut_once() -> None:
    clock = Clock()
    rate = AdaptiveRate(TokenBucket(rate=40.0, burst=10, clock=clock), cut_window=1.0)
    rate.on_rate_limited()
    rate.on_rate_limited()
    clock.now += 0.5
    rate.on_rate_limited()
    assert rate.rate == pytest.approx(28.0)
    assert rate.cuts == 1
    clock.now += 0.6
    rate.on_rate_limited()
    assert rate.rate == pytest.approx(19.6)
    assert rate.cuts == 2


def test_a_cut_drains_saved_tokens_so_no_burst_follows() -> None:
    clock = Clock()
    rate = AdaptiveRate(TokenBucket(rate=10.0, burst=50, clock=clock))
    rate.on_rate_limited()
    assert rate.reserve() > 0


def test_rate_never_drops_below_the_floor_or_a_quarter_of_the_peak() -> None:
    clock = Clock()
    rate = AdaptiveRate(TokenBucket(rate=math.inf, burst=10, clock=clock), min_rate=0.5)
    for _ in range(200):  # 100/s for two seconds sets the peak
        clock.now += 0.01
        rate.on_success()
    for _ in range(50):
        clock.now += 1.1
        rate.on_rate_limited()
    assert rate.rate == pytest.approx(25.0, rel=0.05)  # a quarter of the 100/s peak


def test_rate_grows_back_after_successes_and_stops_at_the_users_rate() -> None:
    clock = Clock()
    rate = AdaptiveRate(TokenBucket(rate=10.0, burst=10, clock=clock), max_rate=10.0,
                        recovery_after=10, recovery_step=1.25)
    rate.on_rate_limited()
    assert rate.rate == pytest.approx(7.0)
    for _ in range(10):
        clock.now += 0.01
        rate.on_success()
    assert rate.rate == pytest.approx(8.75)
    for _ in range(100):
        clock.now += 0.01
        rate.on_success()
    assert rate.rate == 10.0


def test_a_quiet_window_grows_the_rate_even_without_many_successes() -> None:
    clock = Clock()
    rate = AdaptiveRate(TokenBucket(rate=4.0, burst=1, clock=clock), recovery_after=1000,
                        cut_window=1.0)
    rate.on_rate_limited()
    clock.now += 2.0
    rate.on_success()
    assert rate.rate == pytest.approx(2.8 * 1.25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"backoff_factor": 1.5}, "backoff_factor"), ({"recovery_step": 0.9}, "recovery_step")],
)
def test_adaptive_rate_refuses_nonsense(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AdaptiveRate(TokenBucket(rate=1.0, burst=1, clock=Clock()), **kwargs)  # type: ignore[arg-type]
