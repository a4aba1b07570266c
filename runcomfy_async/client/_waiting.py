"""Waiting for one job: polls on a schedule, under a deadline, cancelling what nobody collects.

``timeout`` is a deadline: every poll and every retry below it stops there. When it passes,
one last look is taken (at most ``WAIT_LAST_LOOK_S``) and, if the job may still be queued,
it is cancelled (at most ``CANCEL_ON_EXIT_TIMEOUT_S``, through any 429 cool-down: a cancel is
cheap and saves a paid job). Until then, failures that leave the job where it was
(connection errors, 5xx, 429, unreadable answers) are polled through.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import anyio

from .._constants import CANCEL_ON_EXIT_TIMEOUT_S, LOGGER_NAME, WAIT_LAST_LOOK_S
from ..api._api import Api
from ..core._errors import (
    MalformedResponseError,
    RateLimitedError,
    RunComfyError,
    ServerError,
    TransportError,
)
from ..core._job_errors import JobCancelledError, JobFailedError, WaitTimeoutError
from ..core._wire import JobResult, JobState
from ..http._retrying import Clock, Sleep
from ..http._shield import finish_despite_cancellation
from ..policies import PollSchedule

__all__ = ["Waiter"]

_log = logging.getLogger(LOGGER_NAME)

# Poll failures that leave the job where it was: a wait with a deadline polls through them.
_POLL_THROUGH = (TransportError, ServerError, RateLimitedError, MalformedResponseError)


class _WaitExpired(Exception):
    """Internal: the wait's deadline passed."""


class Waiter:
    """Waits for jobs through one API layer, with an injectable clock, sleep and randomness."""

    def __init__(
        self,
        api: Api,
        *,
        clock: Clock,
        sleep: Sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._api = api
        self._clock = clock
        self._sleep = sleep
        self._rand = rand

    async def wait_until(
        self,
        rid: str,
        deadline: float | None,
        timeout: float | None,
        schedule: PollSchedule,
        include_cost: bool,
        raise_on_failure: bool,
        on_update: Callable[[JobResult], Any] | None,
        *,
        cancel_on_exit: bool,
    ) -> JobResult:
        last: JobResult | None = None
        polls = 0
        last_look = False
        try:
            while True:
                poll_deadline = deadline
                if last_look and deadline is not None:
                    poll_deadline = deadline + WAIT_LAST_LOOK_S
                try:
                    answer = await self._api.result(
                        rid, include_cost=include_cost, deadline=poll_deadline
                    )
                except _POLL_THROUGH:
                    if deadline is None:
                        raise
                    answer = None
                if answer is not None:
                    if on_update is not None and (last is None or answer.state is not last.state):
                        on_update(answer)
                    last = answer
                    if answer.state.is_terminal:
                        return self._finish(answer, raise_on_failure)
                if last_look:
                    raise _WaitExpired
                delay = schedule.delay(polls, self._rand)
                polls += 1
                if deadline is not None:
                    remaining = deadline - self._clock()
                    if delay >= remaining:
                        # Sleep to the deadline, then take one last look before giving up.
                        delay, last_look = max(remaining, 0.0), True
                await self._sleep(delay)
        except _WaitExpired:
            state = last.state if last is not None else None
            cancelled = None
            if cancel_on_exit:
                cancelled = await self.cancel_if_queued(rid, state, reason="wait timed out")
            raise WaitTimeoutError(
                request_id=rid,
                timeout=float(timeout or 0.0),
                last_state=state,
                cancelled_remotely=cancelled,
            ) from None
        except anyio.get_cancelled_exc_class():
            if cancel_on_exit:
                state = last.state if last is not None else None
                await finish_despite_cancellation(
                    self.cancel_if_queued(rid, state, reason="the waiting task was cancelled"),
                    timeout=CANCEL_ON_EXIT_TIMEOUT_S + 1.0,
                )
            raise

    @staticmethod
    def _finish(result: JobResult, raise_on_failure: bool) -> JobResult:
        if raise_on_failure:
            if result.state is JobState.FAILED:
                raise JobFailedError(result)
            if result.state is JobState.CANCELLED:
                raise JobCancelledError(
                    f"job {result.request_id} was cancelled", request_id=result.request_id
                )
        return result

    async def cancel_if_queued(
        self, request_id: str, state: JobState | None, *, reason: str
    ) -> bool | None:
        """Cancel the job if it may still be queued; True if cancelled, False if not, None
        if it was not tried (the job is running or over: cancelling cannot succeed).

        The cancel goes out even during a 429 cool-down (one cheap request that saves a
        paid job) and takes at most ``CANCEL_ON_EXIT_TIMEOUT_S``.
        """
        if state is not None and state not in (JobState.QUEUED, JobState.UNKNOWN):
            if not state.is_terminal:
                _log.warning(
                    "%s; job %s is %s and cannot be cancelled: it will finish and be billed",
                    reason,
                    request_id,
                    state.value,
                )
            return None
        try:
            with anyio.fail_after(CANCEL_ON_EXIT_TIMEOUT_S):
                answer = await self._api.cancel(
                    request_id,
                    deadline=self._clock() + CANCEL_ON_EXIT_TIMEOUT_S,
                    ignore_cooldown=True,
                )
        except (RunComfyError, TimeoutError) as exc:
            _log.warning(
                "%s; cancelling job %s failed (%s): it may still run and be billed",
                reason,
                request_id,
                exc,
            )
            return False
        if answer.cancelled:
            _log.info("%s; job %s was still queued and has been cancelled", reason, request_id)
            return True
        _log.warning(
            "%s; job %s could not be cancelled (%s): it will finish and be billed",
            reason,
            request_id,
            answer.raw_outcome or answer.outcome.value,
        )
        return False
