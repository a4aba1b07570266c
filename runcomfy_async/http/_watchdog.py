"""One deadline sweep per client, in place of a loop timer (or two) per request.

aiohttp times a request's ``total`` and ``sock_read`` with loop timers: one per request and
one more each time answer data arrives, each created, cancelled and re-created. At a
thousand jobs a second that is a tenth of the client's whole CPU. Here every attempt in
flight registers a :class:`Watch` (a few attributes in a set), and one task wakes every
``tick`` seconds, while attempts are in flight, to end the ones past their time: as
aiohttp's own timeouts do, by cancelling the attempt's task, which the attempt turns into a
:class:`TimeoutError` (see :meth:`Watch.timed_out`).

What the watch times:

- ``end``: the attempt's total time, cut by the caller's deadline;
- ``read``: how long the answer may keep us waiting: counted from the start of the attempt
  (the body is small: its upload is immediate), then again from the answer's headers and
  from each further piece of it (:meth:`Watch.progress`). A body large enough to take a
  while to upload is timed by aiohttp instead, from the end of the upload (the transport
  decides).

So a timeout fires within ``tick`` of its time, never before it.
"""

from __future__ import annotations

import asyncio
import math
import sys
from time import monotonic

__all__ = ["Watch", "Watchdog"]


class Watch:
    """One attempt's times, on the monotonic clock (the sweep reads the same one)."""

    __slots__ = ("_cancelling", "end", "fired", "read", "read_end", "task")

    def __init__(self, task: asyncio.Task[object], total: float | None, read: float | None,
                 cancelling: int) -> None:
        self.task = task
        now = monotonic()
        self.end = math.inf if total is None else now + total
        self.read = read
        self.read_end = math.inf if read is None else now + read
        # Which limit ended the attempt ("read" or "total"); None while it runs.
        self.fired: str | None = None
        # Cancellations already requested of the task when the watch began (Python 3.11+),
        # so that one arriving from elsewhere is never mistaken for ours.
        self._cancelling = cancelling

    def progress(self) -> None:
        """Answer data arrived: the read timeout counts from now."""
        if self.read is not None:
            self.read_end = monotonic() + self.read

    def due(self, now: float) -> str | None:
        """Which limit has passed at ``now``, if any."""
        if now >= self.end:
            return "total"
        if now >= self.read_end:
            return "read"
        return None

    def timed_out(self) -> bool:
        """Called with a :class:`asyncio.CancelledError` in hand: True when the cancellation
        was this watch's alone (take it back and time out); False when it must go on."""
        if self.fired is None:
            return False
        if sys.version_info >= (3, 11):
            # Someone else cancelled the task too: their cancellation wins.
            return self.task.uncancel() <= self._cancelling
        return True


class Watchdog:
    """The sweep: one task per event loop while attempts are in flight.

    Args:
        tick: seconds between two looks at the attempts in flight.
    """

    def __init__(self, tick: float) -> None:
        self._tick = tick
        self._watches: set[Watch] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._watches)

    def watch(self, total: float | None, read: float | None) -> Watch:
        """Start timing the current task's attempt: ``total`` and ``read`` in seconds."""
        task = asyncio.current_task()
        assert task is not None, "an attempt runs in a task"
        if self._sweeper is None:
            self._sweeper = task.get_loop().create_task(self._sweep(),
                                                        name="runcomfy-timeouts")
        cancelling = 0
        if sys.version_info >= (3, 11):
            cancelling = task.cancelling()
        watch = Watch(task, total, read, cancelling)
        self._watches.add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        self._watches.discard(watch)

    def fire_due(self, now: float) -> int:
        """Cancel the task of every attempt past its time at ``now``; how many there were."""
        fired = 0
        for watch in self._watches:
            if watch.fired is None:
                reason = watch.due(now)
                if reason is not None:
                    watch.fired = reason
                    watch.task.cancel()
                    fired += 1
        return fired

    async def _sweep(self) -> None:
        try:
            while self._watches:
                await asyncio.sleep(self._tick)
                self.fire_due(monotonic())
        finally:
            self._sweeper = None

    def close(self) -> None:
        """Stop the sweep (the transport is closing; no attempt is in flight)."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
