"""Retrying one API call under the caller's deadline, with the client-wide 429 cool-down.

Why a deadline and not only the policy's own budget: a caller's ``wait(timeout=5)`` must end
in about 5 s, whatever the retry policy would otherwise allow (6 attempts, 300 s). So every
sleep here (the cool-down before an attempt, the backoff after one) is cut at the deadline,
and a retry that could not start before it is not made: the last error is raised instead.

Nothing here is shielded. The one piece of work that must survive cancellation, a submit's
single attempt from sending its body to reading the answer, is shielded by its caller
(:mod:`._api`); cool-downs, backoff sleeps and the wait for a pooled connection stay
cancellable at once.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import attrs

from .._constants import COOLDOWN_DEFAULT_S, LOGGER_NAME
from ..core._errors import APIError, RateLimitedError, RequestTimeoutError, TransportError
from ..core._events import RequestFinished, RetryEvent, call_hook
from ..policies import Attempt, FailureKind, RetryPolicy

__all__ = ["CallHooks", "Cooldown", "Failure", "RateLimitSignal", "Retrier"]

_log = logging.getLogger(LOGGER_NAME)
T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@attrs.frozen
class RateLimitSignal:
    """A 429 arrived: the cool-down it started, and whether it answered a submit."""

    cooldown: float
    is_submit: bool


@attrs.frozen
class CallHooks:
    """Who hears about one call's requests, retries and 429s: the caller that made the call.

    A batch passes its own, so that its events are about its own requests only.
    ``on_event`` hears a :class:`RequestFinished` per attempt and a :class:`RetryEvent`
    before each retry.
    """

    on_event: Callable[[Any], Any] | None = None
    on_rate_limited: Callable[[RateLimitSignal], Any] | None = None


NO_HOOKS = CallHooks()


class Failure(Exception):
    """One attempt failed: what kind of failure (for the policy) and the typed error.

    Internal to the HTTP layer: callers of :class:`Retrier` see only ``error``.
    """

    def __init__(
        self,
        kind: FailureKind,
        error: APIError | TransportError,
        *,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(kind.value)
        self.kind = kind
        self.error = error
        self.retry_after = retry_after
        self.status = status


class Cooldown:
    """The client-wide pause after a 429: no request of the client goes out before it ends."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.until = 0.0

    def remaining(self) -> float:
        return self.until - self._clock() if self.until else 0.0

    def extend(self, seconds: float) -> None:
        self.until = max(self.until, self._clock() + seconds)


@attrs.frozen(kw_only=True)
class Retrier:
    """Runs attempts until one succeeds, the policy gives up, or the deadline comes.

    Attributes:
        policy: when and how long to wait.
        cooldown: the client's shared 429 cool-down.
        on_event: the client-wide hook (beside each call's own): a
            :class:`RequestFinished` per attempt, a :class:`RetryEvent` before each retry.
        clock, sleep, rand: injectable for exact tests.
    """

    policy: RetryPolicy
    cooldown: Cooldown
    on_event: Callable[[Any], Any] | None = None
    clock: Clock = time.monotonic
    sleep: Sleep = anyio.sleep
    rand: Callable[[], float] = random.random

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        method: str,
        path: str,
        is_submit: bool = False,
        deadline: float | None = None,
        hooks: CallHooks = NO_HOOKS,
        ignore_cooldown: bool = False,
        policy: RetryPolicy | None = None,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> T:
        """Call ``attempt`` until it returns; return what it returned.

        ``attempt`` raises :class:`Failure` for what the policy should judge; anything
        else it raises goes straight to the caller.

        Args:
            deadline: a time on ``clock`` after which no attempt starts and no sleep lasts.
            ignore_cooldown: send even during a 429 cool-down (teardown cancels: a cancel
                is cheap and saves a paid job).
            policy: overrides the client's policy for this call.

        Raises:
            The last attempt's typed error when the policy gives up or the deadline comes.
        """
        policy = policy or self.policy
        end = math.inf if deadline is None else deadline
        started = self.clock()
        number = 0
        last: Failure | None = None
        while True:
            number += 1
            if not ignore_cooldown:
                wait = self.cooldown.remaining()
                if wait > 0:
                    if self.clock() + wait >= end:
                        raise _deadline_error(last, method, path, request_id, model_id)
                    await self.sleep(wait)
            if self.clock() >= end:
                raise _deadline_error(last, method, path, request_id, model_id)
            heard = self.on_event is not None or hooks.on_event is not None
            began = self.clock() if heard else 0.0
            try:
                answer = await attempt()
            except Failure as failure:
                if heard:
                    self._finished(hooks, RequestFinished(
                        method=method, path=path, status=failure.status,
                        seconds=self.clock() - began, attempt=number, error=str(failure.error),
                        request_id=request_id, model_id=model_id,
                    ))
                last = failure
                decision = policy.decide(
                    Attempt(
                        number=number,
                        elapsed=self.clock() - started,
                        kind=failure.kind,
                        is_submit=is_submit,
                        retry_after=failure.retry_after,
                        status=failure.status,
                    ),
                    self.rand,
                )
                if failure.kind is FailureKind.RATE_LIMITED:
                    delay = self._cool_down(policy, failure.retry_after)
                    call_hook(hooks.on_rate_limited, RateLimitSignal(delay, is_submit))
                if not decision.retry:
                    if isinstance(failure.error, RateLimitedError):
                        failure.error.gave_up = decision.reason
                    raise failure.error from None
                if self.clock() + decision.delay >= end:
                    raise failure.error from None
                _log.info("retry %d/%d in %.2f s: %s (%s %s)", number, policy.max_attempts,
                          decision.delay, decision.reason, method, path)
                event = RetryEvent(
                    attempt=number, max_attempts=policy.max_attempts, delay=decision.delay,
                    reason=decision.reason, method=method, path=path,
                    request_id=request_id, model_id=model_id,
                )
                self._finished(hooks, event)
                await self.sleep(decision.delay)
            else:
                if heard:
                    self._finished(hooks, RequestFinished(
                        method=method, path=path, status=None, seconds=self.clock() - began,
                        attempt=number, request_id=request_id, model_id=model_id,
                    ))
                return answer

    def _finished(self, hooks: CallHooks, event: RequestFinished | RetryEvent) -> None:
        call_hook(self.on_event, event)
        call_hook(hooks.on_event, event)

    def _cool_down(self, policy: RetryPolicy, retry_after: float | None) -> float:
        if not policy.honour_retry_after:
            return 0.0
        delay = retry_after if retry_after is not None else COOLDOWN_DEFAULT_S
        delay = min(delay, policy.retry_after_cap)
        self.cooldown.extend(delay)
        return delay


def _deadline_error(
    last: Failure | None,
    method: str,
    path: str,
    request_id: str | None,
    model_id: str | None,
) -> Exception:
    if last is not None:
        return last.error
    return RequestTimeoutError(
        "the caller's deadline passed before the request could be sent (nothing was sent)",
        method=method, path=path, request_id=request_id, model_id=model_id,
    )
