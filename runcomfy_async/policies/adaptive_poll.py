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

A refit runs on the event loop, so it costs a fraction of a millisecond whatever the batch
(:mod:`._adaptive_fit`; :meth:`AdaptivePoll.refit_work` counts what it went through).

Until a model has a few finished jobs, a job is polled at once, then each poll waits as long
as the job's age (doubling it): the first answer's age is the measured round trip, so quick
jobs are seen as soon as the connection allows, and a long job costs polls in the logarithm
of its duration in round trips. Once a job has finished, no wait exceeds half its duration;
ages at which enough jobs were still running, with none finished sooner, are skipped.

Everything here is sans-IO: planners return ages, the batch scheduler keeps the heap.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from typing import Protocol

import attrs

from .._constants import (
    ADAPTIVE_COLD_AGE_FRACTION,
    ADAPTIVE_COLD_JITTER,
    ADAPTIVE_COLD_MAX_DELAY_S,
    ADAPTIVE_COLD_SHORTEST_FRACTION,
    ADAPTIVE_MAX_INTERVAL_S,
    ADAPTIVE_MAX_SHARE_PER_POLL,
    ADAPTIVE_MIN_INTERVAL_S,
    ADAPTIVE_MIN_SAMPLES,
    ADAPTIVE_REFIT_EVERY,
    ADAPTIVE_REFIT_INTERVAL_S,
    ADAPTIVE_SHORTEST_S,
    ADAPTIVE_TAIL_GROWTH,
    ADAPTIVE_TARGET_LAG_FRACTION,
    ADAPTIVE_WINDOW,
)
from ..core._errors import ConfigurationError
from ..core._validate import (
    finite_non_negative,
    finite_positive,
    fraction,
    int_at_least,
    positive_int,
)
from ._adaptive_fit import fit_schedule
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


class _ModelTimes:
    """What the planner knows of one model (a plain class: one per model, made often)."""

    __slots__ = ("fitted_at", "fitted_on", "logs", "new_since_fit", "ordered", "recent",
                 "scale", "schedule", "shortest", "survivors", "work")

    def __init__(self) -> None:
        self.recent: deque[float] = deque()  # the window, oldest first: the next to leave
        self.ordered: list[float] = []  # the same durations, sorted
        self.logs: list[float] = []  # their logarithms, in the same order
        self.new_since_fit = 0
        self.fitted_at = -math.inf
        self.fitted_on = 0  # how many durations the last refit had
        self.schedule: list[float] | None = None
        self.scale: float | None = None  # the last refit's constant: the next one's start
        self.work = 0  # grid points, durations and poll ages the last refit went through
        self.shortest = math.inf  # the shortest duration seen, for the cold start
        self.survivors: list[float] = []  # min-heap: the oldest ages seen still running


