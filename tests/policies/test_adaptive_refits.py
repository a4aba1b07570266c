"""The adaptive planner's refits and cold start: a refit's work is bounded whatever was
observed, and on fixed workloads in simulated time its decisions are at least as good as
those of the planner before refits were made cheap (whose figures are pinned below).

No wall-clock time anywhere: work is counted by the planner, time is the simulation's.
"""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from runcomfy_async import AdaptivePoll, PollSchedule
from runcomfy_async._constants import (
    ADAPTIVE_FIT_CANDIDATES,
    ADAPTIVE_GRID_Z_HIGH,
    ADAPTIVE_GRID_Z_LOW,
    ADAPTIVE_GRID_Z_STEP,
    ADAPTIVE_MAX_SCHEDULE,
)

from ._simulation import MODEL, Run, SimClock, lognormal, simulate

GRID = round((ADAPTIVE_GRID_Z_HIGH - ADAPTIVE_GRID_Z_LOW) / ADAPTIVE_GRID_Z_STEP) + 1
# The first poll of the planner before this work, until it had seen 8 durations.
FIXED_COLD = PollSchedule(first_delay=0.1, growth=1.5, max_delay=5.0, jitter=0.1)


def most_work(window: int) -> int:
    """What one refit may go through at most: the grid, the window of durations, and every
    candidate schedule (plus the densest one, and a last one when none met the target)."""
    return GRID + window + (ADAPTIVE_FIT_CANDIDATES + 2) * (ADAPTIVE_MAX_SCHEDULE + 1)


def run(
    durations: list[float],
    *,
    slots: int,
    rtt: float,
    submit_interval: float = 0.0,
    cold: PollSchedule | None = None,
) -> Run:
    clock = SimClock()
    planner = AdaptivePoll(clock=clock, rand=random.Random(1).random, cold=cold)
    return simulate(planner, clock, durations, slots=slots, rtt=rtt,
                    submit_interval=submit_interval)


@pytest.mark.parametrize("observed", [256, 20_000])
def test_a_refit_goes_through_a_bounded_amount_of_work_however_many_durations_were_seen(
    observed: int,
) -> None:
    planner = AdaptivePoll(refit_interval=0.0, refit_every=1)
    for d in lognormal(observed, median=8.0, sigma=0.6, seed=1):
        planner.observe(MODEL, d)
    works = []
    for d in lognormal(100, median=8.0, sigma=0.6, seed=2):
        planner.observe(MODEL, d)
        schedule = planner.schedule_for(MODEL)
        assert schedule is not None
        works.append(planner.refit_work(MODEL))
    assert max(works) <= most_work(planner.window)
    # A refit starts from the last one's constant: on durations like the last ones, it
    # builds one candidate (the grid, the window, one schedule), not a search.
    assert statistics.median(works) <= GRID + planner.window + len(schedule)


@pytest.mark.parametrize(("median", "sigma"), [(0.001, 0.05), (0.01, 0.5), (60.0, 1.0),
                                                (1.0, 0.2), (3.0, 2.5)])
def test_the_bound_holds_for_any_spread(median: float, sigma: float) -> None:
    planner = AdaptivePoll(refit_interval=0.0, refit_every=1)
    for d in lognormal(400, median=median, sigma=sigma, seed=3):
        planner.observe(MODEL, d)
        planner.schedule_for(MODEL)
        assert planner.refit_work(MODEL) <= most_work(planner.window)


def test_a_target_out_of_reach_gives_the_densest_schedule() -> None:
    # Jobs of ~2 ms with polls at least 10 ms apart: no schedule meets 3.5 % of 2 ms.
    planner = AdaptivePoll(min_interval=0.01, refit_interval=0.0, refit_every=1)
    for d in lognormal(64, median=0.002, sigma=0.3, seed=4):
        planner.observe(MODEL, d)
    schedule = planner.schedule_for(MODEL)
    assert schedule is not None
    assert schedule[0] == pytest.approx(0.01)
    assert all(b - a == pytest.approx(0.01) for a, b in itertools.pairwise(schedule))


