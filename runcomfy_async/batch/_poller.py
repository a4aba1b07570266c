"""Polling a batch's pending jobs: one heap, one timer, a fixed set of poll workers.

Each poll is a single attempt (no retry loop holds a worker): a failure that leaves the job
where it was is answered by polling again later, with backoff, until the job's deadline.
When the deadline passes, a job that may still be queued is cancelled (even during a 429
cool-down: a cancel is cheap and saves a paid job): cancelled, it is ``withdrawn``;
running, or not cancellable, it is ``timed_out`` and a resumed batch collects it.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable

import anyio

from .._constants import (
    CANCEL_ON_EXIT_TIMEOUT_S,
    LOGGER_NAME,
)
from ..core._errors import (
    InvalidInputError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    RunComfyError,
    ServerError,
    TransportError,
)
from ..core._events import call_hook
from ..core._job_errors import JobCancelledError, JobFailedError, WaitTimeoutError
from ..core._lifecycle import InputState
from ..core._wire import JobResult, JobState
from ..policies import RetryPolicy
from ._core import BatchCore, receive, send
from ._events import JobStateChanged, Phase
from ._item import Item
from ._submitter import FATAL

__all__ = ["Poller"]

_log = logging.getLogger(LOGGER_NAME)

# Poll errors after which the job is still out there: poll it again later.
_POLL_AGAIN = (TransportError, ServerError, RateLimitedError, MalformedResponseError)
_ONE_ATTEMPT = RetryPolicy.never()
_STATE_PHASE = {JobState.RUNNING: Phase.RUNNING}
_MAY_BE_QUEUED = (None, JobState.QUEUED, JobState.UNKNOWN)


class Poller:
    """Polls pending jobs when due, and ends them when they are over or out of time.

    Args:
        core: the batch's shared state.
        resubmit: submits an item again (a failed job, when resubmission was asked for).
    """

    def __init__(self, core: BatchCore, resubmit: Callable[[Item], Awaitable[None]]) -> None:
        self._core = core
        self._resubmit = resubmit
        self._due_send, self._due_recv = anyio.create_memory_object_stream[Item](0)

    def close(self) -> None:
        self._due_send.close()
        self._due_recv.close()

    async def scheduler(self) -> None:
        """Hand each pending job to the poll workers when its poll is due.

        One timer for the earliest due time, re-armed when an earlier one arrives: no
        sleeping task per job, and no cancel scope per wait.
        """
        core = self._core
        loop = asyncio.get_running_loop()
        heap = core.heap
        while True:
            # A fresh event before looking at the heap, so that no wake-up is lost.
            core.wake = asyncio.Event()
            now = core.clock()
            while heap and heap[0][0] <= now:
                item = heapq.heappop(heap)[2]
                if not item.done:
                    await send(self._due_send, item)
                now = core.clock()
            timer = loop.call_later(heap[0][0] - now, core.wake.set) if heap else None
            try:
                await core.wake.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    async def worker(self) -> None:
        while True:
            item = await receive(self._due_recv)
            if not item.done:
                await self.poll(item)

    async def poll(self, item: Item) -> None:
        core = self._core
        assert item.request_id is not None
        assert item.model_id is not None
        rid = item.request_id
        try:
            async with core.http:
                result = await core.api.result(
                    rid, include_cost=core.options.include_cost, deadline=item.deadline,
                    hooks=core.hooks, policy=_ONE_ATTEMPT,
                )
        except FATAL:
            raise
        except (NotFoundError, InvalidInputError) as exc:
            # Gone, or an id (from an old or edited journal) that may not go into a URL.
            await core.conclude(item, InputState.EXPIRED, error=exc)
            return
        except _POLL_AGAIN as exc:
            item.poll_errors += 1
            # As the transport would have waited before retrying, but without holding a
            # worker: what the service asked for (Retry-After), else the client's backoff.
            retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
            delay = (
                retry_after if retry_after is not None
                else core.api.transport.retry.backoff(item.poll_errors)
            )
            _log.info("job %s: poll failed (%s); again in %.1f s", rid, exc, delay)
            if core.clock() >= item.deadline:
                await self.time_out(item)
            else:
                core.schedule(item, core.clock() - item.submitted_mono + delay)
            return
        item.poll_errors = 0
        item.polls += 1
        core.progress.polls += 1
        if result.state is not item.state:
            item.state = result.state
            if core.on_event is not None:
                call_hook(core.on_event, JobStateChanged(
                    index=item.index, request_id=rid, state=result.state,
                    raw_state=result.raw_state,
                ))
        if result.state.is_terminal:
            await self._job_over(item, result)
            return
        core.move(item, _STATE_PHASE.get(result.state, Phase.QUEUED))
        if core.clock() >= item.deadline:
            await self.time_out(item)
            return
        age = core.clock() - item.submitted_mono
        core.schedule(item, core.planner.next_poll_at(item.model_id, age, item.polls))

    async def _job_over(self, item: Item, result: JobResult) -> None:
        core = self._core
        assert item.model_id is not None
        if result.created_at is not None and result.finished_at is not None:
            duration = (result.finished_at - result.created_at).total_seconds()
        else:
            duration = core.clock() - item.submitted_mono
        if result.state in (JobState.SUCCEEDED, JobState.FAILED):
            core.planner.observe(item.model_id, duration)
        if result.state is JobState.SUCCEEDED:
            if not result.outputs:
                _log.warning("input %d: job %s succeeded but named no output URL (see the "
                             "raw result); outcome.missing_outputs is set",
                             item.index, result.request_id)
            await core.conclude(item, InputState.SUCCEEDED, result=result)
        elif result.state is JobState.FAILED:
            if item.attempts <= core.options.resubmit.failed:
                _log.info("input %d: job %s failed; resubmitting (%d of %d)", item.index,
                          item.request_id, item.attempts, core.options.resubmit.failed)
                with anyio.CancelScope(shield=True):
                    await core.store.job_over(item.index, InputState.FAILED, result, None)
                core.forget(item)
                core.spend.settle(item.held_usd, InputState.FAILED, result)
                item.held_usd = None
                item.request_id, item.state, item.polls = None, None, 0
                await self._resubmit(item)
                return
            await core.conclude(item, InputState.FAILED, result=result,
                                error=JobFailedError(result))
        else:
            await core.conclude(
                item, InputState.CANCELLED, result=result,
                error=JobCancelledError(f"job {result.request_id} was cancelled",
                                        request_id=result.request_id),
            )

    async def time_out(self, item: Item) -> None:
        """The item's deadline passed with its job unfinished: cancel it if still queued."""
        core = self._core
        assert item.request_id is not None
        cancelled: bool | None = None
        if item.owned and item.state in _MAY_BE_QUEUED:
            cancelled = await self.cancel(item.request_id,
                                          core.clock() + CANCEL_ON_EXIT_TIMEOUT_S)
        error = WaitTimeoutError(
            request_id=item.request_id,
            timeout=core.clock() - item.submitted_mono,
            last_state=item.state,
            cancelled_remotely=cancelled,
        )
        state = InputState.WITHDRAWN if cancelled else InputState.TIMED_OUT
        await core.conclude(item, state, error=error)

    async def cancel(self, request_id: str, deadline: float) -> bool:
        """Cancel one job by ``deadline``, through the cool-down; True if it was cancelled."""
        try:
            answer = await self._core.api.cancel(
                request_id, deadline=deadline, hooks=self._core.hooks, ignore_cooldown=True
            )
        except RunComfyError as exc:
            _log.warning("cancelling job %s failed: %s", request_id, exc)
            return False
        return answer.cancelled
