"""Submitting a batch's inputs: one shielded attempt at a time, each one witnessed.

What happens to an input between being pulled and having a request id (or not):

- The submit rate and the shared request budget are waited for first; both waits, and the
  backoff between attempts, are cancellable at once.
- Each attempt is shielded from recording its intent to recording its answer
  (:class:`_JournalWitness`), so a teardown can never split a POST from its journal row.
- The answer decides the input's state (:mod:`.._lifecycle`): ``submitted``; ``refused``
  (the service said no; after 401/402/403 the whole batch stops, since no submit can
  succeed); ``unknown`` (reported, or resubmitted when asked); or, when no attempt got
  through before the job's deadline, ``not_sent``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from .._constants import BATCH_RETRY_FIRST_S, BATCH_RETRY_MAX_S, INLINE_FIRST_POLL_S, LOGGER_NAME
from ..api._api import Shield, SubmitWitness
from ..core._errors import (
    APIError,
    AuthenticationError,
    InsufficientBalanceError,
    InvalidInputError,
    PermissionDeniedError,
    RunComfyError,
    TransportError,
)
from ..core._events import call_hook
from ..core._job_errors import SubmitOutcomeUnknownError
from ..core._lifecycle import InputState
from ..core._wire import Job
from ._core import BatchCore
from ._events import JobSubmitted
from ._item import Item

__all__ = ["FATAL", "Submitter"]

_log = logging.getLogger(LOGGER_NAME)

# Refusals after which no further submit can succeed: the whole batch stops.
FATAL = (AuthenticationError, InsufficientBalanceError, PermissionDeniedError)


class _Witness(SubmitWitness):
    """Hears each attempt of one input inside the attempt's shield, and journals it."""

    def __init__(self, core: BatchCore, item: Item) -> None:
        self._core = core
        self._item = item
        self.refused_by_service = False

    async def sending(self, body: bytes) -> None:
        item = self._item
        if self._core.journaled:
            assert item.model_id is not None
            await self._core.store.intent(item.index, item.model_id, body)
            item.journaled = True

    async def accepted(self, job: Job) -> None:
        holder = self._core.holder_of(job.request_id, self._item.index)
        if holder is not None:
            # The service gave an id it already gave another input of this batch (whether
            # that input's job is pending or over): polling it would mix two inputs up, and
            # which job (if any) this submit created is unknown.
            unknown = SubmitOutcomeUnknownError(
                model_id=job.model_id or "?",
                fingerprint="",
                cause=f"the service answered with request id {job.request_id}, which it "
                f"had already given input {holder}",
            )
            await self.unknown(unknown)
            raise unknown
        # Pending before the journal write, so that a teardown that comes meanwhile still
        # finds the job to cancel.
        self._core.accepted(self._item, job.request_id)
        await self._core.store.submitted(
            self._item.index, job.request_id, self._item.submitted_wall
        )

    async def not_created(self, error: APIError | TransportError) -> None:
        await self._core.store.ended(self._item.index, InputState.NOT_SENT, error)

    async def refused(self, error: APIError) -> None:
        self.refused_by_service = True
        await self._core.store.ended(self._item.index, InputState.REFUSED, error)

    async def unknown(self, error: SubmitOutcomeUnknownError) -> None:
        _log.warning("input %d: %s", self._item.index, error)
        await self._core.store.ended(self._item.index, InputState.UNKNOWN, error)