def test_an_outlier_past_the_grid_is_still_reached() -> None:
    # 1000 s is 16 fitted sigmas past durations of 1 s: beyond the tabulated grid.
    planner = AdaptivePoll(refit_interval=0.0)
    for _ in range(255):
        planner.observe(MODEL, 1.0)
    planner.observe(MODEL, 1000.0)
    schedule = planner.schedule_for(MODEL)
    assert schedule is not None
    assert schedule[-1] >= 1000.0
    assert all(a < b for a, b in itertools.pairwise(schedule))
    assert planner.refit_work(MODEL) <= most_work(planner.window)


def test_the_window_forgets_what_it_no_longer_holds() -> None:
    planner = AdaptivePoll(refit_interval=0.0)
    for d in lognormal(5_000, median=1.0, sigma=0.2, seed=5):
        planner.observe(MODEL, d)
    for d in lognormal(planner.window, median=30.0, sigma=0.2, seed=6):
        planner.observe(MODEL, d)
    schedule = planner.schedule_for(MODEL)
    assert schedule is not None
    # Only 30 s jobs are left in the window: nothing is polled in their first 10 s.
    assert schedule[0] > 10.0


def test_a_sample_more_than_twice_as_large_is_refitted_despite_the_throttle() -> None:
    now = [0.0]
    planner = AdaptivePoll(refit_interval=10.0, refit_every=1, clock=lambda: now[0])
    for d in lognormal(8, median=1.0, sigma=0.2, seed=7):
        planner.observe(MODEL, d)
    first = planner.schedule_for(MODEL)
    for d in lognormal(8, median=30.0, sigma=0.2, seed=8):
        planner.observe(MODEL, d)
    assert planner.schedule_for(MODEL) is first  # twice as large: the throttle holds
    planner.observe(MODEL, 30.0)
    assert planner.schedule_for(MODEL) is not first


# --- Decisions on fixed workloads, against the planner before this work --------------------
# (polls per job, mean lag in seconds) of the previous planner (full refits, a fixed 0.1 s
# first poll while cold) on exactly these simulations, seeded alike.
IMAGE_SLOW_LINK = (14.435, 0.3766)
IMAGE_LOOPBACK = (15.354, 0.3214)
QUICK_MODEL = (10.775, 0.0106)


@pytest.mark.parametrize(
    ("durations", "rtt", "before"),
    [
        (lognormal(2_000, median=8.0, sigma=0.6, seed=3), 0.05, IMAGE_SLOW_LINK),
        (lognormal(2_000, median=8.0, sigma=0.6, seed=3), 0.002, IMAGE_LOOPBACK),
        (lognormal(2_000, median=0.2, sigma=0.4, seed=4), 0.002, QUICK_MODEL),
    ],
    ids=["8 s jobs, 50 ms round trip", "8 s jobs, loopback", "0.2 s jobs, loopback"],
)
def test_decisions_on_a_fixed_workload_are_as_good_as_before(
    durations: list[float], rtt: float, before: tuple[float, float]
) -> None:
    polls, lag = before
    now = run(durations, slots=64, rtt=rtt)
    # Trading lag for requests along the planner's own constant (lag grows with it, polls
    # shrink) keeps polls x lag about fixed: the product is the measure, and it may not
    # grow beyond rounding; neither figure may be bought with much of the other.
    assert now.polls_per_job * now.mean_lag <= polls * lag * 1.01
    assert now.polls_per_job <= polls * 1.1
    assert now.mean_lag <= lag * 1.1


# --- The cold start --------------------------------------------------------------------------


