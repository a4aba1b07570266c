"""The state a batch's parts share, and the few steps they all take.

The submitter, the poller and the resume step each get this core; none of them calls into
another's internals. What they share: the options, the API layer, the store, the pending
jobs and their poll heap, the live counters, and the path from an input to its outcome
(:meth:`BatchCore.conclude`, then the finishers, then the consumer's stream).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._constants import REPEATED_ID_WINDOW
from ..api._api import Api
from ..core._errors import RunComfyError
from ..core._events import Hook, call_hook, fan_out
from ..core._lifecycle import InputState
from ..core._semaphore import Semaphore
from ..core._wire import JobResult
from ..http._retrying import CallHooks, RateLimitSignal
from ..policies.adaptive_poll import AdaptivePoll, PollPlanner
from ..policies.rate import AdaptiveRate, TokenBucket
from ._events import BatchProgress, JobCompleted, Phase, RateChanged
from ._item import Item
from ._options import MapOptions
from ._outcome import Outcome, Timings
from ._spend import PriceOf, Spend
from ._store import BatchStore

__all__ = ["BatchCore", "now", "receive", "send"]

T = TypeVar("T")


def now() -> datetime:
    return datetime.now(timezone.utc)


# anyio's receive() and send() always pass through the event loop once, even when the
# stream holds an item or has room: a full loop turn per call, several per job. On the
# batch's hot path the non-blocking forms are tried first.


async def receive(stream: MemoryObjectReceiveStream[T]) -> T:
    try:
        return stream.receive_nowait()
    except anyio.WouldBlock:
        return await stream.receive()


async def send(stream: MemoryObjectSendStream[T], item: T) -> None:
    try:
        stream.send_nowait(item)
    except anyio.WouldBlock:
        await stream.send(item)


class BatchCore:
    """Shared state and steps of one batch."""

    def __init__(
        self,
        api: Api,
        options: MapOptions,
        price_of: PriceOf | None = None,
        client_hook: Hook | None = None,
    ) -> None:
        self.api = api
        self.options = options
        self.store = BatchStore(options)
        self.progress = BatchProgress()
        budget = options.budget
        self.spend = Spend(
            self.progress, max_spend=budget.max_spend, assume_run_s=budget.assume_run_s,
            price_of=price_of if budget.estimating else None,
        )
        self.clock = time.monotonic
        self.planner: PollPlanner = options.poll or AdaptivePoll()
        limits = options.limits
        rate = limits.submit_rate or math.inf
        bucket = TokenBucket(rate=rate, burst=limits.submit_burst, clock=self.clock)
        self.rate = AdaptiveRate(bucket, max_rate=rate)
        # This batch's own hooks: requests, retries and 429s of its requests, and no one
        # else's. The client-wide hook hears those from the transport already; the job
        # events below go to both.
        self.hooks = CallHooks(on_event=options.on_event, on_rate_limited=self._on_rate_limited)
        self.on_event = fan_out(client_hook, options.on_event)
        self.journaled = options.journal is not None
        # Lean FIFO semaphores on the per-job path (core/_semaphore.py): anyio's limiters
        # track which task borrowed each token and asyncio's scan their waiters on every
        # acquire; slots are released by the consumer, not by the task that took them.
        self.slots = Semaphore(options.limits.max_in_flight)
        self.http = Semaphore(options.limits.max_concurrent_requests)
        self.batch_deadline = math.inf
        self.pending: dict[int, Item] = {}
        # The request ids the service gave this batch, with the input each was given for:
        # every pending job's, and the latest ended ones' (REPEATED_ID_WINDOW), so that a
        # repeat of an id whose job already ended is caught too while memory stays bounded
        # by what is in flight (a dict keeps insertion order: the oldest go first).
        self.given_ids: dict[str, int] = {}
        self._ended_ids: dict[str, int] = {}
        self.heap: list[tuple[float, int, Item]] = []
        self._seq = itertools.count()
        self.wake = asyncio.Event()
        self.live = 0
        self.inputs_done = False
        self.drained = anyio.Event()
        self.finish_send, self.finish_recv = anyio.create_memory_object_stream[Item](
            options.limits.max_in_flight + 1
        )
        self.out_send, self.out_recv = anyio.create_memory_object_stream[Outcome](
            options.limits.max_in_flight + 1
        )

    def close_streams(self) -> None:
        for stream in (self.finish_send, self.finish_recv, self.out_send, self.out_recv):
            stream.close()

    # --- Pending jobs --------------------------------------------------------------------

    def set_deadline(self, item: Item) -> None:
        if self.options.deadlines.job_timeout is not None:
            item.deadline = self.clock() + self.options.deadlines.job_timeout
        item.deadline = min(item.deadline, self.batch_deadline)

    def holder_of(self, request_id: str, index: int) -> int | None:
        """The index of another input the service already gave ``request_id`` in this batch
        (pending or ended), if any: the same id for two inputs is the service's anomaly."""
        holder = self.given_ids.get(request_id)
        if holder is None:
            holder = self._ended_ids.get(request_id)
        return holder if holder is not None and holder != index else None

    def forget(self, item: Item) -> None:
        """The item's job is no longer pending (it ended, or is being replaced); its id
        stays known for a while (resumed items' ids from earlier runs too)."""
        self.pending.pop(item.index, None)
        if item.request_id is not None:
            self.given_ids.pop(item.request_id, None)
            ended = self._ended_ids
            ended.setdefault(item.request_id, item.index)
            if len(ended) > REPEATED_ID_WINDOW:
                del ended[next(iter(ended))]

    def accepted(self, item: Item, request_id: str) -> None:
        """The service took the item's job: it is pending from now on."""
        item.request_id = request_id
        item.submitted_mono = self.clock()
        item.submitted_wall = now()
        self.set_deadline(item)
        self.pending[item.index] = item
        self.given_ids[request_id] = item.index
        self.progress.submits += 1
        self.move(item, Phase.QUEUED)

    def attach(self, item: Item, request_id: str, submitted_wall: datetime | None) -> None:
        """Start polling a job submitted by an earlier run (resume)."""
        item.request_id = request_id
        item.submitted_wall = submitted_wall
        age = (now() - submitted_wall).total_seconds() if submitted_wall else 0.0
        item.submitted_mono = self.clock() - max(0.0, age)
        self.set_deadline(item)
        self.pending[item.index] = item
        self.given_ids.setdefault(request_id, item.index)
        self.move(item, Phase.QUEUED)
        self.schedule(item, max(0.0, age))

    def schedule(self, item: Item, age: float) -> None:
        """Put the item on the heap to be polled at ``age`` (or at its deadline)."""
        due = min(item.submitted_mono + age, item.deadline)
        if not self.heap or due < self.heap[0][0]:
            self.wake.set()
        heapq.heappush(self.heap, (due, next(self._seq), item))

    def move(self, item: Item, phase: Phase) -> None:
        if phase is not item.phase:
            self.progress.move(item.phase, phase)
            item.phase = phase

    # --- Outcomes ------------------------------------------------------------------------

    async def conclude(
        self,
        item: Item,
        state: InputState,
        *,
        result: JobResult | None = None,
        error: RunComfyError | None = None,
        from_journal: bool = False,
        files: tuple[Any, ...] = (),
        timings: Timings | None = None,
    ) -> None:
        """Give the item its outcome and send it on to the finishers (or the consumer)."""
        item.done = True
        self.forget(item)
        self.spend.settle(item.held_usd, state, result)
        item.held_usd = None
        item.outcome = Outcome(
            index=item.index,
            input=item.given,
            model_id=item.model_id,
            request_id=item.request_id,
            state=state,
            result=result,
            error=error,
            attempts=item.attempts,
            timings=timings or Timings(
                submitted_at=item.submitted_wall,
                finished_at=result.finished_at if result is not None else None,
                detected_at=now(),
            ),
            files=files,
            from_journal=from_journal,
        )
        self.progress.move(item.phase, state)
        if from_journal:
            self.progress.from_journal += 1
        if self.store.active:
            await send(self.finish_send, item)
        else:
            self.deliver(item.outcome)

    def deliver(self, outcome: Outcome) -> None:
        """Hand an outcome to the consumer's stream (never full: slots bound it)."""
        if self.on_event is not None:
            call_hook(self.on_event, JobCompleted(outcome=outcome))
        self.out_send.send_nowait(outcome)
        self.live -= 1
        if self.live == 0 and self.inputs_done:
            self.drained.set()

    # --- This batch's hooks --------------------------------------------------------------

    def _on_rate_limited(self, signal: RateLimitSignal) -> None:
        # Only submits steer the submit rate: polls are paced by the planner, and a 429
        # on a poll says nothing about how fast new jobs may arrive.
        if not signal.is_submit:
            return
        before = self.rate.rate
        self.rate.on_rate_limited()
        if self.rate.rate != before:
            call_hook(self.on_event, RateChanged(rate=self.rate.rate))
