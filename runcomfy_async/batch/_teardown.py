"""Leaving a batch early: cancel what is still queued, and say what could not be.

Only the batch's own jobs are cancelled (those it submitted; a collected job is someone
else's). Cancels go out through any 429 cool-down and within ``cancel_timeout``: a cancel
is cheap and saves a paid job. A job cancelled while queued is journaled ``withdrawn``, so
that a resumed batch submits its input again (it never ran and was never billed).
"""

from __future__ import annotations

import logging

import anyio

from .._constants import BATCH_CANCEL_CONCURRENCY, BATCH_STOP_IDS_LOGGED, LOGGER_NAME
from ..core._errors import JournalError
from ..core._events import call_hook
from ..core._lifecycle import InputState
from ..core._wire import JobState
from ._core import BatchCore
from ._events import CancelReport
from ._item import Item
from ._poller import Poller

__all__ = ["cancel_pending"]

_log = logging.getLogger(LOGGER_NAME)


async def cancel_pending(core: BatchCore, poller: Poller) -> CancelReport | None:
    """Cancel still-queued jobs of an interrupted batch; report what could not be."""
    # Only the batch's own jobs: a collected one is someone else's, left as it is.
    pending = [item for item in core.pending.values() if not item.done and item.owned]
    if not pending:
        return None
    cancelled: list[str] = []
    not_cancelled: list[str] = []
    limiter = anyio.CapacityLimiter(BATCH_CANCEL_CONCURRENCY)
    deadline = core.clock() + core.options.deadlines.cancel

    async def cancel_one(item: Item) -> None:
        assert item.request_id is not None
        if item.state not in (None, JobState.QUEUED, JobState.UNKNOWN):
            not_cancelled.append(item.request_id)
            return
        async with limiter:
            ok = await poller.cancel(item.request_id, deadline)
        if ok:
            cancelled.append(item.request_id)
            # Journaled, so that a resumed batch submits the input again: its job never
            # ran and was never billed. A journal that cannot be written (a full disk) is
            # logged here, not raised: the other cancels still get their chance.
            try:
                await core.store.ended(item.index, InputState.WITHDRAWN, None)
            except JournalError as exc:
                _log.error("job %s was cancelled, but the journal could not record it: %s",
                           item.request_id, exc)
        else:
            not_cancelled.append(item.request_id)

    with anyio.move_on_after(core.options.deadlines.cancel):
        async with anyio.create_task_group() as tg:
            for item in pending:
                tg.start_soon(cancel_one, item)
    reached = set(cancelled) | set(not_cancelled)
    not_cancelled += [i.request_id for i in pending if i.request_id not in reached
                      and i.request_id is not None]
    report = CancelReport(cancelled=tuple(cancelled), not_cancelled=tuple(not_cancelled))
    _log.warning(
        "batch stopped early: %d queued job(s) cancelled; %d could not be (running or "
        "unreachable; they will finish and be billed%s): %s",
        len(cancelled), len(not_cancelled),
        "; resuming with the same journal collects them" if core.options.journal else "",
        ", ".join(not_cancelled[:BATCH_STOP_IDS_LOGGED])
        + (" ..." if len(not_cancelled) > BATCH_STOP_IDS_LOGGED else ""),
    )
    call_hook(core.on_event, report)
    return report