@attrs.define
class AdaptivePoll:
    """Learns each model's job durations online and places polls where jobs finish.

    Args:
        target_lag_fraction: expected detection lag, as a fraction of the mean duration.
        min_interval, max_interval: the closest and farthest two polls may be.
        cold: a fixed schedule for a model's jobs until it has ``min_samples`` finished
            jobs. None (the default) polls at once, then waits the job's age before each
            poll (from the first answer's age, one measured round trip; at most half the
            shortest duration seen, and 5 s), and skips ages before which ``min_samples``
            jobs were seen still running and none finished.
        window: how many recent durations per model are remembered (at least
            ``min_samples``).
        min_samples: durations needed before the learned schedule is used (at least 2: a
            spread needs two).
        refit_every: new durations between two refits (refits are also at most one per
            ``refit_interval`` seconds, so very fast batches don't spend their time fitting).
        max_share_per_poll: the largest share (0 to 1) of still-running jobs expected to
            finish between two polls (bounds long steps where the hazard is low).
        clock: a monotonic clock, for the refit throttle.
        rand: a source of uniform floats in [0, 1), for jitter.
    """

    target_lag_fraction: float = attrs.field(
        default=ADAPTIVE_TARGET_LAG_FRACTION, validator=finite_positive
    )
    min_interval: float = attrs.field(default=ADAPTIVE_MIN_INTERVAL_S, validator=finite_positive)
    max_interval: float = attrs.field(default=ADAPTIVE_MAX_INTERVAL_S, validator=finite_positive)
    cold: PollSchedule | None = None
    window: int = attrs.field(default=ADAPTIVE_WINDOW, validator=positive_int)
    min_samples: int = attrs.field(default=ADAPTIVE_MIN_SAMPLES, validator=int_at_least(2))
    refit_every: int = attrs.field(default=ADAPTIVE_REFIT_EVERY, validator=positive_int)
    refit_interval: float = attrs.field(
        default=ADAPTIVE_REFIT_INTERVAL_S, validator=finite_non_negative
    )
    max_share_per_poll: float = attrs.field(
        default=ADAPTIVE_MAX_SHARE_PER_POLL, validator=fraction
    )
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    _models: dict[str, _ModelTimes] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        if self.min_interval > self.max_interval:
            raise ConfigurationError(
                f"min_interval must be <= max_interval ({self.max_interval!r}), "
                f"got {self.min_interval!r}"
            )
        if self.min_samples > self.window:
            raise ConfigurationError(
                f"min_samples must be <= window ({self.window!r}), got {self.min_samples!r}"
            )

    def _times(self, model_id: str) -> _ModelTimes:
        times = self._models.get(model_id)
        if times is None:
            times = self._models[model_id] = _ModelTimes()
        return times

    def observe(self, model_id: str, duration: float) -> None:
        if not math.isfinite(duration) or duration < 0:
            return
        times = self._times(model_id)
        duration = max(duration, ADAPTIVE_SHORTEST_S)
        # Sorted as they arrive (a binary search and a short memmove each), so that a refit
        # never sorts, whatever the number of durations seen.
        if len(times.recent) >= self.window:
            leaving = bisect_left(times.ordered, times.recent.popleft())
            del times.ordered[leaving], times.logs[leaving]
        at = bisect_right(times.ordered, duration)
        times.ordered.insert(at, duration)
        times.logs.insert(at, math.log(duration))
        times.recent.append(duration)
        times.shortest = min(times.shortest, duration)
        times.new_since_fit += 1

    def schedule_for(self, model_id: str) -> list[float] | None:
        """The learned poll ages for ``model_id`` (refitted when due), or None while cold."""
        times = self._times(model_id)
        if len(times.recent) < self.min_samples:
            return None
        if times.schedule is not None and times.new_since_fit < self.refit_every:
            return times.schedule  # the common case, without reading the clock
        now = self.clock()
        # Early on the throttle would keep a fit of the few quickest jobs, the first to
        # finish, for a whole interval: a sample more than twice as large is refitted at
        # once (a handful of refits per model, each a fraction of a millisecond).
        if (times.schedule is None or now - times.fitted_at >= self.refit_interval
                or len(times.recent) > 2 * times.fitted_on):
            times.schedule, times.scale, times.work = fit_schedule(
                times.ordered, times.logs, times.scale,
                target_lag_fraction=self.target_lag_fraction, min_interval=self.min_interval,
                max_interval=self.max_interval, max_share_per_poll=self.max_share_per_poll,
            )
            times.new_since_fit = 0
            times.fitted_at = now
            times.fitted_on = len(times.recent)
        return times.schedule

    def refit_work(self, model_id: str) -> int:
        """How many grid points, durations and poll ages the last refit of a model went
        through: bounded by the window, the grid and ``ADAPTIVE_MAX_SCHEDULE`` per
        candidate, however many durations were seen (0 before the first refit)."""
        times = self._models.get(model_id)
        return times.work if times is not None else 0

    def next_poll_at(self, model_id: str, age: float, polls: int) -> float:
        schedule = self.schedule_for(model_id)
        if schedule is None:
            return self._cold(model_id, age, polls)
        i = bisect_right(schedule, age)
        if i < len(schedule):
            return schedule[i]
        tail = min(self.max_interval, max(self.min_interval, age * ADAPTIVE_TAIL_GROWTH))
        return age + tail

    def _cold(self, model_id: str, age: float, polls: int) -> float:
        if self.cold is not None:
            return age + self.cold.delay(polls, self.rand)
        times = self._times(model_id)
        survivors = times.survivors
        if polls:
            # A job still running at this age. Keep the min_samples oldest such ages: the
            # youngest of them is an age that many jobs outlived.
            if len(survivors) < self.min_samples:
                heapq.heappush(survivors, age)
            elif age > survivors[0]:
                heapq.heapreplace(survivors, age)
        outlived = survivors[0] if len(survivors) >= self.min_samples else 0.0
        # At age 0 this is min_interval: the first poll goes at once, and its answer comes
        # one round trip later, which is the age the next delay grows from. Once a job has
        # finished in S seconds, the others are likely to finish within a few S: no delay
        # exceeds a fraction of S (a cold delay is a commitment, kept after the planner has
        # learned better).
        longest = min(ADAPTIVE_COLD_MAX_DELAY_S,
                      times.shortest * ADAPTIVE_COLD_SHORTEST_FRACTION)
        delay = min(longest, max(self.min_interval, age * ADAPTIVE_COLD_AGE_FRACTION))
        delay *= 1.0 + ADAPTIVE_COLD_JITTER * (2.0 * self.rand() - 1.0)
        # No poll before an age that many jobs outlived, unless one finished sooner.
        return max(min(outlived, times.shortest), age + delay)
