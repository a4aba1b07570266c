"""Events the library reports through hooks, for progress displays, logs and metrics.

There is one hook protocol: a plain callable taking one event (``on_event``), given to the
client (it hears everything the client does: each request, each retry, each job submitted,
each state a poll saw, each job that ended, in ``run``/``wait`` and in batches alike) or to
one batch (``map(on_event=...)``: that batch's events only). Hooks run on the event loop and
must not block; what a hook raises is logged and swallowed (:func:`call_hook`), whichever
event it was: a broken progress bar must never lose a paid job.

The events of one request and its retries are here; those of jobs are in
:mod:`..batch._events` (the batch made them first; ``run`` and ``wait`` send the same ones).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .._constants import LOGGER_NAME

__all__ = ["Hook", "RequestFinished", "RetryEvent", "call_hook", "fan_out"]

_log = logging.getLogger(LOGGER_NAME)
E = TypeVar("E")


@attrs.frozen(kw_only=True)
class RetryEvent:
    """A request failed and will be tried again.

    Attributes:
        attempt: the attempt that failed (1-based).
        max_attempts: the policy's attempt cap.
        delay: seconds until the next attempt.
        reason: why it failed, one line.
        method, path: the request (path only, never headers or query).
        request_id, model_id: what the request concerned, when known.
    """

    attempt: int
    max_attempts: int
    delay: float
    reason: str
    method: str
    path: str
    request_id: str | None = None
    model_id: str | None = None


@attrs.frozen(kw_only=True)
class RequestFinished:
    """One attempt of an API request ended: with an answer the client used, or a failure.

    Attributes:
        method, path: the request (path only, never headers or query).
        status: for a failure, the HTTP status of the answer (None when none came); None
            for a success (a 2xx answer).
        seconds: how long the attempt took.
        attempt: its number among the call's attempts (1-based).
        error: why it failed, one line, when it did (a failure is an answer the client
            will not use: 4xx, 5xx, 429, a malformed body, or no answer at all).
        request_id, model_id: what the request concerned, when known.
    """

    method: str
    path: str
    status: int | None
    seconds: float
    attempt: int
    error: str | None = None
    request_id: str | None = None
    model_id: str | None = None


Hook = Callable[[Any], Any]
"""``on_event(event)``: one callable for every kind of event (see the module's docstring)."""


def fan_out(*hooks: Hook | None) -> Hook | None:
    """One hook that calls each given hook in turn (None when none is given)."""
    present = tuple(hook for hook in hooks if hook is not None)
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def every(event: Any) -> None:
        for hook in present:
            call_hook(hook, event)

    return every


def call_hook(hook: Callable[[E], Any] | None, event: E) -> None:
    """Call ``hook(event)`` if there is a hook; log and swallow what it raises."""
    if hook is None:
        return
    try:
        hook(event)
    except Exception:
        _log.exception("an event hook raised; the event was %s", type(event).__name__)
