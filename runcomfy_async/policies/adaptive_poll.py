"""When to poll each pending job of a batch: fixed, backoff, or learned from the model.

A batch polls ``/result`` for every pending job. Fixed intervals trade requests for lag:
poll every 0.1 s and you learn fast but pay a hundred requests for a ten-second job; poll
every 5 s and a job that finished sits unseen for 2.5 s on average, holding a slot.

:class:`AdaptivePoll` learns, per model, how long jobs take (submit to server finish, from
the server's own timestamps) and places polls where completions are likely. The choice of
where comes from a small optimisation: to minimise expected lag plus a price per request,
the spacing between polls at age *t* should be proportional to ``1 / sqrt(h(t))``, where
*h* is the hazard rate (the chance per second that a job still running at *t* finishes
now). So there are no polls while completion is unlikely (early on), dense polls around the
typical duration, and sparser polls again in a long tail. The hazard comes from a
log-normal fitted to recent durations; the constant of proportionality is then calibrated
on those same durations so that the expected lag is a set fraction of the mean duration
(3.5 % by default, which keeps a batch's makespan within a few percent of zero-lag polling).

Until a model has a few finished jobs, polls back off geometrically from a short delay.

Everything here is sans-IO: planners return ages, the batch scheduler keeps the heap.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from typing import Protocol

import attrs

from .._constants import (
    ADAPTIVE_MAX_INTERVAL_S,
    ADAPTIVE_MAX_SCHEDULE,
    ADAPTIVE_MAX_SHARE_PER_POLL,
    ADAPTIVE_MIN_INTERVAL_S,
    ADAPTIVE_MIN_SIGMA,
    ADAPTIVE_SHORTEST_S,
    ADAPTIVE_STEP_BISECTIONS,
    ADAPTIVE_TAIL_GROWTH,
    ADAPTIVE_TARGET_LAG_FRACTION,
)
from ..core._validate import finite_positive
from .poll import PollSchedule

__all__ = ["AdaptivePoll", "BackoffPoll", "FixedIntervalPoll", "PollPlanner"]


class PollPlanner(Protocol):
    """Decides when each pending job is polled next."""

    def next_poll_at(self, model_id: str, age: float, polls: int) -> float:
        """The job's age (seconds since its submit was accepted) at which to poll next.

        Args:
            model_id: the job's model.
            age: the job's age now.
            polls: how many polls the job has had so far.
        """
        ...

    def observe(self, model_id: str, duration: float) -> None:
        """A job of ``model_id`` finished ``duration`` seconds after it was submitted."""
        ...


@attrs.frozen
class FixedIntervalPoll:
    """Poll every ``interval`` seconds, as most clients do (fal 0.1 s, RunComfy's CLI 2 s).

    Args:
        interval: seconds between polls.
        first_at_once: poll right after the submit too (RunComfy's CLI does).
    """

    interval: float = attrs.field(validator=finite_positive)
    first_at_once: bool = False

    def next_poll_at(self, model_id: str, age: float, polls: int) -> float:
        if polls == 0 and self.first_at_once:
            return age
        return age + self.interval

    def observe(self, model_id: str, duration: float) -> None:
        """Fixed intervals learn nothing."""


@attrs.frozen
class BackoffPoll:
    """Poll on a :class:`PollSchedule` (geometric backoff), learning nothing."""

    schedule: PollSchedule = attrs.field(factory=PollSchedule)
    rand: Callable[[], float] = random.random

    def next_poll_at(self, model_id: str, age: float, polls: int) -> float:
        return age + self.schedule.delay(polls, self.rand)

    def observe(self, model_id: str, duration: float) -> None:
        """Backoff learns nothing."""




@attrs.define
class _ModelTimes:
    samples: deque[float]
    new_since_fit: int = 0
    fitted_at: float = -math.inf
    schedule: list[float] | None = None


@attrs.define
class AdaptivePoll:
    """Learns each model's job durations online and places polls where jobs finish.

    Args:
        target_lag_fraction: expected detection lag, as a fraction of the mean duration.
        min_interval, max_interval: the closest and farthest two polls may be.
        cold: the schedule used until a model has ``min_samples`` finished jobs.
        window: how many recent durations per model are remembered.
        min_samples: durations needed before the learned schedule is used.
        refit_every: new durations between two refits (refits are also at most one per
            ``refit_interval`` seconds, so very fast batches don't spend their time fitting).
        max_share_per_poll: the largest share of still-running jobs expected to finish
            between two polls (bounds long steps where the hazard is low).
        clock: a monotonic clock, for the refit throttle.
    """

    target_lag_fraction: float = attrs.field(
        default=ADAPTIVE_TARGET_LAG_FRACTION, validator=finite_positive
    )
    min_interval: float = attrs.field(default=ADAPTIVE_MIN_INTERVAL_S, validator=finite_positive)
    max_interval: float = attrs.field(default=ADAPTIVE_MAX_INTERVAL_S, validator=finite_positive)
    cold: PollSchedule = attrs.field(
        factory=lambda: PollSchedule(first_delay=0.1, growth=1.5, max_delay=5.0, jitter=0.1)
    )
    window: int = 256
    min_samples: int = 8
    refit_every: int = 16
    refit_interval: float = 0.5
    max_share_per_poll: float = ADAPTIVE_MAX_SHARE_PER_POLL
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    _models: dict[str, _ModelTimes] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        if self.min_interval > self.max_interval:
            raise ValueError("min_interval must not exceed max_interval")
        if self.min_samples < 2 or self.window < self.min_samples:
            raise ValueError("need 2 <= min_samples <= window")

    def _times(self, model_id: str) -> _ModelTimes:
        times = self._models.get(model_id)
        if times is None:
            times = self._models[model_id] = _ModelTimes(deque(maxlen=self.window))
        return times

    def observe(self, model_id: str, duration: float) -> None:
        if not math.isfinite(duration) or duration < 0:
            return
        times = self._times(model_id)
        times.samples.append(max(duration, ADAPTIVE_SHORTEST_S))
        times.new_since_fit += 1

    def schedule_for(self, model_id: str) -> list[float] | None:
        """The learned poll ages for ``model_id`` (refitted when due), or None while cold."""
        times = self._times(model_id)
        if len(times.samples) < self.min_samples:
            return None
        if times.schedule is not None and times.new_since_fit < self.refit_every:
            return times.schedule  # the common case, without reading the clock
        now = self.clock()
        if times.schedule is None or now - times.fitted_at >= self.refit_interval:
            times.schedule = self._fit(list(times.samples))
            times.new_since_fit = 0
            times.fitted_at = now
        return times.schedule

    def next_poll_at(self, model_id: str, age: float, polls: int) -> float:
        schedule = self.schedule_for(model_id)
        if schedule is None:
            return age + self.cold.delay(polls, self.rand)
        i = bisect_right(schedule, age)
        if i < len(schedule):
            return schedule[i]
        tail = min(self.max_interval, max(self.min_interval, age * ADAPTIVE_TAIL_GROWTH))
        return age + tail

    # --- Fitting -------------------------------------------------------------------------

    def _fit(self, samples: list[float]) -> list[float]:
        logs = [math.log(d) for d in samples]
        mu = statistics.fmean(logs)
        sigma = max(statistics.pstdev(logs), ADAPTIVE_MIN_SIGMA)
        mean = statistics.fmean(samples)
        target = self.target_lag_fraction * mean
        horizon = max(max(samples), math.exp(mu + 3.5 * sigma))
        ordered = sorted(samples)

        def lag_of(schedule: list[float]) -> float:
            total = 0.0
            for d in ordered:
                i = bisect_right(schedule, d)
                total += (schedule[i] - d) if i < len(schedule) else self.max_interval
            return total / len(ordered)

        # Expected lag grows with the constant: bisect on its logarithm for the largest
        # constant (fewest polls) that meets the target. When none does (the target is
        # below what min_interval allows), the densest schedule is the best there is.
        lo, hi = math.log(1e-6), math.log(1e3)
        best = self._build(mu, sigma, horizon, math.exp(lo))
        for _ in range(28):
            mid = (lo + hi) / 2
            schedule = self._build(mu, sigma, horizon, math.exp(mid))
            if lag_of(schedule) > target:
                hi = mid
            else:
                lo, best = mid, schedule
        return best

    def _build(self, mu: float, sigma: float, horizon: float, scale: float) -> list[float]:
        """Poll ages from 0 to ``horizon`` spaced ``scale / sqrt(hazard)``, clamped.

        Each step is the longest ``s`` with ``s <= spacing(max(h(age), h(age + s)))``: it
        may cross a region where completions are unlikely in one stride, but it ends no
        later than the density of completions where it lands allows.
        """

        # Every schedule reaches the horizon within ADAPTIVE_MAX_SCHEDULE polls; otherwise a dense
        # candidate would stop short, and its lag would no longer fall as polls get denser
        # (which the calibration's bisection relies on).
        floor = max(self.min_interval, horizon / ADAPTIVE_MAX_SCHEDULE)

        def spacing(hazard: float) -> float:
            if hazard <= 0:
                return self.max_interval
            return min(self.max_interval, max(floor, scale / math.sqrt(hazard)))

        distribution = statistics.NormalDist(mu, sigma)
        ages: list[float] = []
        age = 0.0
        while age < horizon:
            # No step may span more than a share of the jobs still running: the hazard rule
            # assumes short steps, and a long early step would make an early finisher wait
            # out all of it.
            done = distribution.cdf(math.log(age)) if age > 0 else 0.0
            reach = done + (1.0 - done) * self.max_share_per_poll
            quantile_step = (
                math.exp(distribution.inv_cdf(reach)) - age if reach < 1.0 else self.max_interval
            )
            here = _lognormal_hazard(age, mu, sigma)
            longest = spacing(here)
            if longest <= floor or longest <= spacing(
                max(here, _lognormal_hazard(age + longest, mu, sigma))
            ):
                step = longest
            else:
                lo, hi = floor, longest
                for _ in range(ADAPTIVE_STEP_BISECTIONS):
                    mid = (lo + hi) / 2
                    if mid <= spacing(max(here, _lognormal_hazard(age + mid, mu, sigma))):
                        lo = mid
                    else:
                        hi = mid
                step = lo
            step = max(floor, min(step, quantile_step))
            age += step
            ages.append(age)
        return ages


_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _lognormal_hazard(t: float, mu: float, sigma: float) -> float:
    """h(t) = f(t) / S(t) of a log-normal; 0 at t <= 0."""
    if t <= 0:
        return 0.0
    z = (math.log(t) - mu) / sigma
    survival = 0.5 * math.erfc(z / _SQRT2)
    if survival < 1e-12:
        # Far in the tail the ratio tends to z / (sigma t) (Mills' ratio).
        return max(z, 0.0) / (sigma * t)
    density = math.exp(-0.5 * z * z) / (t * sigma * _SQRT2PI)
    return density / survival
