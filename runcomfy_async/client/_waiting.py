"""Waiting for jobs: each wait takes its turns in the client's one poll scheduler.

``timeout`` is a deadline: every poll and every retry below it stops there. When it passes,
one last look is taken (at most ``WAIT_LAST_LOOK_S``) and, if the job may still be queued,
it is cancelled (at most ``CANCEL_ON_EXIT_TIMEOUT_S``, through any 429 cool-down: a cancel is
cheap and saves a paid job). Until then, failures that leave the job where it was
(connection errors, 5xx, 429, unreadable answers) are polled through.

Each poll is one request under the client's budget of polls in flight. A failed one is
retried as the transport would retry it (the client's retry policy, ``Retry-After``, the
``on_retry`` hook), but from the scheduler's heap: no wait sleeps in a retry loop of its own,
and none holds a place in the budget while it waits. During a 429 cool-down, polls wait on
the heap for its end rather than in the transport.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import anyio
import attrs

from .._constants import (
    CANCEL_ON_EXIT_TIMEOUT_S,
    LOGGER_NAME,
    WAIT_LAST_LOOK_S,
    WAIT_MAX_CONCURRENT_POLLS,
    WAIT_MAX_SHARE_PER_POLL,
    WAIT_TARGET_LAG_FRACTION,
)
from ..api._api import Api
from ..batch._events import JobEnded, JobStateChanged
from ..core._errors import (
    MalformedResponseError,
    RateLimitedError,
    RunComfyError,
    ServerError,
    TransportError,
)
from ..core._events import Hook, RetryEvent, call_hook, fan_out
from ..core._job_errors import JobCancelledError, JobFailedError, WaitTimeoutError
from ..core._wire import JobResult, JobState
from ..http._retrying import Clock, Sleep
from ..http._shield import finish_despite_cancellation
from ..policies import Attempt, FailureKind, PollSchedule
from ..policies.adaptive_poll import AdaptivePoll
from ._pacing import Learner, Pacing
from ._poll_scheduler import PollScheduler

__all__ = ["Waiter"]

_log = logging.getLogger(LOGGER_NAME)

# Poll failures that leave the job where it was: a wait with a deadline polls through them.
_POLL_THROUGH = (TransportError, ServerError, RateLimitedError, MalformedResponseError)


class _WaitExpired(Exception):
    """Internal: the wait's deadline passed."""


