"""How fast a batch submits: a token bucket whose rate adapts to 429s.

RunComfy documents no rate limits in numbers, but 429s happen. So a batch starts at the
rate the user set (by default: no limit) and, at the first 429, drops to
``RATE_BACKOFF_FACTOR`` (0.7) of the rate it was actually achieving; every further 429 cuts
it by that factor again, at most once per ``RATE_CUT_WINDOW_S`` and never below a floor.
After a run of successful submits the rate grows back by a step. This is additive-increase,
multiplicative-decrease in spirit (TCP's answer to an unknown capacity), with a
multiplicative increase so that recovery from deep cuts takes a bounded number of steps.

The global cool-down that a 429's ``Retry-After`` asks for is applied by the transport to
every request; this module only decides the steady rate.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import attrs

from .._constants import (
    MIN_SUBMIT_RATE_PER_S,
    RATE_BACKOFF_FACTOR,
    RATE_CUT_WINDOW_S,
    RATE_MEASURE_WINDOW_S,
    RATE_MIN_MEASURE_S,
    RATE_PEAK_EVERY,
    RATE_PEAK_FLOOR_FRACTION,
    RATE_RECOVERY_AFTER,
    RATE_RECOVERY_STEP,
)
from ..core._validate import (
    NumberRule,
    finite_above,
    finite_positive,
    open_fraction,
    positive_int,
)

__all__ = ["AdaptiveRate", "TokenBucket"]


# Tokens per second, or no limit at all.
_rate = NumberRule(
    lambda v: v == math.inf or finite_positive.accepts(v), "a finite number > 0, or math.inf"
)


@attrs.define
class TokenBucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` saved up.

    Sans-IO: :meth:`reserve` takes a token and says how long to wait before using it; the
    caller sleeps. ``rate = inf`` means no limit.

    Args:
        rate: tokens per second (``math.inf`` for no limit).
        burst: the most tokens that can be saved up.
        clock: a monotonic clock in seconds.
    """

    rate: float = attrs.field(validator=_rate)
    burst: int = attrs.field(validator=positive_int)
    clock: Callable[[], float]
    _tokens: float = attrs.field(init=False)
    _stamp: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def _refill(self, now: float) -> None:
        if self.rate == math.inf:
            self._tokens = float(self.burst)
        else:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self) -> float:
        """Take one token; return the seconds to wait before it may be used (0 if at once).

        Tokens may go negative: reservations queue up in order, each further out in time.
        """
        if self.rate == math.inf:
            return 0.0
        now = self.clock()
        self._refill(now)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate

    def drain(self) -> None:
        """Forget saved-up tokens, so that no burst follows a cut."""
        self._refill(self.clock())
        self._tokens = min(self._tokens, 0.0)

    def set_rate(self, rate: float) -> None:
        """Change the rate from now on (tokens already earned are kept)."""
        _rate.check("rate", rate)
        self._refill(self.clock())
        self.rate = rate
        if rate == math.inf:
            self._tokens = max(self._tokens, 0.0)


# Checked when made; afterwards only its own methods change it, on every submit: attrs'
# checks on assignment would put a Python __setattr__ in front of each counter update.
@attrs.define(on_setattr=attrs.setters.NO_OP)
class AdaptiveRate:
    """The submit rate of a batch: cut by ``RATE_BACKOFF_FACTOR`` on a 429, grown back after
    a run of successes.

    Args:
        bucket: the token bucket whose rate this steers.
        max_rate: the rate the user asked for (``inf`` for none); growth stops there.
        min_rate: the floor below which 429s no longer cut.
        backoff_factor: multiplier applied on a 429 (between 0 and 1, exclusive).
        recovery_step: multiplier applied after ``recovery_after`` successes in a row (> 1).
        recovery_after: successful submits between two growth steps.
        cut_window: seconds after a cut during which further 429s cut nothing: they are
            answers to requests sent before the cut took effect (TCP cuts once per window
            for the same reason). Without it a burst of 429s would drive the rate to its
            floor in a second.
    """

    bucket: TokenBucket
    max_rate: float = attrs.field(default=math.inf, validator=_rate)
    min_rate: float = attrs.field(default=MIN_SUBMIT_RATE_PER_S, validator=finite_positive)
    backoff_factor: float = attrs.field(default=RATE_BACKOFF_FACTOR, validator=open_fraction)
    recovery_step: float = attrs.field(default=RATE_RECOVERY_STEP, validator=finite_above(1))
    recovery_after: int = attrs.field(default=RATE_RECOVERY_AFTER, validator=positive_int)
    cut_window: float = attrs.field(default=RATE_CUT_WINDOW_S, validator=finite_positive)
    _last_cut: float = attrs.field(default=-math.inf, init=False)
    _last_growth: float = attrs.field(default=-math.inf, init=False)
    _successes: int = attrs.field(default=0, init=False)
    _recent: deque[float] = attrs.field(factory=deque, init=False)
    _first_success: float | None = attrs.field(default=None, init=False)
    _peak: float = attrs.field(default=0.0, init=False)
    cuts: int = attrs.field(default=0, init=False)

    @property
    def rate(self) -> float:
        return self.bucket.rate

    def _achieved(self, now: float) -> float:
        """Successful submits per second over the last window (or the time covered so far)."""
        covered = RATE_MEASURE_WINDOW_S
        if self._first_success is not None:
            covered = min(covered, max(now - self._first_success, RATE_MIN_MEASURE_S))
        return len(self._recent) / covered

    def reserve(self) -> float:
        """Seconds to wait before the next submit may go out."""
        return self.bucket.reserve()

    def on_success(self) -> None:
        """A submit was accepted."""
        now = self.bucket.clock()
        if self._first_success is None:
            self._first_success = now
        self._recent.append(now)
        while self._recent and self._recent[0] < now - RATE_MEASURE_WINDOW_S:
            self._recent.popleft()
        if self._successes % RATE_PEAK_EVERY == 0:
            self._peak = max(self._peak, self._achieved(now))
        self._successes += 1
        if self.bucket.rate >= self.max_rate:
            return
        # Grow after a run of successes, or after a quiet window: at a low rate, a run of
        # successes takes long to gather, and a rate cut deep must not stay deep for minutes.
        quiet = now - max(self._last_cut, self._last_growth) >= self.cut_window
        if self._successes >= self.recovery_after or quiet:
            self._successes = 0
            self._last_growth = now
            self.bucket.set_rate(min(self.max_rate, self.bucket.rate * self.recovery_step))

    def on_rate_limited(self) -> None:
        """The server said 429: cut the rate, at most once per ``cut_window``."""
        now = self.bucket.clock()
        if now - self._last_cut < self.cut_window:
            return
        current = self.bucket.rate
        if current == math.inf and not self._recent:
            # Nothing measured yet: there is no rate to cut. The transport's cool-down
            # already holds every request back for the Retry-After.
            return
        self._last_cut = now
        self.cuts += 1
        self._successes = 0
        if current == math.inf:
            # Start from what we were really doing.
            current = self._achieved(now)
        floor = max(self.min_rate, self._peak * RATE_PEAK_FLOOR_FRACTION)
        self.bucket.set_rate(min(self.max_rate, max(floor, current * self.backoff_factor)))
        self.bucket.drain()
