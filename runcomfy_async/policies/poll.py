"""How often one job is polled while a caller waits for it (``client.wait``).

Batches use the adaptive poller in :mod:`runcomfy_async.batch`; a single wait
has nothing to learn from, so it backs off geometrically from a short first delay: the
first answers come fast for quick jobs, and a long job costs few requests.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from runcomfy_async._constants import POLL_FIRST_DELAY_S, POLL_GROWTH, POLL_JITTER, POLL_MAX_DELAY_S

from ..core._validate import finite_at_least, finite_non_negative, finite_positive, fraction

__all__ = ["PollSchedule"]


@attrs.frozen(kw_only=True)
class PollSchedule:
    """Delays between polls: ``first_delay * growth**n``, capped at ``max_delay``, jittered.

    Args:
        first_delay: seconds between the first poll (``wait`` makes it at once) and the second.
        growth: factor by which each delay grows (>= 1; 1 means a fixed interval).
        max_delay: the largest delay.
        jitter: each delay is multiplied by a uniform factor in ``[1 - jitter, 1 + jitter]``
            so that many waiters don't poll in lockstep.
    """

    first_delay: float = attrs.field(default=POLL_FIRST_DELAY_S, validator=finite_non_negative)
    growth: float = attrs.field(default=POLL_GROWTH, validator=finite_at_least(1))
    max_delay: float = attrs.field(default=POLL_MAX_DELAY_S, validator=finite_positive)
    jitter: float = attrs.field(default=POLL_JITTER, validator=fraction)

    @classmethod
    def fixed(cls, interval: float) -> PollSchedule:
        """A fixed interval, as most peers poll (0.1 s, 2 s, 3 s, 5 s)."""
        return cls(first_delay=interval, growth=1.0, max_delay=max(interval, 1e-9), jitter=0.0)

    def delay(self, poll_number: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the poll that brought the count to ``poll_number + 1``.

        ``delay(0)`` is the wait between the first poll and the second.

        Args:
            poll_number: how many polls have been made already, less one.
            rand: a source of uniform floats in [0, 1); inject it for exact tests.
        """
        base = min(self.max_delay, self.first_delay * self.growth ** min(poll_number, 64))
        if self.jitter:
            base *= 1.0 + self.jitter * (2.0 * rand() - 1.0)
        return max(0.0, base)
