"""The batch engine behind ``client.map``.

Shape (no task per job; a fixed set of workers whatever the batch size)::

    inputs ──► submit workers ──► heap of pending jobs ──► scheduler ──► poll workers
     (lazy)    (slot, rate,        (due time, seq)         (pops due)    (GET /result)
               journal intent,                                               │
               POST, request id)                                             ▼
                                        consumer ◄── outcome stream ◄── finishers
                                  (releases the slot)                (journal, files)

- A slot (``max_in_flight``) is taken before an input is pulled and given back only when
  its outcome has been handed to the consumer, so memory and money at stake stay bounded
  whatever the input size, and inputs are pulled only as fast as outcomes are consumed.
- One limiter (``max_concurrent_requests``) is shared by submits, polls and cancels.
- A submit's POST, once on the wire, runs to its end even if the batch is being torn
  down: its answer holds the request id of a paid job.

Why ``async with client.map(...) as outcomes`` rather than a bare async generator: the
workers live in a task group, and a task group must be entered and exited by the same
task, around the consumer's own code. An async generator that yields from inside a task
group breaks that (the consumer's ``break`` leaves the group open until garbage collection,
and cancellations cross into the wrong task). The ``async with`` form makes the batch's
lifetime visible: when the block ends, by ``break``, an exception or cancellation, nothing
is left running, queued jobs are cancelled, and a report says what could not be.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

from .._constants import (
    ATTACHED_MODEL_ID,
    BATCH_FINISHERS,
    LOGGER_NAME,
)
from ..api._api import Api
from ..core._errors import InvalidInputError
from ..core._events import Hook
from ..core._inputs import check_model_id, check_request_id
from ..core._job_errors import BatchAbortedError
from ..core._lifecycle import InputState
from ..http._transport import encode_body
from ._attach import Attach
from ._core import BatchCore, receive
from ._events import BatchProgress, CancelReport
from ._inputs import split_input
from ._item import Item
from ._options import MapOptions
from ._outcome import Outcome
from ._poller import Poller
from ._resume import JournalReader, Resumer
from ._spend import PriceOf, StopReason
from ._submitter import Submitter
from ._teardown import cancel_pending

__all__ = ["Batch"]

_log = logging.getLogger(LOGGER_NAME)


class Batch:
    """A running batch: an async context manager and, inside it, an async iterator of
    :class:`Outcome` in completion order (or input order with ``ordered=True``).

    Made by :meth:`AsyncRunComfy.map`; see :class:`MapOptions` for its knobs. It needs
    only the typed API layer and an input check, not the client.

    Attributes:
        progress: live counters.
        cancel_report: after an early stop, what was cancelled and what could not be.
    """

    def __init__(
        self,
        api: Api,
        validate: Callable[[str, Mapping[str, Any]], Awaitable[None]],
        model_id: str | None,
        inputs: Iterable[Any] | AsyncIterable[Any],
        options: MapOptions,
        price_of: PriceOf | None = None,
        client_hook: Hook | None = None,
    ) -> None:
        if model_id is not None:
            check_model_id(model_id)
        if not isinstance(inputs, (Iterable, AsyncIterable)) or isinstance(
            inputs, (str, bytes, Mapping)
        ):
            raise TypeError(
                "inputs must be an iterable or async iterable of inputs (not a single "
                f"mapping or string), got {type(inputs).__name__}"
            )
        self._validate = validate
        self._model_id = model_id
        self._inputs = inputs
        self.options = options
        self._core = core = BatchCore(api, options, price_of, client_hook)
        self.progress: BatchProgress = core.progress
        self.cancel_report: CancelReport | None = None
        self._poller = Poller(core, resubmit=self._resubmit)
        self._submitter = Submitter(core, poll_now=self._poller.poll)
        self._journal = JournalReader(core)
        self._resumer = Resumer(core)
        self._entered = False
        self._tg: TaskGroup | None = None
        self._pull_lock = anyio.Lock()
        # The inputs' iterator: one of the two, set on entry (typed apart, so that a pull
        # tests an attribute rather than an isinstance() against an ABC each time).
        self._source: Iterator[Any] | None = None
        self._async_source: AsyncIterator[Any] | None = None
        self._next_index = 0
        self._exhausted = False
        self._orphans_done = False
        self._reorder: dict[int, Outcome] = {}
        self._next_emit = 0

    @property
    def stopped(self) -> StopReason | None:
        """Why the batch stopped submitting before its inputs ran out, if it did: its
        budget (``max_spend``) or the account's balance. The jobs in flight were still
        collected; the inputs held back ended ``over_budget``."""
        return self._core.spend.stopped

    def __repr__(self) -> str:
        return f"<Batch model_id={self._model_id!r} progress={self.progress.snapshot()}>"

    # --- Lifetime ------------------------------------------------------------------------

    async def __aenter__(self) -> Batch:
        if self._entered:
            raise RuntimeError("a batch can be entered only once; call client.map again")
        self._entered = True
        core = self._core
        if self.options.deadlines.batch is not None:
            core.batch_deadline = core.clock() + self.options.deadlines.batch
        try:
            await core.store.open()
            await self._journal.start()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await core.store.aclose()
            self._close_streams()
            raise
        if isinstance(self._inputs, AsyncIterable):
            self._async_source = aiter(self._inputs)
        else:
            self._source = iter(self._inputs)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        failure: BaseException | None = None
        try:
            await self._tg.__aexit__(exc_type, exc, tb)
        except BaseException as raised:  # an ExceptionGroup from a worker, or cancellation
            failure = raised
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    self.cancel_report = await cancel_pending(self._core, self._poller)
                finally:
                    await self._core.store.aclose()
            self._close_streams()
        if failure is not None:
            root = _root_error(failure)
            if root is not None and root is not failure:
                raise root from failure
            raise failure
        return None

    def _close_streams(self) -> None:
        self._core.close_streams()
        self._poller.close()

    def __aiter__(self) -> Batch:
        if not self._entered:
            raise TypeError(
                "use the batch as a context manager: "
                "`async with client.map(...) as outcomes: async for outcome in outcomes: ...`"
            )
        return self

    async def __anext__(self) -> Outcome:
        out = self._core.out_recv
        if self.options.ordered:
            while self._next_emit not in self._reorder:
                try:
                    outcome = await receive(out)
                except anyio.EndOfStream:
                    if self._reorder:  # inputs beyond this run's, or gaps: in index order
                        self._next_emit = min(self._reorder)
                        break
                    raise StopAsyncIteration from None
                self._reorder[outcome.index] = outcome
            outcome = self._reorder.pop(self._next_emit)
            self._next_emit += 1
        else:
            try:
                outcome = await receive(out)
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
        self._core.slots.release()
        if self.options.fail_fast and not outcome.ok:
            raise BatchAbortedError(outcome)
        return outcome

    # --- The workers ---------------------------------------------------------------------

    async def _run(self) -> None:
        core = self._core
        opts = self.options
        submitters = min(opts.limits.max_concurrent_requests, opts.limits.max_in_flight)
        async with anyio.create_task_group() as background:
            background.start_soon(self._poller.scheduler)
            for _ in range(opts.limits.max_concurrent_requests):
                background.start_soon(self._poller.worker)
            if core.store.active:
                for _ in range(BATCH_FINISHERS):
                    background.start_soon(self._finisher)
            async with anyio.create_task_group() as feeders:
                for _ in range(submitters):
                    feeders.start_soon(self._submit_worker)
            core.inputs_done = True
            if core.live == 0:
                core.drained.set()
            await core.drained.wait()
            background.cancel_scope.cancel()
        await core.out_send.aclose()

    async def _submit_worker(self) -> None:
        core = self._core
        while True:
            await core.slots.acquire()
            item = await self._pull()
            if item is None:
                core.slots.release()
                return
            core.live += 1
            core.progress.waiting += 1  # (an item starts in Phase.WAITING)
            await self._start(item)

    async def _pull(self) -> Item | None:
        """The next input, or None when there are no more (or the deadline passed)."""
        if self._exhausted:
            return await self._pull_orphan()
        if self._core.clock() >= self._core.batch_deadline:
            self._exhausted = self._orphans_done = True
            return None
        if self._async_source is not None:
            # Only an async source can be awaited half-way through a pull by two workers.
            async with self._pull_lock:
                try:
                    given = await anext(self._async_source)
                except StopAsyncIteration:
                    self._exhausted = True
                else:
                    index = self._next_index
                    self._next_index += 1
            if self._exhausted:
                return await self._pull_orphan()
        else:
            assert self._source is not None
            try:
                given = next(self._source)
            except StopIteration:
                self._exhausted = True
                return await self._pull_orphan()
            index = self._next_index
            self._next_index += 1
        item = self._make_item(index, given)
        if self._journal.knows(index):
            item.entry = await self._journal.entry(index)
        return item

    async def _pull_orphan(self) -> Item | None:
        """After the inputs: an input the journal knows beyond them, as an item."""
        if self._orphans_done:
            return None
        async with self._pull_lock:
            entry = await self._journal.beyond(self._next_index)
            if entry is None:
                self._orphans_done = True
                return None
            self._next_index = entry.index + 1
        _log.warning("input %d is in the journal but not among this run's inputs; %s",
                     entry.index, "collecting its job" if entry.request_id else "reporting it")
        payload = dict(entry.input)
        return Item(index=entry.index, given=payload, model_id=entry.model_id,
                    payload=payload, entry=entry, orphan=True)

    def _make_item(self, index: int, given: Any) -> Item:
        if isinstance(given, Attach):
            return self._attached_item(index, given)
        item = Item(index=index, given=given)
        try:
            item.model_id, item.payload = split_input(self._model_id, given)
        except InvalidInputError as exc:
            item.problem = exc
        return item

    def _attached_item(self, index: int, given: Attach) -> Item:
        payload = dict(given.input or {})
        item = Item(index=index, given=given, payload=payload, owned=False,
                    model_id=given.model_id or self._model_id or ATTACHED_MODEL_ID)
        try:
            item.attach_id = check_request_id(given.request_id)
        except InvalidInputError as exc:
            item.problem = exc
        return item

    async def _start(self, item: Item) -> None:
        """Take an item from pulled to pending (or straight to its outcome)."""
        core = self._core
        if item.entry is not None and await self._resumer.handle(item):
            return
        if item.attach_id is not None:
            await self._attach(item, item.attach_id)
            return
        if item.problem is None and self.options.validate and item.model_id and item.payload:
            try:
                await self._validate(item.model_id, item.payload)
            except InvalidInputError as exc:
                item.problem = exc
        if item.problem is not None:
            with anyio.CancelScope(shield=True):
                await core.store.not_created(item.index, item.model_id, item.payload,
                                             InputState.REFUSED, item.problem)
            await core.conclude(item, InputState.REFUSED, error=item.problem)
            return
        await self._submitter.submit(item)

    async def _attach(self, item: Item, request_id: str) -> None:
        """Collect a job submitted elsewhere; journaled as submitted, so a resume collects it."""
        core = self._core
        assert item.model_id is not None
        if core.journaled:
            with anyio.CancelScope(shield=True):
                await core.store.intent(item.index, item.model_id, encode_body(
                    item.payload or {}, model_id=item.model_id))
                await core.store.submitted(item.index, request_id, None)
        item.attempts = 0
        item.held_usd = await core.spend.hold(item.model_id, item.payload)
        core.attach(item, request_id, None)

    async def _resubmit(self, item: Item) -> None:
        await self._submitter.submit(item)

    async def _finisher(self) -> None:
        core = self._core
        async for item in core.finish_recv:
            outcome = item.outcome
            assert outcome is not None
            # The journal write is shielded (short, and the truth a resume starts from);
            # downloads are not: the journal already says what is left to fetch.
            with anyio.CancelScope(shield=True):
                await core.store.record_outcome(outcome)
            finished = await core.store.download(outcome)
            with anyio.CancelScope(shield=True):
                await core.store.record_files(outcome, finished)
            core.deliver(finished)

def _root_error(error: BaseException) -> BaseException | None:
    """The first real error in an exception group (not a cancellation), if any."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _root_error(inner)
            if found is not None:
                return found
        return None
    if isinstance(error, anyio.get_cancelled_exc_class()):
        return None
    return error
