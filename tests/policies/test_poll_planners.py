"""Poll planners: exact delays for fixed and backoff schedules, and what the adaptive one learns."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from runcomfy_async import (
    AdaptivePoll,
    BackoffPoll,
    ConfigurationError,
    FixedIntervalPoll,
    PollSchedule,
)


def test_poll_schedule_grows_geometrically_to_its_cap() -> None:
    schedule = PollSchedule(first_delay=1.0, growth=2.0, max_delay=5.0, jitter=0.0)
    assert [schedule.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_poll_schedule_jitter_is_bounded_and_uses_the_random_source() -> None:
    schedule = PollSchedule(first_delay=1.0, growth=1.0, max_delay=1.0, jitter=0.1)
    assert schedule.delay(0, lambda: 0.0) == pytest.approx(0.9)
    assert schedule.delay(0, lambda: 1.0) == pytest.approx(1.1)


@pytest.mark.parametrize(
    "kwargs", [{"first_delay": -1}, {"growth": 0.5}, {"max_delay": 0}, {"jitter": 2}]
)
def test_poll_schedule_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        PollSchedule(**kwargs)  # type: ignore[arg-type]


def test_fixed_interval_polls_every_interval() -> None:
    fixed = FixedIntervalPoll(2.0)
    assert fixed.next_poll_at("m/x", 0.0, 0) == 2.0
    assert fixed.next_poll_at("m/x", 2.01, 1) == 4.01
    assert FixedIntervalPoll(2.0, first_at_once=True).next_poll_at("m/x", 0.0, 0) == 0.0


def test_backoff_poll_follows_its_schedule() -> None:
    backoff = BackoffPoll(PollSchedule(first_delay=0.5, growth=2, max_delay=10, jitter=0))
    assert backoff.next_poll_at("m/x", 3.0, 2) == 5.0


def test_adaptive_poll_backs_off_while_it_knows_nothing() -> None:
    planner = AdaptivePoll(cold=PollSchedule(first_delay=0.25, growth=2, max_delay=4, jitter=0))
    assert planner.next_poll_at("m/x", 0.0, 0) == 0.25
    assert planner.next_poll_at("m/x", 1.0, 3) == 3.0
    assert planner.schedule_for("m/x") is None


def _lognormal(n: int, median: float, sigma: float, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [median * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


def _replay(planner: AdaptivePoll, durations: list[float]) -> tuple[float, float]:
    """Mean polls per job and mean lag when each duration is polled by the planner."""
    polls, lags = [], []
    for d in durations:
        age, n = 0.0, 0
        while age < d:
            age = planner.next_poll_at("m/x", age, n)
            n += 1
        polls.append(n)
        lags.append(age - d)
    return statistics.fmean(polls), statistics.fmean(lags)


def test_adaptive_poll_meets_its_lag_target_on_what_it_learned() -> None:
    planner = AdaptivePoll(target_lag_fraction=0.03, refit_interval=0.0)
    learned = _lognormal(256, median=8.0, sigma=0.6)
    for d in learned:
        planner.observe("m/x", d)
    _, lag = _replay(planner, _lognormal(2000, median=8.0, sigma=0.6, seed=2))
    assert lag / statistics.fmean(learned) == pytest.approx(0.03, rel=0.25)


def test_adaptive_poll_does_not_poll_before_completions_are_likely() -> None:
    planner = AdaptivePoll(refit_interval=0.0)
    for d in _lognormal(256, median=8.0, sigma=0.3):
        planner.observe("m/x", d)
    schedule = planner.schedule_for("m/x")
    assert schedule is not None
    # With durations of 8 s +- 30 %, polling in the first two seconds is wasted.
    assert schedule[0] > 2.0


def test_adaptive_poll_beats_a_fixed_interval_of_equal_lag_on_requests() -> None:
    durations = _lognormal(2000, median=8.0, sigma=0.6, seed=3)
    planner = AdaptivePoll(refit_interval=0.0)
    for d in _lognormal(256, median=8.0, sigma=0.6, seed=4):
        planner.observe("m/x", d)
    adaptive_polls, adaptive_lag = _replay(planner, durations)
    # A fixed interval has mean lag interval/2: the same lag as ours.
    fixed = FixedIntervalPoll(2 * adaptive_lag)
    fixed_polls = statistics.fmean(math.ceil(d / fixed.interval) for d in durations)
    assert adaptive_polls < fixed_polls


def test_adaptive_poll_learns_each_model_separately() -> None:
    planner = AdaptivePoll(refit_interval=0.0)
    for d in _lognormal(64, median=1.0, sigma=0.2):
        planner.observe("fast/model", d)
    for d in _lognormal(64, median=60.0, sigma=0.2):
        planner.observe("slow/model", d)
    assert planner.next_poll_at("fast/model", 0.0, 0) < 1.0
    assert planner.next_poll_at("slow/model", 0.0, 0) >= 10.0


def test_adaptive_poll_refits_at_most_once_per_interval() -> None:
    now = [0.0]
    planner = AdaptivePoll(refit_interval=10.0, refit_every=1, clock=lambda: now[0])
    for d in _lognormal(16, median=1.0, sigma=0.2):
        planner.observe("m/x", d)
    first = planner.schedule_for("m/x")
    for d in _lognormal(16, median=30.0, sigma=0.2, seed=9):
        planner.observe("m/x", d)
    assert planner.schedule_for("m/x") is first
    now[0] = 11.0
    assert planner.schedule_for("m/x") is not first


def test_adaptive_poll_ignores_nonsense_durations() -> None:
    planner = AdaptivePoll()
    for d in (-1.0, float("nan"), float("inf")):
        planner.observe("m/x", d)
    assert planner.schedule_for("m/x") is None


def test_tail_polls_back_off_past_the_learned_horizon() -> None:
    planner = AdaptivePoll(refit_interval=0.0, max_interval=15.0)
    for d in _lognormal(64, median=1.0, sigma=0.1):
        planner.observe("m/x", d)
    assert planner.next_poll_at("m/x", 100.0, 50) == pytest.approx(115.0)
