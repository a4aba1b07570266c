"""A FIFO semaphore whose uncontended acquire is one comparison.

``asyncio.Semaphore.acquire`` scans its waiters on every call (to skip cancelled ones), so
with hundreds of tasks queued behind a batch's request budget each acquire is O(waiters);
and its ``async with`` goes through two coroutine frames. Here a released permit is handed
straight to the first waiter, so ``value > 0`` already means "nobody waits", and a cancelled
waiter leaves the queue at once (or passes on a permit it was handed).
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

from ._validate import positive_int

__all__ = ["Semaphore"]


class Semaphore:
    """At most ``value`` holders at once; waiters are served first come, first served.

    Raises:
        ConfigurationError: ``value`` is not an integer >= 1.
    """

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: int) -> None:
        positive_int.check("value", value)  # ConfigurationError, as for every number
        self._value = value
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return f"<Semaphore free={self._value} waiting={len(self._waiters)}>"

    @property
    def free(self) -> int:
        """Permits free right now."""
        return self._value

    @property
    def waiting(self) -> int:
        """Tasks queued for a permit."""
        return len(self._waiters)

    def locked(self) -> bool:
        return self._value == 0

    async def acquire(self) -> None:
        if self._value > 0:
            self._value -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release()  # handed a permit, then cancelled: pass it on
            else:
                try:
                    self._waiters.remove(future)
                except ValueError:  # already skipped by a release
                    pass
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(None)  # the permit goes straight to the next waiter
                return
        self._value += 1

    async def __aenter__(self) -> None:
        if self._value > 0:
            self._value -= 1
            return
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._waiters:
            self.release()
        else:  # nobody waits (the common case): no call to release()
            self._value += 1
