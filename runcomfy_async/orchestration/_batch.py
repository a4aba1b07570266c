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

import asyncio
import heapq
import itertools
import logging
import math
import sys
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._constants import LOGGER_NAME
from .._errors import (
    AuthenticationError,
    BatchAbortedError,
    ConnectionFailedError,
    InputProblem,
    InsufficientBalanceError,
    InvalidInputError,
    InvalidRequestError,
    JobCancelledError,
    JobFailedError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    RunComfyError,
    ServerError,
    SubmitOutcomeUnknownError,
    TransportError,
    WaitTimeoutError,
)
from .._events import RetryEvent, call_hook
from .._inputs import ModelInput, check_model_id, resolve_input
from .._transport import RateLimitSignal
from .._wire import JobResult, JobState, input_fingerprint, parse_job, parse_result
from ..policies.adaptive_poll import AdaptivePoll, PollPlanner
from ..policies.rate import AdaptiveRate, TokenBucket
from ._events import (
    BatchProgress,
    CancelReport,
    JobCompleted,
    JobStateChanged,
    JobSubmitted,
    Phase,
    RateChanged,
)
from ._options import MapOptions
from ._outcome import Outcome, OutcomeState, Timings
from ._resume import BatchStore

if TYPE_CHECKING:
    from .._client import AsyncRunComfy

__all__ = ["Batch"]

_log = logging.getLogger(LOGGER_NAME)
T = TypeVar("T")

# Errors after which no further submit can succeed: the whole batch stops.
_FATAL = (AuthenticationError, InsufficientBalanceError, PermissionDeniedError)
# Submit errors that certainly created no job: the submit is tried again later.
_NOT_SUBMITTED = (ConnectionFailedError, RequestTimeoutError, RateLimitedError, ServerError)
# Poll errors after which the job is still out there: poll it again later.
_POLL_AGAIN = (TransportError, ServerError, RateLimitedError, MalformedResponseError)
# Backoff between retries of a submit that could not get through, and of failing polls.
_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 30.0
# How many workers finish outcomes (journal writes, downloads) at once.
_FINISHERS = 8
_INCLUDE_COST = {"include_cost": "true"}
# A first poll due within this many seconds of the submit is made by the submit worker.
_INLINE_FIRST_POLL_S = 0.005
# A wait shorter than this is not worth a loop timer (which costs more than the wait).
_NOT_WORTH_A_TIMER_S = 0.002
# The most cancels sent at once when a batch stops early.
_CANCEL_CONCURRENCY = 16

_STATE_PHASE = {
    JobState.QUEUED: Phase.QUEUED,
    JobState.RUNNING: Phase.RUNNING,
    JobState.UNKNOWN: Phase.QUEUED,
}
_OUTCOME_PHASE = {state: Phase(state.value) for state in OutcomeState}


def _now() -> datetime:
    return datetime.now(timezone.utc)


# anyio's receive() and send() always pass through the event loop once, even when the
# stream holds an item or has room: a full loop turn per call, several per job. On the
# batch's hot path the non-blocking forms are tried first.


async def _receive(stream: MemoryObjectReceiveStream[T]) -> T:
    try:
        return stream.receive_nowait()
    except anyio.WouldBlock:
        return await stream.receive()


async def _send(stream: MemoryObjectSendStream[T], item: T) -> None:
    try:
        stream.send_nowait(item)
    except anyio.WouldBlock:
        await stream.send(item)


@attrs.define(eq=False)
class _Item:
    """One input on its way through the batch (held only while it has a slot)."""

    index: int
    given: Any
    model_id: str | None = None
    payload: dict[str, Any] | None = None
    problem: InvalidInputError | None = None
    resume: Any = None  # a JournalEntry when a resumed batch has one for this index
    attempts: int = 0
    request_id: str | None = None
    submitted_mono: float = 0.0
    submitted_wall: datetime | None = None
    deadline: float = math.inf
    polls: int = 0
    poll_errors: int = 0
    first_try: float = 0.0
    state: JobState | None = None
    phase: Phase = Phase.WAITING
    done: bool = False
    outcome: Outcome | None = None


