"""``AsyncRunComfy``: one method per API operation, plus ``wait``, ``run`` and ``map``.

The facade over the layers below it: the typed API layer for single calls, the batch
engine for ``map``. Configuration (token, base URL) is resolved in :mod:`._config`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import anyio

from .._constants import (
    CANCEL_ON_EXIT_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    LOGGER_NAME,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_HOST,
    READ_TIMEOUT_S,
    TOTAL_TIMEOUT_S,
    WAIT_MAX_CONCURRENT_POLLS,
    WAIT_TIMEOUT_S,
)
from ..api._api import Api
from ..api._validation import validate_input
from ..batch._events import JobSubmitted
from ..core._events import Hook, call_hook
from ..core._inputs import ModelInput, check_request_id, resolve_input
from ..core._validate import positive_int, seconds_or_none
from ..core._wire import CancelAnswer, Job, JobResult, JobStatus
from ..http._retrying import Clock, Cooldown, Retrier, Sleep
from ..http._shield import finish_despite_cancellation
from ..http._timeouts import Timeouts
from ..http._transport import Transport
from ..policies import PollSchedule, RetryPolicy
from ._batches import BatchMethods
from ._config import resolve_base_url, resolve_token
from ._submit_record import SubmitRecord
from ._waiting import Waiter

if TYPE_CHECKING:
    from ..api._catalog import ModelCatalog

__all__ = ["AsyncRunComfy", "resolve_base_url", "resolve_token"]

_log = logging.getLogger(LOGGER_NAME)

InputLike = Mapping[str, Any] | ModelInput


class AsyncRunComfy(BatchMethods):
    """An asyncio client for the RunComfy Model API.

    Use it as an async context manager (or call :meth:`aclose`); it holds one HTTP
    session, created on first use and shared by every call::

        async with AsyncRunComfy() as client:
            result = await client.run("ideogram/ideogram-v3/text-to-image", {"prompt": "a fox"})

    Args:
        api_token: the token; defaults to ``RUNCOMFY_API_TOKEN``, ``RUNCOMFY_TOKEN``,
            ``RUNCOMFY_API_KEY`` (the first one set).
        base_url: the API base with its version segment; defaults to
            ``RUNCOMFY_MODEL_API_BASE``, then ``https://model-api.runcomfy.net/v1``.
        retry: when and how requests are retried.
        poll: how ``wait`` and ``run`` space their polls. Without it, ``run`` learns each
            model's durations (the batches' adaptive planner) and polls where jobs finish.
        connect_timeout: seconds to open a connection.
        read_timeout: seconds between two reads of an answer (not for the whole request).
        total_timeout: seconds for one whole attempt, upload included (None: no limit).
        max_connections, max_connections_per_host: limits of the connection pool.
        allow_insecure_http: allow a plain-http base URL for a non-loopback host.
        on_event: the client-wide hook: called with every event of this client (each
            request's :class:`~runcomfy_async.RequestFinished`, each
            :class:`~runcomfy_async.RetryEvent`, the job events of ``submit``, ``wait``,
            ``run`` and of every batch). What it raises is logged, never raised into the
            call. ``runcomfy_async.telemetry.OpenTelemetryHook`` is one.
        clock, sleep, rand: injectable time and randomness, for exact tests.
    """

    def __init__(
        self,
        api_token: str | None = None,
        base_url: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        poll: PollSchedule | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        total_timeout: float | None = TOTAL_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        max_connections_per_host: int = MAX_CONNECTIONS_PER_HOST,
        allow_insecure_http: bool = False,
        on_event: Hook | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        positive_int.check("max_connections", max_connections)
        positive_int.check("max_connections_per_host", max_connections_per_host)
        timeouts = Timeouts(connect=connect_timeout, read=read_timeout, total=total_timeout)
        self.base_url = resolve_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self.poll_schedule = poll or PollSchedule()
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._transport = Transport(
            base_url=self.base_url,
            token=resolve_token(api_token),
            retrier=Retrier(
                policy=retry or RetryPolicy(), cooldown=Cooldown(clock), on_event=on_event,
                clock=clock, sleep=sleep, rand=rand,
            ),
            timeouts=timeouts,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
        )
        self._api = Api(self._transport)
        # Every wait and run of this client takes its turns in the waiter's one scheduler.
        self._waiter = Waiter(self._api, clock=clock, sleep=sleep, rand=rand, schedule=poll,
                              budget=min(WAIT_MAX_CONCURRENT_POLLS, max_connections))
        self._models: ModelCatalog | None = None
        self.on_event = on_event

    def __repr__(self) -> str:
        return f"<AsyncRunComfy base_url={str(self.base_url)!r}>"

    async def __aenter__(self) -> AsyncRunComfy:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the poll scheduler and close the HTTP session. The client cannot be used
        afterwards; waits still in progress fail."""
        await self._waiter.aclose()
        await self._transport.aclose()

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._transport.retry

    @property
    def models(self) -> ModelCatalog:
        """The model catalog (``GET /models``), cached for the life of this client."""
        if self._models is None:
            from ..api._catalog import ModelCatalog

            self._models = ModelCatalog(self._get_json)
        return self._models

    async def _get_json(
        self, path: str, params: Mapping[str, str] | None, model_id: str | None
    ) -> object:
        """A catalog GET. Its errors name what it was about: the model, or the route of a
        list, which has no model or request id to name (:class:`APIError` does that)."""
        return await self._transport.request("GET", path, params=params, model_id=model_id)

    @property
    def api(self) -> Api:
        """The typed API layer this client and its batches share (internal)."""
        return self._api

    # --- One call each -------------------------------------------------------------------

    @overload
    async def submit(self, model: ModelInput, /, *, validate: bool = ...) -> Job: ...

    @overload
    async def submit(
        self, model: str, inputs: InputLike | None = ..., /, *, validate: bool = ...
    ) -> Job: ...

    async def submit(
        self,
        model: str | ModelInput,
        inputs: InputLike | None = None,
        /,
        *,
        validate: bool = False,
    ) -> Job:
        """Submit one job; return its handle as soon as the server accepted it.

        Args:
            model: a model id (``"ideogram/ideogram-v3/text-to-image"``), or a typed input
                that knows its model (then leave ``inputs`` out).
            inputs: the input, a mapping or a typed input.
            validate: check a plain mapping against the model's live input schema
                (``GET /models/{id}``, cached) before sending.

        Raises:
            InvalidInputError: the input was refused here; nothing was sent.
            SubmitOutcomeUnknownError: the submit may have created a job, and was not retried.
            APIError: the server refused it.
        """
        model_id, payload = resolve_input(model, inputs)
        if validate:
            await self.validate(model_id, payload)
        return await self._submit_payload(model_id, payload, deadline=None)

    async def validate(self, model_id: str, payload: Mapping[str, Any]) -> None:
        """Check an input against the model's live input schema; nothing is submitted.

        The schema comes from the catalog (``GET /models/{id}``, cached). When the catalog
        gives none, the schema bundled with this library is used for the models it knows.

        Raises:
            InvalidInputError: listing every problem (field path, value, what is allowed).
        """
        await validate_input(self.models, model_id, payload)

    async def _submit_payload(
        self, model_id: str, payload: dict[str, Any], *, deadline: float | None
    ) -> Job:
        """POST the payload; the request id comes back even if the caller is cancelled.

        Only the one attempt that may reach the service is shielded. If the caller was
        cancelled meanwhile, nobody will receive the handle: the job is cancelled remotely
        (it is still queued) and logged with its request id; a submit whose outcome turned
        unknown is logged with its input fingerprint. Then the cancellation goes on.
        """
        witness = SubmitRecord()
        try:
            job = await self._api.submit(model_id, payload, witness=witness, deadline=deadline)
        except anyio.get_cancelled_exc_class():
            if witness.job is not None:
                rid = witness.job.request_id
                _log.warning(
                    "submit to %s was cancelled after the service accepted it as %s",
                    model_id, rid,
                )
                await finish_despite_cancellation(
                    self._waiter.cancel_if_queued(rid, None, reason="submit cancelled"),
                    timeout=CANCEL_ON_EXIT_TIMEOUT_S + 1.0,
                )
            elif witness.unknown_error is not None:
                _log.warning(
                    "submit cancelled while its outcome turned unknown; a paid job may "
                    "exist: %s", witness.unknown_error,
                )
            raise
        call_hook(self.on_event, JobSubmitted(
            index=None, model_id=model_id, request_id=job.request_id, attempt=1
        ))
        return job

    async def status(self, request_id: str) -> JobStatus:
        """The job's state (``GET /requests/{id}/status``), with its queue position."""
        return await self._api.status(request_id)

    async def result(self, request_id: str, *, include_cost: bool = False) -> JobResult:
        """The job's result (``GET /requests/{id}/result``); before completion, its state."""
        return await self._api.result(request_id, include_cost=include_cost)

    async def cancel(self, request_id: str) -> CancelAnswer:
        """Ask to cancel the job. Only a queued job can be; the answer says which happened."""
        return await self._api.cancel(request_id)

    # --- Waiting -----------------------------------------------------------------------

    async def wait(
        self,
        request_id: str,
        *,
        timeout: float | None = WAIT_TIMEOUT_S,
        poll: PollSchedule | None = None,
        include_cost: bool = False,
        raise_on_failure: bool = True,
        on_event: Hook | None = None,
        cancel_on_exit: bool = False,
    ) -> JobResult:
        """Poll ``/result`` until the job is over, and return its result.

        ``timeout`` is a deadline: every poll and every retry below it stops there. When it
        passes, one last look is taken (at most ``WAIT_LAST_LOOK_S``, 1 s) and, if the job
        may still be queued, it is cancelled (at most ``CANCEL_ON_EXIT_TIMEOUT_S``, 5 s):
        ``wait`` returns or raises by ``timeout`` + 6 s at the latest. Until then, failures
        that leave the job where it was (connection errors, 5xx, 429, unreadable answers)
        are polled through.

        Who owns the job decides what leaving does. ``wait`` does not own it by default (it
        may have been submitted elsewhere: a web handler whose client went away must not
        cancel someone's job), so a timeout or a cancelled wait leaves it be. With
        ``cancel_on_exit=True`` (what ``run`` does: it submitted the job), a job that may
        still be queued is cancelled remotely (bounded, shielded), so that it is not paid for.

        Args:
            request_id: the job to wait for.
            timeout: seconds to wait at most; None waits as long as it takes (then a failure
                the retry policy gives up on is raised).
            poll: how to space polls; defaults to the client's schedule.
            include_cost: ask for the cost in the final result.
            raise_on_failure: raise JobFailedError / JobCancelledError for a failed or
                cancelled job (the default); when False, return the result whatever it is.
            on_event: this wait's own hook (beside the client's): a
                :class:`~runcomfy_async.JobStateChanged` for each state a poll sees, then
                a :class:`~runcomfy_async.JobEnded`.
            cancel_on_exit: cancel the job, if it may still be queued, when the wait times out
                or is cancelled.

        Raises:
            WaitTimeoutError: the timeout passed (says whether the job was cancelled).
            JobFailedError, JobCancelledError: see ``raise_on_failure``.
        """
        rid = check_request_id(request_id)
        seconds_or_none.check("timeout", timeout)
        deadline = None if timeout is None else self._clock() + timeout
        return await self._waiter.wait_until(
            rid, deadline, timeout, poll or self.poll_schedule, include_cost,
            raise_on_failure, on_event, cancel_on_exit=cancel_on_exit,
        )

    async def run(
        self,
        model: str | ModelInput,
        inputs: InputLike | None = None,
        /,
        *,
        timeout: float | None = WAIT_TIMEOUT_S,
        validate: bool = False,
        include_cost: bool = False,
        poll: PollSchedule | None = None,
    ) -> JobResult:
        """Submit a job and wait for its result: ``submit`` then ``wait``.

        ``timeout`` bounds both: the submit's retries stop at it, and the wait gets what
        is left (with the margins ``wait`` documents).

        Raises:
            Everything ``submit`` and ``wait`` raise. If the caller is cancelled while the
            submit is on the wire, the job id is still obtained, and the job cancelled.
        """
        deadline = None if timeout is None else self._clock() + timeout
        model_id, payload = resolve_input(model, inputs)
        if validate:
            await self.validate(model_id, payload)
        job = await self._submit_payload(model_id, payload, deadline=deadline)
        # Without a schedule (its own or the client's), it learns from the model's jobs.
        return await self._waiter.wait_until(
            job.request_id, deadline, timeout, poll, include_cost,
            True, None, cancel_on_exit=True, model_id=model_id,
        )
