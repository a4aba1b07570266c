"""Events the library reports through hooks, for progress displays, logs and metrics.

Hooks are plain callables taking one event; they run on the event loop and must not block.
An exception raised by a hook is logged and swallowed: a broken progress bar must never
lose a paid job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .._constants import LOGGER_NAME

__all__ = ["RetryEvent", "call_hook"]

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


def call_hook(hook: Callable[[E], Any] | None, event: E) -> None:
    """Call ``hook(event)`` if there is a hook; log and swallow what it raises."""
    if hook is None:
        return
    try:
        hook(event)
    except Exception:
        _log.exception("an event hook raised; the event was %s", type(event).__name__)