class Batch:
    """A running batch: an async context manager and, inside it, an async iterator of
    :class:`Outcome` in completion order (or input order with ``ordered=True``).

    Made by :meth:`AsyncRunComfy.map`; see :class:`MapOptions` for its knobs.

    Attributes:
        progress: live counters.
        cancel_report: after an early stop, what was cancelled and what could not be.
    """

    def __init__(
        self,
        client: AsyncRunComfy,
        model_id: str | None,
        inputs: Iterable[Any] | AsyncIterable[Any],
        options: MapOptions,
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
        self._client = client
        self._transport = client._transport
        self._model_id = model_id
        self._inputs = inputs
        self.options = options
        self.progress = BatchProgress()
        self.cancel_report: CancelReport | None = None
        self._planner: PollPlanner = options.poll or AdaptivePoll()
        self._clock = time.monotonic
        bucket = TokenBucket(
            rate=options.submit_rate or math.inf, burst=options.submit_burst, clock=self._clock
        )
        self._rate = AdaptiveRate(bucket, max_rate=options.submit_rate or math.inf)
        self._store = BatchStore(options)
        # Read once: the hot path checks these for every job.
        self._journaled = options.journal is not None
        self._on_event = options.on_event
        self._entered = False
        self._tg: TaskGroup | None = None
        # Plain asyncio semaphores on the per-job path: anyio's limiters also track which
        # task borrowed each token, a cost paid several times per job that nothing here
        # needs (slots are released by the consumer, not by the task that took them).
        self._slots = asyncio.Semaphore(options.max_in_flight)
        self._http = asyncio.Semaphore(options.max_concurrent_requests)
        self._pull_lock = anyio.Lock()
        self._source: Iterator[Any] | AsyncIterator[Any] | None = None
        self._replay: deque[_Item] = deque()
        self._next_index = 0
        self._exhausted = False
        self._batch_deadline = math.inf
        self._heap: list[tuple[float, int, _Item]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._pending: dict[int, _Item] = {}
        self._live = 0
        self._inputs_done = False
        self._drained = anyio.Event()
        self._due_send, self._due_recv = anyio.create_memory_object_stream[_Item](0)
        self._finish_send, self._finish_recv = anyio.create_memory_object_stream[_Item](
            options.max_in_flight + 1
        )
        self._out_send, self._out_recv = anyio.create_memory_object_stream[Outcome](
            options.max_in_flight + 1
        )
        self._reorder: dict[int, Outcome] = {}
        self._next_emit = 0

    def __repr__(self) -> str:
        return f"<Batch model_id={self._model_id!r} progress={self.progress.snapshot()}>"

    # --- Lifetime ------------------------------------------------------------------------

    async def __aenter__(self) -> Batch:
        if self._entered:
            raise RuntimeError("a batch can be entered only once; call client.map again")
        self._entered = True
        if self.options.deadline is not None:
            self._batch_deadline = self._clock() + self.options.deadline
        await self._store.open()
        try:
            self._source = (
                aiter(self._inputs)
                if isinstance(self._inputs, AsyncIterable)
                else iter(self._inputs)
            )
            await self._prepare_resume()
        except BaseException:
            await self._store.aclose()
            raise
        self._transport.rate_limit_listeners.add(self._on_rate_limited)
        self._transport.retry_listeners.add(self._on_retry)
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
            self._transport.rate_limit_listeners.discard(self._on_rate_limited)
            self._transport.retry_listeners.discard(self._on_retry)
            with anyio.CancelScope(shield=True):
                await self._cancel_pending()
                await self._store.aclose()
        if failure is not None:
            root = _root_error(failure)
            if root is not failure and root is not None:
                raise root from failure
            raise failure
        return None

    def __aiter__(self) -> Batch:
        if not self._entered:
            raise TypeError(
                "use the batch as a context manager: "
                "`async with client.map(...) as outcomes: async for outcome in outcomes: ...`"
            )
        return self

    async def __anext__(self) -> Outcome:
        if self.options.ordered:
            while self._next_emit not in self._reorder:
                try:
                    outcome = await _receive(self._out_recv)
                except anyio.EndOfStream:
                    if self._reorder:  # pragma: no cover - would mean a lost index
                        raise RuntimeError("batch ended with outcomes out of order") from None
                    raise StopAsyncIteration from None
                self._reorder[outcome.index] = outcome
            outcome = self._reorder.pop(self._next_emit)
            self._next_emit += 1
        else:
            try:
                outcome = await _receive(self._out_recv)
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
        self._slots.release()
        if self.options.fail_fast and not outcome.ok:
            raise BatchAbortedError(outcome)
        return outcome

    # --- The workers ---------------------------------------------------------------------

    async def _run(self) -> None:
        opts = self.options
        submitters = min(opts.max_concurrent_requests, opts.max_in_flight)
        async with anyio.create_task_group() as background:
            background.start_soon(self._scheduler)
            for _ in range(opts.max_concurrent_requests):
                background.start_soon(self._poll_worker)
            if self._store.active:
                for _ in range(_FINISHERS):
                    background.start_soon(self._finisher)
            async with anyio.create_task_group() as feeders:
                for _ in range(submitters):
                    feeders.start_soon(self._submit_worker)
            self._inputs_done = True
            if self._live == 0:
                self._drained.set()
            await self._drained.wait()
            background.cancel_scope.cancel()
        await self._out_send.aclose()

    async def _pull(self) -> _Item | None:
        """The next input, or None when there are no more (or the deadline passed)."""
        if self._replay:
            return self._replay.popleft()
        if self._exhausted or self._source is None:
            return None
        if self._clock() >= self._batch_deadline:
            self._exhausted = True
            return None
        if isinstance(self._source, AsyncIterator):
            # Only an async source can be awaited half-way through a pull by two workers.
            async with self._pull_lock:
                try:
                    given = await anext(self._source)
                except StopAsyncIteration:
                    self._exhausted = True
                    return None
        else:
            try:
                given = next(self._source)
            except StopIteration:
                self._exhausted = True
                return None
        item = self._make_item(self._next_index, given)
        self._next_index += 1
        return item

    def _make_item(self, index: int, given: Any) -> _Item:
        item = _Item(index=index, given=given)
        try:
            model, payload = self._split(given)
            item.model_id, item.payload = resolve_input(model, payload)
        except InvalidInputError as exc:
            item.problem = exc
        except TypeError as exc:
            item.problem = InvalidInputError([InputProblem("input", given, str(exc))])
        return item

    def _split(self, given: Any) -> tuple[Any, Any]:
        """(model, input) from one element of ``inputs``."""
        if self._model_id is not None and isinstance(given, dict):
            return self._model_id, given  # the common case, without Protocol checks
        if isinstance(given, ModelInput) and not isinstance(given, Mapping):
            return (given, None) if self._model_id is None else (self._model_id, given)
        if (
            self._model_id is None
            and isinstance(given, tuple)
            and len(given) == 2
            and isinstance(given[0], str)
        ):
            return given[0], given[1]
        if self._model_id is None:
            raise InvalidInputError(
                [InputProblem("input", given, "with model_id=None, a typed input or a "
                              "(model_id, input) pair")]
            )
        return self._model_id, given

    async def _submit_worker(self) -> None:
        while True:
            await self._slots.acquire()
            item = await self._pull()
            if item is None:
                self._slots.release()
                return
            self._live += 1
            self.progress.move(None, Phase.WAITING)
            await self._start(item)

    async def _start(self, item: _Item) -> None:
        """Take an item from pulled to pending (or straight to its outcome)."""
        if item.resume is not None:
            handled = await self._store.resume_item(self, item)
            if handled:
                return
        if item.problem is None and self.options.validate and item.model_id and item.payload:
            try:
                await self._client.validate(item.model_id, item.payload)
            except InvalidInputError as exc:
                item.problem = exc
        if item.problem is not None:
            await self._store.record_invalid(item)
            await self._conclude(item, OutcomeState.REJECTED, error=item.problem)
            return
        await self._submit(item)

    async def _submit(self, item: _Item) -> None:
        assert item.model_id is not None
        assert item.payload is not None
        item.attempts += 1
        item.first_try = self._clock()  # the start of this attempt's not-submitted window
        delay = _RETRY_FIRST_S
        while True:
            if self._expired(item):
                await self._conclude(
                    item, OutcomeState.ERROR,
                    error=RunComfyError(
                        f"input {item.index} was not submitted before its deadline "
                        "(the service kept refusing or was unreachable); nothing was paid"
                    ),
                )
                return
            wait = self._rate.reserve()
            if wait > 0:
                await anyio.sleep(wait)
            try:
                # The intent, the POST and its answer form one step that a teardown cannot
                # split: an intent left without its POST would be reported "outcome unknown"
                # on resume although nothing was sent, and a POST on the wire may create a
                # paid job whose id must be kept. (Teardown is an anyio cancellation, which
                # the shield holds back; the transport's timeouts bound the wait.)
                with anyio.CancelScope(shield=True):
                    if self._journaled:
                        await self._store.record_intent(item)
                    await self._http.acquire()
                    try:
                        body = await self._transport.request(
                            "POST", f"/models/{item.model_id}", body=item.payload,
                            is_submit=True, model_id=item.model_id,
                        )
                    finally:
                        self._http.release()
                job = parse_job(body, model_id=item.model_id)
            except _FATAL:
                raise
            except SubmitOutcomeUnknownError as exc:
                await self._store.record_unknown(item, exc)
                if self.options.resubmit_unknown:
                    _log.warning("input %d: submit outcome unknown; resubmitting as asked (%s)",
                                 item.index, exc)
                    item.attempts += 1
                    continue
                await self._conclude(item, OutcomeState.SUBMIT_UNKNOWN, error=exc)
                return
            except MalformedResponseError as exc:
                # The server answered the POST, but not with a request id: a job may exist.
                unknown = SubmitOutcomeUnknownError(
                    model_id=item.model_id,
                    fingerprint=input_fingerprint(item.model_id, item.payload),
                    cause=exc,
                )
                await self._store.record_unknown(item, unknown)
                await self._conclude(item, OutcomeState.SUBMIT_UNKNOWN, error=unknown)
                return
            except (InvalidRequestError, InvalidInputError, NotFoundError) as exc:
                await self._store.record_rejected(item, exc)
                await self._conclude(item, OutcomeState.REJECTED, error=exc)
                return
            except _NOT_SUBMITTED as exc:
                # Certainly no job was created: wait and try again, until the deadline.
                _log.info("input %d: submit did not get through (%s); again in %.1f s",
                          item.index, exc, delay)
                await anyio.sleep(delay)
                delay = min(_RETRY_MAX_S, delay * 2)
                continue
            break
        self._rate.on_success()
        item.request_id = job.request_id
        item.submitted_mono = self._clock()
        item.submitted_wall = _now()
        if self.options.job_timeout is not None:
            item.deadline = item.submitted_mono + self.options.job_timeout
        item.deadline = min(item.deadline, self._batch_deadline)
        self._pending[item.index] = item
        # Recorded after the item is pending, so that an early stop that interrupts this
        # write still finds the job to cancel; the journal write itself is shielded.
        if self._journaled:
            with anyio.CancelScope(shield=True):
                await self._store.record_submitted(item)
        self.progress.submits += 1
        self.progress.move(item.phase, Phase.QUEUED)
        item.phase = Phase.QUEUED
        if self._on_event is not None:
            call_hook(self._on_event, JobSubmitted(
                index=item.index, model_id=item.model_id, request_id=job.request_id,
                attempt=item.attempts,
            ))
        first = self._planner.next_poll_at(item.model_id, 0.0, 0)
        wait = item.submitted_mono + first - self._clock()
        if wait <= _INLINE_FIRST_POLL_S and item.submitted_mono + first < item.deadline:
            # A quick model: the first poll is due at once, so this worker makes it itself
            # rather than passing the job through the heap, the scheduler and a poll worker.
            if wait > _NOT_WORTH_A_TIMER_S:
                await asyncio.sleep(wait)  # a few ms: no cancel scope needed around it
            await self._poll(item)
        else:
            self._schedule(item, first)

    def attach(self, item: _Item, request_id: str, submitted_wall: datetime | None) -> None:
        """Start polling a job submitted by an earlier run (resume)."""
        item.request_id = request_id
        item.submitted_wall = submitted_wall
        age = (_now() - submitted_wall).total_seconds() if submitted_wall else 0.0
        item.submitted_mono = self._clock() - max(0.0, age)
        if self.options.job_timeout is not None:
            item.deadline = self._clock() + self.options.job_timeout
        item.deadline = min(item.deadline, self._batch_deadline)
        self._pending[item.index] = item
        self.progress.move(item.phase, Phase.QUEUED)
        item.phase = Phase.QUEUED
        self._schedule(item, max(0.0, age))

    def _expired(self, item: _Item) -> bool:
        """True when an input that could not be submitted should stop trying."""
        now = self._clock()
        if now >= self._batch_deadline:
            return True
        timeout = self.options.job_timeout
        return timeout is not None and now - item.first_try >= timeout

    def _schedule(self, item: _Item, age: float) -> None:
        """Put the item on the heap to be polled at ``age`` (or at its deadline)."""
        due = min(item.submitted_mono + age, item.deadline)
        if not self._heap or due < self._heap[0][0]:
            self._wake.set()
        heapq.heappush(self._heap, (due, next(self._seq), item))

    async def _scheduler(self) -> None:
        """Hand each pending job to the poll workers when its poll is due.

        One timer for the earliest due time, re-armed when an earlier one arrives: no
        sleeping task per job, and no cancel scope per wait.
        """
        loop = asyncio.get_running_loop()
        heap = self._heap
        while True:
            # A fresh event before looking at the heap, so that no wake-up is lost.
            self._wake = asyncio.Event()
            now = self._clock()
            while heap and heap[0][0] <= now:
                item = heapq.heappop(heap)[2]
                if not item.done:
                    await _send(self._due_send, item)
                now = self._clock()
            timer = loop.call_later(heap[0][0] - now, self._wake.set) if heap else None
            try:
                await self._wake.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    async def _poll_worker(self) -> None:
        while True:
            try:
                item = await _receive(self._due_recv)
            except anyio.EndOfStream:  # pragma: no cover - the stream is never closed
                return
            if not item.done:
                await self._poll(item)

    async def _poll(self, item: _Item) -> None:
        assert item.request_id is not None
        assert item.model_id is not None
        rid = item.request_id
        try:
            await self._http.acquire()
            try:
                body = await self._transport.request(
                    "GET", f"/requests/{rid}/result",
                    params=_INCLUDE_COST if self.options.include_cost else None,
                    request_id=rid,
                )
            finally:
                self._http.release()
            result = parse_result(body, request_id=rid)
        except _FATAL:
            raise
        except NotFoundError as exc:
            await self._conclude(item, OutcomeState.ERROR, error=exc)
            return
        except _POLL_AGAIN as exc:
            item.poll_errors += 1
            delay = min(_RETRY_MAX_S, _RETRY_FIRST_S * 2 ** min(item.poll_errors, 10))
            _log.info("job %s: poll failed (%s); again in %.1f s", rid, exc, delay)
            if self._clock() >= item.deadline:
                await self._time_out(item)
            else:
                self._schedule(item, self._clock() - item.submitted_mono + delay)
            return
        item.poll_errors = 0
        item.polls += 1
        self.progress.polls += 1
        if result.state is not item.state:
            item.state = result.state
            if self._on_event is not None:
                call_hook(self._on_event, JobStateChanged(
                    index=item.index, request_id=rid, state=result.state,
                    raw_state=result.raw_state,
                ))
        if result.state.is_terminal:
            await self._job_over(item, result)
            return
        phase = _STATE_PHASE.get(result.state, Phase.QUEUED)
        if phase is not item.phase:
            self.progress.move(item.phase, phase)
            item.phase = phase
        if self._clock() >= item.deadline:
            await self._time_out(item)
            return
        age = self._clock() - item.submitted_mono
        self._schedule(item, self._planner.next_poll_at(item.model_id, age, item.polls))

    async def _job_over(self, item: _Item, result: JobResult) -> None:
        assert item.model_id is not None
        if result.created_at is not None and result.finished_at is not None:
            duration = (result.finished_at - result.created_at).total_seconds()
        else:
            duration = self._clock() - item.submitted_mono
        if result.state in (JobState.SUCCEEDED, JobState.FAILED):
            self._planner.observe(item.model_id, duration)
        if result.state is JobState.SUCCEEDED:
            await self._conclude(item, OutcomeState.SUCCEEDED, result=result)
        elif result.state is JobState.FAILED:
            if item.attempts <= self.options.resubmit_failed:
                _log.info("input %d: job %s failed; resubmitting (%d of %d)", item.index,
                          item.request_id, item.attempts, self.options.resubmit_failed)
                await self._store.record_finished(item, result, None)
                self._pending.pop(item.index, None)
                item.request_id, item.state, item.polls = None, None, 0
                await self._submit(item)
                return
            await self._conclude(item, OutcomeState.FAILED, result=result,
                                 error=JobFailedError(result))
        else:
            await self._conclude(
                item, OutcomeState.CANCELLED, result=result,
                error=JobCancelledError(f"job {result.request_id} was cancelled",
                                        request_id=result.request_id),
            )

    async def _time_out(self, item: _Item) -> None:
        """The item's deadline passed with its job unfinished: cancel it if still queued."""
        assert item.request_id is not None
        cancelled: bool | None = None
        if item.state in (None, JobState.QUEUED, JobState.UNKNOWN):
            try:
                async with self._http:
                    answer = await self._client.cancel(item.request_id)
                cancelled = answer.cancelled
            except RunComfyError as exc:
                _log.warning("job %s timed out; cancelling it failed: %s", item.request_id, exc)
                cancelled = False
        error = WaitTimeoutError(
            request_id=item.request_id,
            timeout=self._clock() - item.submitted_mono,
            last_state=item.state,
            cancelled_remotely=cancelled,
        )
        await self._conclude(item, OutcomeState.TIMED_OUT, error=error)

    async def _conclude(
        self,
        item: _Item,
        state: OutcomeState,
        *,
        result: JobResult | None = None,
        error: RunComfyError | None = None,
        from_journal: bool = False,
        files: tuple[Any, ...] = (),
        timings: Timings | None = None,
    ) -> None:
        """Give the item its outcome and send it on to the finishers."""
        item.done = True
        self._pending.pop(item.index, None)
        item.outcome = Outcome(
            index=item.index,
            input=item.given,
            model_id=item.model_id,
            request_id=item.request_id,
            state=state,
            result=result,
            error=error,
            attempts=item.attempts,
            timings=timings or Timings(
                submitted=item.submitted_wall,
                server_finished=result.finished_at if result is not None else None,
                detected=_now(),
            ),
            files=files,
            from_journal=from_journal,
        )
        self.progress.move(item.phase, _OUTCOME_PHASE[state])
        item.phase = _OUTCOME_PHASE[state]
        if from_journal:
            self.progress.from_journal += 1
        if self._store.active:
            await _send(self._finish_send, item)
        else:
            self._deliver(item.outcome)

    async def _finisher(self) -> None:
        async for item in self._finish_recv:
            assert item.outcome is not None
            # The journal write and the downloads of a finished job must not be cut in half
            # by an early stop; each is bounded by its own timeouts.
            with anyio.CancelScope(shield=True):
                outcome = await self._store.finish(item.outcome)
            self._deliver(outcome)

    def _deliver(self, outcome: Outcome) -> None:
        """Hand an outcome to the consumer's stream (never full: slots bound it)."""
        if self._on_event is not None:
            call_hook(self._on_event, JobCompleted(outcome=outcome))
        self._out_send.send_nowait(outcome)
        self._live -= 1
        if self._live == 0 and self._inputs_done:
            self._drained.set()

    # --- Signals from the transport ------------------------------------------------------

    def _on_rate_limited(self, signal: RateLimitSignal) -> None:
        # Only submits steer the submit rate: polls are paced by the planner, and a 429
        # on a poll says nothing about how fast new jobs may arrive.
        if not signal.is_submit:
            return
        before = self._rate.rate
        self._rate.on_rate_limited()
        if self._rate.rate != before:
            call_hook(self.options.on_event, RateChanged(rate=self._rate.rate))

    def _on_retry(self, event: RetryEvent) -> None:
        call_hook(self.options.on_event, event)

    # --- Early stop --------------------------------------------------------------------

    async def _cancel_pending(self) -> None:
        """Cancel still-queued jobs of an interrupted batch; report what could not be."""
        pending = [item for item in self._pending.values() if not item.done]
        if not pending:
            return
        cancelled: list[str] = []
        not_cancelled: list[str] = []
        limiter = anyio.CapacityLimiter(_CANCEL_CONCURRENCY)

        async def cancel_one(item: _Item) -> None:
            assert item.request_id is not None
            if item.state not in (None, JobState.QUEUED, JobState.UNKNOWN):
                not_cancelled.append(item.request_id)
                return
            try:
                async with limiter:
                    answer = await self._client.cancel(item.request_id)
            except RunComfyError as exc:
                _log.warning("cancelling job %s failed: %s", item.request_id, exc)
                not_cancelled.append(item.request_id)
                return
            if answer.cancelled:
                cancelled.append(item.request_id)
                # Journaled, so that a resumed batch submits the input again: its job never
                # ran and was never billed.
                await self._store.record_withdrawn(item)
            else:
                not_cancelled.append(item.request_id)

        with anyio.move_on_after(self.options.cancel_timeout):
            async with anyio.create_task_group() as tg:
                for item in pending:
                    tg.start_soon(cancel_one, item)
        reached = set(cancelled) | set(not_cancelled)
        not_cancelled += [i.request_id for i in pending if i.request_id not in reached
                          and i.request_id is not None]
        self.cancel_report = CancelReport(cancelled=tuple(cancelled),
                                          not_cancelled=tuple(not_cancelled))
        _log.warning(
            "batch stopped early: %d queued job(s) cancelled; %d could not be (running or "
            "unreachable; they will finish and be billed%s): %s",
            len(cancelled), len(not_cancelled),
            "; resuming with the same journal collects them" if self.options.journal else "",
            ", ".join(not_cancelled[:20]) + (" ..." if len(not_cancelled) > 20 else ""),
        )
        call_hook(self.options.on_event, self.cancel_report)

    # --- Resume ------------------------------------------------------------------------

    async def _prepare_resume(self) -> None:
        """With a journal that has entries: check the inputs it knows, before any send."""
        known = await self._store.max_index()
        if known is None:
            return
        while self._next_index <= known:
            assert self._source is not None
            try:
                if isinstance(self._source, AsyncIterator):
                    given = await anext(self._source)
                else:
                    given = next(self._source)
            except (StopIteration, StopAsyncIteration):
                self._exhausted = True
                break
            item = self._make_item(self._next_index, given)
            self._next_index += 1
            item.resume = await self._store.check(item)
            self._replay.append(item)


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

