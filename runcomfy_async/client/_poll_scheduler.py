"""One poll scheduler per client: every ``wait`` and ``run`` takes its turn in one heap.

Before, each wait polled in a loop of its own: 500 concurrent ``run`` calls were 500
timers, each re-armed after every poll. Here a wait that has polled puts its next due time
on the client's heap and awaits a future; one task, the driver, sleeps until the earliest
due time and resolves the futures that are due. A poll itself is still made by the waiting
task, under the client's budget of polls in flight: its cancellation takes effect at once,
its ``on_update`` hook raises into its caller, and nothing has to be handed back.

Why a task, and why one that comes and goes: the client's injected ``sleep`` (exact tests
on a fake clock) is a coroutine function, which only a task can await; a timer callback
could not honour it. The driver is started by the first wait that joins and ends when the
last one leaves (``aclose`` stops it too): a client that is never closed leaves no task
pending, and a client whose event loop changes (one ``asyncio.run`` after another) starts
a fresh driver on the new loop instead of keeping one bound to a dead loop.

A wait that is cancelled while queued leaves a dead entry behind, removed when it reaches
the top of the heap or when dead entries make up half of it (as asyncio does with its
cancelled timers): a heap never holds more than twice the live waits, and nothing at all
once no wait is in progress.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging

import anyio

from .._constants import LOGGER_NAME
from ..core._errors import RunComfyError
from ..core._semaphore import Semaphore
from ..http._retrying import Clock, Sleep

__all__ = ["PollScheduler"]

_log = logging.getLogger(LOGGER_NAME)

_CLOSED = "this client is closed; create a new one"
_STOPPED = "the client's poll scheduler stopped (the log says why)"


class PollScheduler:
    """The heap of due polls, the one timer over it, and the budget of polls in flight.

    Args:
        clock: the client's monotonic clock (due times are on it).
        sleep: the client's sleep; the driver's only way to let time pass.
        budget: polls in flight at once, over every wait of the client.
    """

    def __init__(self, *, clock: Clock, sleep: Sleep, budget: int) -> None:
        self._clock = clock
        self._sleep = sleep
        self._budget_size = budget
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._queued = 0  # live entries in the heap
        self._dead = 0  # entries of waits that left before their turn
        self._active = 0  # waits in progress (queued, polling, or between the two)
        self._driver: asyncio.Task[None] | None = None
        self._nap: anyio.CancelScope | None = None
        self._budget = Semaphore(budget)
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<PollScheduler active={self._active} queued={self._queued} "
            f"running={self.running}>"
        )

    # --- What tests and the curious may read ---------------------------------------------

    @property
    def active(self) -> int:
        """Waits in progress on this client."""
        return self._active

    @property
    def queued(self) -> int:
        """Waits whose next poll is on the heap."""
        return self._queued

    @property
    def heap_size(self) -> int:
        """Entries on the heap, dead ones included (at most twice ``queued``, or one more)."""
        return len(self._heap)

    @property
    def running(self) -> bool:
        """Whether the driver task is alive."""
        return self._driver is not None and not self._driver.done()

    @property
    def budget(self) -> Semaphore:
        """Held by a wait for the one request of each poll."""
        return self._budget

    # --- Joining, waiting one's turn, leaving ----------------------------------------------

    def join(self) -> asyncio.AbstractEventLoop:
        """A wait starts; returns the loop it runs on, to be given back to :meth:`leave`.

        Raises:
            RunComfyError: the client is closed.
        """
        if self._closed:
            raise RunComfyError(_CLOSED)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        self._active += 1
        return loop

    def leave(self, loop: asyncio.AbstractEventLoop) -> None:
        """A wait is over (whichever way it ended)."""
        if loop is not self._loop:
            return  # it joined on a loop that has been replaced since
        self._active -= 1
        if self._active == 0:
            # Only dead entries can be left: drop them, and let the driver end.
            self._heap.clear()
            self._queued = self._dead = 0
            self._poke()

    async def until(self, due: float) -> None:
        """Return once the clock has reached ``due``, woken by the driver.

        Only for a wait that has joined. Cancellation takes effect at once; the entry left
        behind is counted dead and dropped soon.
        """
        assert self._loop is not None, "join() first"
        future: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._heap, (due, next(self._seq), future))
        self._queued += 1
        if self._heap[0][2] is future:
            self._poke()  # earlier than what the driver sleeps towards
        if self._driver is None or self._driver.done():
            self._driver = self._loop.create_task(self._drive(), name="runcomfy-poll-scheduler")
        try:
            await future
        except BaseException:
            # A task cancelled while it awaits a future cancels that future too; a future
            # resolved by the driver (or failed by aclose) was already counted out.
            if future.cancelled():
                self._queued -= 1
                self._dead += 1
                if 2 * self._dead >= len(self._heap):
                    self._heap = [entry for entry in self._heap if not entry[2].done()]
                    heapq.heapify(self._heap)
                    self._dead = 0
            raise

    async def aclose(self) -> None:
        """Stop the driver; waits still queued fail with the client-closed error."""
        self._closed = True
        self._fail_queued(_CLOSED)
        driver, self._driver = self._driver, None
        if driver is None or driver.done():
            return
        try:
            same_loop = driver.get_loop() is asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - aclose is awaited, so a loop runs
            same_loop = False
        if same_loop:
            driver.cancel()
            await asyncio.wait([driver])

    # --- The driver ------------------------------------------------------------------------

    async def _drive(self) -> None:
        """Wake each queued wait at its due time; end when no wait is in progress."""
        try:
            while self._active > 0:
                now = self._clock()
                heap = self._heap
                while heap and (heap[0][2].done() or heap[0][0] <= now):
                    future = heapq.heappop(heap)[2]
                    if future.done():
                        self._dead -= 1
                    else:
                        future.set_result(None)
                        self._queued -= 1
                # One sleep towards the earliest due time, cut short (by _poke) when an
                # earlier one arrives or the last wait leaves.
                with anyio.CancelScope() as self._nap:
                    if heap:
                        await self._sleep(heap[0][0] - now)
                    else:
                        await anyio.sleep_forever()
                self._nap = None
        except Exception:  # a bug: say so here, since nobody awaits this task
            _log.exception("the client's poll scheduler stopped")
        finally:
            self._nap = None
            # Ended by aclose, by the loop's shutdown or by a bug: no queued wait may be
            # left waiting for a driver that is gone.
            self._fail_queued(_CLOSED if self._closed else _STOPPED)

    def _poke(self) -> None:
        if self._nap is not None:
            self._nap.cancel()

    def _fail_queued(self, message: str) -> None:
        for _, _, future in self._heap:
            if not future.done():
                future.set_exception(RunComfyError(message))
        self._heap.clear()
        self._queued = self._dead = 0

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start afresh on a new event loop: what belonged to the old one cannot be awaited."""
        self._loop = loop
        self._heap = []
        self._queued = self._dead = self._active = 0
        self._driver = None
        self._nap = None
        self._budget = Semaphore(self._budget_size)