def test_a_cold_planner_polls_at_once_then_doubles_the_jobs_age() -> None:
    planner = AdaptivePoll(rand=lambda: 0.5)  # no jitter
    assert planner.next_poll_at(MODEL, 0.0, 0) == pytest.approx(planner.min_interval)
    # The first answer came 4 ms after the submit: one round trip, measured.
    assert planner.next_poll_at(MODEL, 0.004, 1) == pytest.approx(0.008)
    assert planner.next_poll_at(MODEL, 1.0, 5) == pytest.approx(2.0)
    assert planner.next_poll_at(MODEL, 100.0, 20) == pytest.approx(105.0)  # capped
    planner.observe(MODEL, 0.5)  # a job finished in 0.5 s: no wait beyond half that
    assert planner.next_poll_at(MODEL, 1.0, 5) == pytest.approx(1.25)
    assert planner.schedule_for(MODEL) is None


def test_a_cold_planner_skips_ages_that_enough_jobs_outlived() -> None:
    planner = AdaptivePoll(rand=lambda: 0.5)
    for age in (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0):
        planner.next_poll_at(MODEL, age, 3)
    assert planner.next_poll_at(MODEL, 0.0, 0) == pytest.approx(planner.min_interval)
    planner.next_poll_at(MODEL, 10.0, 4)  # eight jobs outlived 3 s
    assert planner.next_poll_at(MODEL, 0.0, 0) == pytest.approx(3.0)
    planner.observe(MODEL, 1.25)  # but one finished in 1.25 s
    assert planner.next_poll_at(MODEL, 0.0, 0) == pytest.approx(1.25)


def test_an_explicit_cold_schedule_is_kept() -> None:
    planner = AdaptivePoll(cold=FIXED_COLD, rand=lambda: 0.5)
    assert planner.next_poll_at(MODEL, 0.0, 0) == pytest.approx(0.1)


def test_quick_jobs_are_seen_one_round_trip_after_they_finish() -> None:
    quick = [0.0] * 1_000
    measured = run(quick, slots=64, rtt=0.002)
    fixed = run(quick, slots=64, rtt=0.002, cold=FIXED_COLD)
    # The first jobs wait out one round trip and a little, not the fixed first delay.
    assert max(measured.first_lags) < 0.005 < 0.09 < min(fixed.first_lags)
    assert measured.makespan < fixed.makespan / 2
    assert measured.polls_per_job == fixed.polls_per_job == 1


def test_a_wide_batch_of_long_jobs_polls_less_while_cold() -> None:
    # 3,000 jobs of ~25 s, all in flight, submitted 1 ms apart: until the first one ends,
    # every poll is a cold one.
    durations = lognormal(3_000, median=25.0, sigma=0.05, seed=5)
    measured = run(durations, slots=3_000, rtt=0.002, submit_interval=0.001)
    fixed = run(durations, slots=3_000, rtt=0.002, submit_interval=0.001, cold=FIXED_COLD)
    assert measured.polls_before_first_finish < fixed.polls_before_first_finish
    assert (measured.polls_per_job * measured.mean_lag
            < fixed.polls_per_job * fixed.mean_lag)


def test_any_durations_give_an_increasing_schedule_within_the_bound() -> None:
    rng = random.Random(12)
    for _ in range(60):
        planner = AdaptivePoll(
            min_interval=10 ** rng.uniform(-3, -1),
            max_interval=rng.choice([1.0, 15.0, 60.0]),
            max_share_per_poll=rng.choice([0.0, 0.05, 0.1, 0.5, 1.0]),
            target_lag_fraction=10 ** rng.uniform(-3, 0),
            refit_interval=0.0,
            refit_every=1,
        )
        median, sigma = 10 ** rng.uniform(-3, 3), rng.uniform(0.0, 3.0)
        durations = lognormal(rng.randint(8, 150), median=median, sigma=sigma, seed=rng.random())
        for seen, d in enumerate(durations, 1):
            planner.observe(MODEL, d)
            schedule = planner.schedule_for(MODEL)
            if seen < planner.min_samples:
                continue
            assert schedule is not None
            assert all(a < b for a, b in itertools.pairwise(schedule))
            assert planner.refit_work(MODEL) <= most_work(planner.window)
            # Every duration in the window is caught by some poll of the schedule.
            assert schedule[-1] >= max(durations[max(0, seen - planner.window):seen])