class _CoolingDown(Exception):
    """Internal: the client is in a 429 cool-down for ``seconds`` more."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _Failures:
    """A wait's run of failed polls, judged by the client's retry policy as the transport
    would judge a run of failed attempts."""

    __slots__ = ("count", "since")

    def __init__(self) -> None:
        self.count = 0
        self.since = 0.0


class Waiter:
    """Waits for jobs through one API layer and one poll scheduler.

    Args:
        api: the client's API layer.
        clock, sleep, rand: injectable time and randomness (``sleep`` is the scheduler's).
        schedule: the client's own schedule, if it was given one: then every wait follows
            a schedule; without it, a wait that knows its model (``run``) learns.
        budget: polls in flight at once over every wait.
    """

    def __init__(
        self,
        api: Api,
        *,
        clock: Clock,
        sleep: Sleep,
        rand: Callable[[], float] = random.random,
        schedule: PollSchedule | None = None,
        budget: int = WAIT_MAX_CONCURRENT_POLLS,
    ) -> None:
        self._api = api
        self._clock = clock
        self._rand = rand
        self._schedule = schedule or PollSchedule()
        self.scheduler = PollScheduler(clock=clock, sleep=sleep, budget=budget)
        # Until a model has a few finished jobs, its waits poll on the default schedule.
        self.learner = None if schedule is not None else Learner(AdaptivePoll(
            target_lag_fraction=WAIT_TARGET_LAG_FRACTION,
            max_share_per_poll=WAIT_MAX_SHARE_PER_POLL,
            cold=self._schedule, clock=clock, rand=rand,
        ))
        self._policy = api.transport.retry
        # One attempt per poll; the policy's other rules (Retry-After, cool-downs) stay.
        self._one_attempt = attrs.evolve(self._policy, max_attempts=1)
        self._cooldown = api.transport.retrier.cooldown
        self._on_event = api.transport.retrier.on_event  # the client-wide hook

    async def aclose(self) -> None:
        await self.scheduler.aclose()

    async def wait_until(
        self,
        rid: str,
        deadline: float | None,
        timeout: float | None,
        schedule: PollSchedule | None,
        include_cost: bool,
        raise_on_failure: bool,
        on_event: Hook | None,
        *,
        cancel_on_exit: bool,
        model_id: str | None = None,
    ) -> JobResult:
        """Poll until the job is over; see ``AsyncRunComfy.wait``.

        ``schedule`` None means: learn from ``model_id``'s jobs (a ``run`` that just had its
        job accepted) when this waiter learns, else follow the client's schedule.
        """
        loop = self.scheduler.join()
        if schedule is None and (self.learner is None or model_id is None):
            schedule = self._schedule
        pacing = Pacing(
            self._clock, schedule, self._rand,
            learner=self.learner if schedule is None else None,
            model_id=model_id, submitted=self._clock(),
        )
        last: JobResult | None = None
        try:
            hook = fan_out(self._on_event, on_event)
            last = await self._poll_until_over(
                rid, deadline, timeout, pacing, include_cost, hook, cancel_on_exit
            )
            call_hook(hook, JobEnded(request_id=rid, model_id=model_id, result=last))
            return self._finish(last, raise_on_failure)
        finally:
            pacing.over(last)
            self.scheduler.leave(loop)

    async def _poll_until_over(
        self,
        rid: str,
        deadline: float | None,
        timeout: float | None,
        pacing: Pacing,
        include_cost: bool,
        hook: Hook | None,
        cancel_on_exit: bool,
    ) -> JobResult:
        last: JobResult | None = None
        failures = _Failures()
        last_look = False
        due = pacing.first()
        try:
            while True:
                if deadline is not None and due >= deadline and not last_look:
                    # Wait up to the deadline, then take one last look before giving up.
                    due, last_look = deadline, True
                if due > self._clock():
                    await self.scheduler.until(due)
                poll_deadline = deadline
                if last_look and deadline is not None:
                    poll_deadline = deadline + WAIT_LAST_LOOK_S
                try:
                    answer = await self._poll(rid, include_cost, poll_deadline)
                except _CoolingDown as cooling:
                    # A 429 cool-down is waited out on the heap, not in the transport.
                    due = self._clock() + cooling.seconds
                    if last_look and poll_deadline is not None and due >= poll_deadline:
                        raise _WaitExpired from None
                    continue
                except _POLL_THROUGH as exc:
                    if last_look:
                        raise _WaitExpired from None
                    due = self._after_failure(rid, exc, failures, deadline, pacing)
                    continue
                failures.count = 0
                if answer is not None:
                    if hook is not None and (last is None or answer.state is not last.state):
                        call_hook(hook, JobStateChanged(
                            index=None, request_id=rid, state=answer.state,
                            raw_state=answer.raw_state,
                        ))
                    last = answer
                    if answer.state.is_terminal:
                        return answer
                if last_look:
                    raise _WaitExpired
                due = pacing.next()
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

    async def _poll(
        self, rid: str, include_cost: bool, deadline: float | None
    ) -> JobResult | None:
        """One request for the job's result, in the budget; None if no place came in time.

        Raises:
            _CoolingDown: the client is in a 429 cool-down; nothing was sent.
        """
        budget = self.scheduler.budget
        if budget.locked() and deadline is not None:
            # Every place is taken: wait for one, but not past the deadline.
            with anyio.move_on_after(max(deadline - self._clock(), 0.0)) as scope:
                await budget.acquire()
            if scope.cancelled_caught:
                return None
        else:
            await budget.acquire()
        try:
            # Checked with the place in hand: a 429 may have come while this poll waited.
            cooling = self._cooldown.remaining()
            if cooling > 0:
                raise _CoolingDown(cooling)
            return await self._api.result(
                rid, include_cost=include_cost, deadline=deadline, policy=self._one_attempt
            )
        finally:
            budget.release()

    def _after_failure(
        self,
        rid: str,
        exc: RunComfyError,
        failures: _Failures,
        deadline: float | None,
        pacing: Pacing,
    ) -> float:
        """When to poll again after a failed poll; raises ``exc`` when the policy gives up
        on a wait without a deadline (with one, the wait goes on until the deadline)."""
        now = self._clock()
        if failures.count == 0:
            failures.since = now
        failures.count += 1
        retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
        if isinstance(exc, RateLimitedError):
            kind = FailureKind.RATE_LIMITED
        elif isinstance(exc, TransportError):
            kind = FailureKind.MAYBE_SENT
        else:
            kind = FailureKind.SERVER_ERROR
        decision = self._policy.decide(
            Attempt(number=failures.count, elapsed=now - failures.since, kind=kind,
                    retry_after=retry_after, status=getattr(exc, "status", None)),
            self._rand,
        )
        if not decision.retry:
            if deadline is None:
                raise exc
            # As the transport would have raised to the old wait loop: back on the schedule.
            failures.count = 0
            _log.info("job %s: poll failed (%s); polling on", rid, exc)
            return pacing.next()
        path = f"/requests/{rid}/result"
        _log.info("retry %d/%d in %.2f s: %s (GET %s)", failures.count,
                  self._policy.max_attempts, decision.delay, decision.reason, path)
        call_hook(self._on_event, RetryEvent(
            attempt=failures.count, max_attempts=self._policy.max_attempts,
            delay=decision.delay, reason=decision.reason, method="GET", path=path,
            request_id=rid,
        ))
        return now + decision.delay

    @staticmethod
    def _finish(result: JobResult, raise_on_failure: bool) -> JobResult:
        if result.missing_outputs:
            _log.warning("job %s succeeded but named no output URL (see the raw result); "
                         "result.missing_outputs is set", result.request_id)
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