class Submitter:
    """Takes an item from pulled to pending, or to its outcome.

    Args:
        core: the batch's shared state.
        poll_now: polls an item at once (a quick model's first poll is made by the
            submitting worker rather than passed through the heap).
    """

    def __init__(self, core: BatchCore, poll_now: Callable[[Item], Awaitable[None]]) -> None:
        self._core = core
        self._poll_now = poll_now

    def _submit_deadline(self, item: Item) -> float:
        """When an input that could not be submitted stops trying: the batch's deadline, or
        its job timeout counted from its first try, whichever comes first."""
        core = self._core
        deadline = core.batch_deadline
        if core.options.deadlines.job_timeout is not None:
            deadline = min(deadline, item.first_try + core.options.deadlines.job_timeout)
        return deadline

    async def submit(self, item: Item) -> None:
        core = self._core
        assert item.model_id is not None
        assert item.payload is not None
        # Money first: an input the budget (or an empty balance) holds back is never sent.
        spend = core.spend
        if spend.guards(item.held_usd):
            spend.release(item.held_usd)  # a resubmission replaces the earlier hold
            item.held_usd = None
            estimate = await spend.estimate(item.model_id, item.payload)
            held_back = spend.admit(estimate)
            if held_back is not None:
                await self._hold_back(item, held_back)
                return
            item.held_usd = estimate
        item.attempts += 1
        item.first_try = core.clock()  # the start of this input's not-submitted window
        witness = _Witness(core, item)
        deadline = self._submit_deadline(item)
        delay = BATCH_RETRY_FIRST_S
        last_error: RunComfyError | None = None
        while True:
            if core.clock() >= deadline:
                await self._never_sent(item, last_error)
                return
            wait = core.rate.reserve()
            if wait > 0:
                await anyio.sleep(wait)
            try:
                async with core.http:
                    await core.api.submit(
                        item.model_id, item.payload, witness=witness,
                        deadline=deadline, hooks=core.hooks,
                        shield=Shield.SCOPE,
                    )
            except InsufficientBalanceError as exc:
                # The account ran dry: no submit can succeed until a top-up, but the jobs in
                # flight are paid for already. Stop submitting, keep collecting.
                _log.error("input %d: %s; the batch stops submitting (the balance ran out) "
                           "and collects the jobs in flight", item.index, exc)
                core.spend.stop("balance", exc)
                await self._refused(item, exc)
                return
            except FATAL as exc:
                _log.error("input %d: %s; the batch stops (no submit can succeed)",
                           item.index, exc)
                raise
            except InvalidInputError as exc:  # e.g. over the request cap: nothing was sent
                with anyio.CancelScope(shield=True):
                    await core.store.not_created(item.index, item.model_id, item.payload,
                                                 InputState.REFUSED, exc)
                await core.conclude(item, InputState.REFUSED, error=exc)
                return
            except SubmitOutcomeUnknownError as exc:
                if core.options.resubmit.unknown:
                    _log.warning("input %d: resubmitting as asked (this may pay twice)",
                                 item.index)
                    item.attempts += 1
                    continue
                await core.conclude(item, InputState.UNKNOWN, error=exc)
                return
            except (APIError, TransportError) as exc:
                if witness.refused_by_service:
                    await self._refused(item, exc)
                    return
                # Certainly no job was created: wait and try again, until the deadline.
                last_error = exc
                _log.info("input %d: submit did not get through (%s); again in %.1f s",
                          item.index, exc, delay)
                await anyio.sleep(min(delay, max(0.0, deadline - core.clock())))
                delay = min(BATCH_RETRY_MAX_S, delay * 2)
                continue
            break
        core.rate.on_success()
        assert item.request_id is not None
        if core.on_event is not None:
            call_hook(core.on_event, JobSubmitted(
                index=item.index, model_id=item.model_id, request_id=item.request_id,
                attempt=item.attempts,
            ))
        first = core.planner.next_poll_at(item.model_id, 0.0, 0)
        wait = item.submitted_mono + first - core.clock()
        if wait <= INLINE_FIRST_POLL_S and item.submitted_mono + first < item.deadline:
            # A quick model: the first poll is due at once, so this worker makes it itself
            # rather than passing the job through the heap, the scheduler and a poll worker.
            if wait > 0.002:  # below that, a loop timer costs more than the wait
                await anyio.sleep(wait)
            await self._poll_now(item)
        else:
            core.schedule(item, first)

    async def _refused(self, item: Item, error: RunComfyError) -> None:
        core = self._core
        core.spend.release(item.held_usd)
        item.held_usd = None
        await core.conclude(item, InputState.REFUSED, error=error)

    async def _hold_back(self, item: Item, error: RunComfyError) -> None:
        """The input is not sent, for money: journaled and handed back ``over_budget``."""
        core = self._core
        with anyio.CancelScope(shield=True):
            await core.store.not_created(item.index, item.model_id, item.payload,
                                         InputState.OVER_BUDGET, error)
        await core.conclude(item, InputState.OVER_BUDGET, error=error)

    async def _never_sent(self, item: Item, last_error: RunComfyError | None) -> None:
        cause = f" (last: {last_error})" if last_error is not None else ""
        error = RunComfyError(
            f"input {item.index} was not submitted before its deadline (the service kept "
            f"declining or was unreachable){cause}; nothing was sent or paid, and a resumed "
            "batch submits it"
        )
        with anyio.CancelScope(shield=True):
            if not item.journaled:
                await self._core.store.not_created(
                    item.index, item.model_id, item.payload, InputState.NOT_SENT, error
                )
        await self._core.conclude(item, InputState.NOT_SENT, error=error)
