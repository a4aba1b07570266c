"""The adaptive planner's refit: a log-normal fitted to sorted durations, and the poll
schedule calibrated on them (see :mod:`runcomfy_async.policies.adaptive_poll`).

A refit runs on the event loop, so its cost is bounded whatever the batch: the durations
arrive sorted, the integral of ``sqrt(h)`` is tabulated once per refit on a fixed grid (in
C-level maps), each candidate schedule is one walk along that table that also scores the
candidate on the durations, and the search starts from the last refit's constant, so that
one candidate usually suffices.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left, bisect_right
from functools import cache
from itertools import accumulate, repeat
from operator import add, mul, sub
from typing import NamedTuple

from .._constants import (
    ADAPTIVE_FIT_BRACKET_MARGIN,
    ADAPTIVE_FIT_CANDIDATES,
    ADAPTIVE_FIT_MAX_RESCALE,
    ADAPTIVE_FIT_TOLERANCE,
    ADAPTIVE_GRID_Z_HIGH,
    ADAPTIVE_GRID_Z_LOW,
    ADAPTIVE_GRID_Z_STEP,
    ADAPTIVE_HORIZON_SIGMAS,
    ADAPTIVE_MAX_SCHEDULE,
    ADAPTIVE_MIN_SIGMA,
)

__all__ = ["fit_schedule"]


def fit_schedule(
    ordered: list[float],
    logs: list[float],
    scale: float | None,
    *,
    target_lag_fraction: float,
    min_interval: float,
    max_interval: float,
    max_share_per_poll: float,
) -> tuple[list[float], float, int]:
    """``(poll ages, constant, work)`` for durations ``ordered`` (sorted, their logarithms
    in ``logs``), starting the search from the last refit's constant ``scale`` (if any).

    ``work`` counts the grid points, durations and poll ages the refit went through: at most
    the grid, the durations and ``ADAPTIVE_MAX_SCHEDULE`` per candidate.
    """
    n = len(ordered)
    # Plain sums: a few hundred values lose far less than the spread to rounding.
    mu = sum(logs) / n
    variance = max(0.0, sum(map(mul, logs, logs)) / n - mu * mu)
    sigma = max(math.sqrt(variance), ADAPTIVE_MIN_SIGMA)
    target = target_lag_fraction * sum(ordered) / n
    horizon = max(ordered[-1], math.exp(mu + ADAPTIVE_HORIZON_SIGMAS * sigma))
    fit = _Fit.build(
        mu, sigma, horizon, ordered, max_share_per_poll,
        # Every schedule reaches the horizon within ADAPTIVE_MAX_SCHEDULE polls: a dense
        # candidate would otherwise stop short, and its lag would no longer fall as polls
        # get denser (which the calibration relies on).
        floor=max(min_interval, horizon / ADAPTIVE_MAX_SCHEDULE),
        longest=max_interval,
    )
    # Durations change little between two refits, nor does the constant that meets the
    # target: the last one is where the search starts (the first from a closed form).
    start = scale if scale else fit.first_guess(target)
    schedule, scale, steps = _calibrate(fit, start, target, scale == 0.0)
    return schedule, scale, len(fit.ages) + n + steps


class _Fit(NamedTuple):
    """A log-normal fitted to ``ordered`` (sorted durations), tabulated at ``ages`` for one
    refit: the integral of ``sqrt(h)`` from 0 (``roots``), and how far a step starting at
    each age may go before a share of the jobs still running would finish (``reach``)."""

    mu: float
    sigma: float
    horizon: float
    floor: float
    longest: float
    ages: list[float]
    roots: list[float]
    reach: list[float]
    first_reach: float
    survivals: list[float]  # of the standard normal, at the grid's scores
    ordered: list[float]
    prefix: list[float]  # prefix sums of ordered

    @classmethod
    def build(cls, mu: float, sigma: float, horizon: float, ordered: list[float],
              share: float, *, floor: float, longest: float) -> _Fit:
        table = _standard_table(share)
        # Up to the first score past the horizon's, or the table's end (an outlier far past
        # the fitted spread: beyond it, the walk steps on the hazard's asymptote).
        end = min(bisect_right(table.zs, (math.log(horizon) - mu) / sigma) + 1, len(table.zs))
        # Ages and sqrt(h) / 2 on a grid even in z are geometric sequences times tabulated
        # factors: C-level maps, no Python loop (sqrt(h) = sqrt(mills / (sigma t))).
        first = mu + sigma * table.zs[0]
        ages = list(accumulate(repeat(math.exp(sigma * table.step), end - 1), mul,
                               initial=math.exp(first)))
        halves = list(map(mul, table.half_root_mills[:end], accumulate(
            repeat(math.exp(-0.5 * sigma * table.step), end - 1), mul,
            initial=math.exp(-0.5 * first) / math.sqrt(sigma),
        )))
        # The trapezoid rule: each cell adds its width times its mean sqrt(h).
        roots = list(accumulate(map(mul, map(sub, ages[1:], ages), map(add, halves, halves[1:])),
                                initial=0.0))
        # exp(mu + sigma z) as e^mu (e^z)^sigma; a reach past the table (inf) never binds
        # before longest does.
        reach = list(map(min, repeat(ages[-1] + longest), map(
            mul, repeat(math.exp(mu)), map(pow, table.exp_reach[:end], repeat(sigma))
        )))
        return cls(mu, sigma, horizon, floor, longest, ages, roots, reach,
                   math.exp(mu + sigma * table.first_reach), table.survivals, ordered,
                   list(accumulate(ordered, initial=0.0)))

    def first_guess(self, target: float) -> float:
        """The constant whose unclamped schedule meets ``target``: a step of ``c / sqrt(h)``
        has a mean lag of half that, so the lag is ``c / 2`` times ``E[1 / sqrt(h)]``."""
        cells = zip(self.survivals, self.survivals[1:], self.ages, self.ages[1:],
                    self.roots, self.roots[1:], strict=False)
        # Per cell: its probability over its mean sqrt(h) (root integral over width).
        inverse = math.fsum((s0 - s1) * (t1 - t0) / (g1 - g0)
                            for s0, s1, t0, t1, g0, g1 in cells if g1 > g0)
        return 2.0 * target / inverse if inverse > 0 else 1.0

    def walk(self, scale: float, lag_budget: float) -> tuple[list[float], float, bool, bool]:
        """``(ages, mean lag, complete, scaled)``: polls spaced ``scale / sqrt(h)``, clamped.

        Each step ends where the integral of ``sqrt(h)`` has grown by ``scale`` (a spacing of
        ``scale / sqrt(h)`` where ``h`` varies slowly; where it varies fast, the step ends no
        later than the density of completions allows), and spans no more than a share of
        the jobs still running, nor more than ``longest`` or less than ``floor``. ``scaled``
        says whether ``scale`` decided any step. The walk stops early (``complete`` False)
        once the lag already exceeds ``lag_budget``, with the mean lag of the durations
        caught so far.
        """
        # One loop with everything local: it is the whole cost of a refit.
        t, roots, reach = self.ages, self.roots, self.reach
        last = len(t) - 1
        ordered, prefix = self.ordered, self.prefix
        n = len(ordered)
        horizon, floor, longest = self.horizon, self.floor, self.longest
        budget = lag_budget * n
        ages: list[float] = []
        age = root = lag = 0.0
        reach_here = self.first_reach
        j = 0  # the grid cell that holds age (t[j] <= age < t[j + 1]); 0 before the grid
        seen = 0  # durations caught by earlier polls
        scaled = False
        while age < horizon:
            natural = False
            if j < last:
                want = root + scale
                k = bisect_left(roots, want, j + 1)
                if k > last:
                    end = math.inf
                else:
                    g0, t0 = roots[k - 1], t[k - 1]
                    end = t0 + (want - g0) / (roots[k] - g0) * (t[k] - t0)
                if reach_here < end:
                    end = reach_here
                else:
                    natural = True
            else:
                # Past the grid the hazard tends to z / (sigma t).
                z = (math.log(age) - self.mu) / self.sigma
                root_h = math.sqrt(max(z, 0.0) / (self.sigma * age))
                end = age + (scale / root_h if root_h > 0 else longest)
                natural = True
            step = end - age
            if step >= longest:
                step, natural = longest, False
            if step <= floor:  # the floor wins: it is what bounds the schedule's length
                step, natural = floor, False
            if natural:
                age, scaled = end, True
            else:
                age += step
            ages.append(age)
            caught = bisect_left(ordered, age, seen)
            if caught > seen:
                lag += age * (caught - seen) - (prefix[caught] - prefix[seen])
                seen = caught
                if lag > budget:
                    # Out of budget: its mean so far stands for the whole (the search
                    # only needs to know by how much to shrink the constant).
                    return ages, lag / seen, False, True
            if j < last:
                if natural:
                    j, root = k - 1, want
                else:
                    j = bisect_right(t, age, j) - 1
                if j < 0:  # still before the grid: nothing finishes there
                    j, root = 0, 0.0
                elif j < last:
                    w = (age - t[j]) / (t[j + 1] - t[j])
                    if not natural:
                        root = roots[j] + w * (roots[j + 1] - roots[j])
                    reach_here = reach[j] + w * (reach[j + 1] - reach[j])
        lag += (n - seen) * longest
        return ages, lag / n, True, scaled


def _calibrate(
    fit: _Fit, scale: float, target: float, out_of_reach: bool
) -> tuple[list[float], float, int]:
    """``(schedule, its constant, poll ages built)``: about the largest constant (fewest
    polls) whose lag on the durations is at most ``target``.

    The lag grows about in proportion to the constant, so each next candidate scales the
    last by ``target / lag``, or interpolates (log scale) between the best feasible and the
    nearest infeasible constants once both are known; a lag within the tolerance of the
    target ends the search, and so does a schedule that no constant shaped (the other
    bounds decided every step). When no constant meets the target (below what
    ``min_interval`` allows), the densest schedule is the best there is (constant 0; the
    next refit, told ``out_of_reach``, tries it first).
    """
    ceiling = target * (1.0 + ADAPTIVE_FIT_TOLERANCE)
    best: tuple[list[float], float] | None = None
    above: tuple[float, float] | None = None  # (constant, lag) of the nearest infeasible
    below: tuple[float, float] | None = None  # of the best feasible
    steps = 0
    for _ in range(ADAPTIVE_FIT_CANDIDATES):
        if out_of_reach and target < fit.floor:
            # Polls every floor seconds miss a duration by less than that: only below it
            # can the target be out of reach, and then the densest schedule is the answer.
            densest, densest_lag, _, _ = fit.walk(0.0, math.inf)
            steps += len(densest)
            if densest_lag > ceiling:
                return densest, 0.0, steps
        out_of_reach = False
        ages, lag, complete, scaled = fit.walk(scale, ceiling)
        steps += len(ages)
        if complete:
            best, below = (ages, scale), (scale, lag)
            if lag >= target * (1.0 - ADAPTIVE_FIT_TOLERANCE) or not scaled:
                break
        else:
            # The first miss may be the target's being out of reach: look once.
            out_of_reach = above is None and below is None
            if above is None or scale < above[0]:
                above = (scale, lag)
        if below is not None and above is not None:
            (c0, l0), (c1, l1) = below, above
            x0, x1 = math.log(c0), math.log(c1)
            y0, y1 = math.log(max(l0, sys.float_info.min)), math.log(l1)
            x = x0 + (math.log(target) - y0) * (x1 - x0) / (y1 - y0) if y1 > y0 else x1
            # Strictly inside the bracket, so that it shrinks every time.
            margin = (x1 - x0) * ADAPTIVE_FIT_BRACKET_MARGIN
            scale = math.exp(min(max(x, x0 + margin), x1 - margin))
        else:
            ratio = target / max(lag, sys.float_info.min)
            scale *= min(ADAPTIVE_FIT_MAX_RESCALE, max(1.0 / ADAPTIVE_FIT_MAX_RESCALE, ratio))
    if best is None:
        assert above is not None
        ages, _, _, _ = fit.walk(above[0], math.inf)
        return ages, above[0], steps + len(ages)
    return best[0], best[1], steps


class _Table(NamedTuple):
    """The standard normal on a grid of scores ``zs`` (``step`` apart): ``half_root_mills`` is
    half the square root of its hazard ``phi / S``, ``survivals`` is S; ``reach`` is the
    score at which a share of what survives each score has ended (``first_reach`` from
    minus infinity), inf past the grid, and ``exp_reach`` its exponential."""

    zs: list[float]
    step: float
    half_root_mills: list[float]
    survivals: list[float]
    reach: list[float]
    first_reach: float
    exp_reach: list[float]


@cache
def _standard_table(share: float) -> _Table:
    """The same for every fit of a planner (its share per poll), so computed once."""
    step = ADAPTIVE_GRID_Z_STEP
    count = round((ADAPTIVE_GRID_Z_HIGH - ADAPTIVE_GRID_Z_LOW) / step) + 1
    zs = [ADAPTIVE_GRID_Z_LOW + i * step for i in range(count)]
    survivals = [0.5 * math.erfc(z / math.sqrt(2.0)) for z in zs]
    halves = [0.5 * math.sqrt(math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / s)
              for z, s in zip(zs, survivals, strict=True)]
    hazards = [-math.log(s) for s in survivals]
    # A share of 1 or more never binds; of 0 or less, every step is the shortest.
    budget = math.inf if share >= 1 else -math.log1p(-share) if share > 0 else 0.0

    def score_at(hazard: float) -> float:
        k = bisect_left(hazards, hazard)
        if k >= count:
            return math.inf
        if k == 0:
            return zs[0]
        h0, h1 = hazards[k - 1], hazards[k]
        return zs[k - 1] + (hazard - h0) / (h1 - h0) * (zs[k] - zs[k - 1])

    reach = [score_at(h + budget) for h in hazards]
    return _Table(zs, step, halves, survivals, reach, score_at(budget), list(map(math.exp, reach)))
