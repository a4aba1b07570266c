"""Finishing a small piece of work even when the caller is being cancelled.

Two things must survive cancellation: a submit whose POST is on the wire (its answer holds
the request id of a paid job) and the remote cancel sent on the way out of a cancelled wait.

An anyio shielded scope keeps anyio cancellations out, but users of plain asyncio cancel
with ``Task.cancel()``, which anyio cannot hold back. So the work runs in its own task,
behind ``asyncio.shield``, inside a shielded anyio scope, with a deadline; a cancellation
that arrives meanwhile is remembered and re-raised once the work is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import anyio

__all__ = ["finish_despite_cancellation", "shielded_scope"]

T = TypeVar("T")

# The class anyio.CancelScope(shield=True) builds on asyncio (the one backend aiohttp runs
# on), made directly: anyio's public constructor looks the backend up and runs __init__
# twice, a third of a scope's cost, once per submit of a batch. Found on first use: the
# backend's module takes as long to import as a third of aiohttp, and anyio itself loads
# it only when something first runs.
_scope_class: type[anyio.CancelScope] | None = None


def shielded_scope() -> anyio.CancelScope:
    """``anyio.CancelScope(shield=True)``, built the short way."""
    global _scope_class
    if _scope_class is None:
        try:
            from anyio._backends._asyncio import CancelScope as scope_class
        except ImportError:  # pragma: no cover - a future anyio that moved it
            _scope_class = anyio.CancelScope
        else:
            _scope_class = scope_class
    return _scope_class(shield=True)


async def finish_despite_cancellation(work: Awaitable[T], *, timeout: float | None) -> T:
    """Await ``work`` to the end (or its ``timeout``), even if the caller is cancelled.

    Returns:
        What ``work`` returned.

    Raises:
        Whatever ``work`` raised; ``TimeoutError`` if it ran past ``timeout``; and, after
        the work is over, the caller's own cancellation if one arrived meanwhile.
    """

    async def bounded() -> T:
        if timeout is None:
            return await work
        with anyio.fail_after(timeout):
            return await work

    task = asyncio.ensure_future(bounded())
    cancelled: asyncio.CancelledError | None = None
    with anyio.CancelScope(shield=True):
        while True:
            try:
                result = await asyncio.shield(task)
                break
            except asyncio.CancelledError as exc:
                if task.cancelled():
                    raise
                cancelled = exc
            except BaseException:
                if cancelled is not None:
                    raise cancelled from None
                raise
    if cancelled is not None:
        raise cancelled
    return result
