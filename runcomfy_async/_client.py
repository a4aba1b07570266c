"""``AsyncRunComfy``: one method per API operation, plus ``wait``, ``run`` and ``map``."""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import anyio
from yarl import URL

from ._constants import (
    BASE_URL_ENV,
    CANCEL_ON_EXIT_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    DEFAULT_BASE_URL,
    LOGGER_NAME,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_HOST,
    READ_TIMEOUT_S,
    TOKEN_ENVS,
    WAIT_TIMEOUT_S,
)
from ._errors import (
    ConfigurationError,
    JobCancelledError,
    JobFailedError,
    MalformedResponseError,
    RunComfyError,
    SubmitOutcomeUnknownError,
    WaitTimeoutError,
)
from ._events import RetryEvent
from ._inputs import ModelInput, check_request_id, resolve_input
from ._shield import finish_despite_cancellation
from ._transport import Clock, Sleep, Transport
from ._wire import (
    CancelAnswer,
    Job,
    JobResult,
    JobState,
    JobStatus,
    input_fingerprint,
    parse_cancel,
    parse_job,
    parse_result,
    parse_status,
)
from .policies import PollSchedule, RetryPolicy

if TYPE_CHECKING:
    from ._catalog import ModelCatalog
    from .orchestration import Batch, MapOptions

__all__ = ["AsyncRunComfy", "resolve_base_url", "resolve_token"]

_log = logging.getLogger(LOGGER_NAME)

InputLike = Mapping[str, Any] | ModelInput


def resolve_token(api_token: str | None) -> str:
    """The token: the argument, else the first of the environment variables that is set."""
    if api_token is not None:
        if not isinstance(api_token, str) or not api_token.strip():
            raise ConfigurationError("api_token must be a non-empty string")
        return api_token.strip()
    for name in TOKEN_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise ConfigurationError(
        "no RunComfy API token: pass api_token=... or set one of "
        + ", ".join(TOKEN_ENVS)
        + " (looked at, in that order; all unset or empty)"
    )


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None, *, allow_insecure_http: bool = False) -> URL:
    """The API base URL: the argument, else ``RUNCOMFY_MODEL_API_BASE``, else RunComfy's.

    Plain ``http://`` is refused for hosts other than loopback, because the token would
    cross the network in clear text; ``allow_insecure_http=True`` lifts that.
    """
    text = base_url or os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    try:
        url = URL(text)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"base_url {text!r} is not a URL: {exc}") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ConfigurationError(
            f"base_url {text!r} must be an absolute http(s) URL such as {DEFAULT_BASE_URL}"
        )
    if url.user or url.password or url.query_string or url.fragment:
        raise ConfigurationError(
            "base_url must not carry credentials, a query or a fragment; "
            "the token goes in api_token or RUNCOMFY_API_TOKEN"
        )
    if url.scheme == "http" and not _is_loopback(url.host) and not allow_insecure_http:
        raise ConfigurationError(
            f"refusing plain-http base_url for non-loopback host {url.host!r}: the token would "
            "travel unencrypted. Use https, or pass allow_insecure_http=True if you know why."
        )
    return url.with_path(url.path.rstrip("/") or "/")


class AsyncRunComfy:
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
        poll: how ``wait`` spaces its polls.
        connect_timeout, read_timeout: seconds.
        max_connections, max_connections_per_host: limits of the connection pool.
        allow_insecure_http: allow a plain-http base URL for a non-loopback host.
        on_retry: called with a :class:`~runcomfy_async.RetryEvent` before every retry.
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
        max_connections: int = MAX_CONNECTIONS,
        max_connections_per_host: int = MAX_CONNECTIONS_PER_HOST,
        allow_insecure_http: bool = False,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        for name, value in (
            ("max_connections", max_connections),
            ("max_connections_per_host", max_connections_per_host),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")
        for name, number in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not isinstance(number, (int, float)) or not number > 0:
                raise ConfigurationError(f"{name} must be a number of seconds > 0, got {number!r}")
        self.base_url = resolve_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self.poll_schedule = poll or PollSchedule()
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._transport = Transport(
            base_url=self.base_url,
            token=resolve_token(api_token),
            retry=retry or RetryPolicy(),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            on_retry=on_retry,
            clock=clock,
            sleep=sleep,
            rand=rand,
        )
        self._models: ModelCatalog | None = None

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
        """Close the HTTP session. The client cannot be used afterwards."""
        await self._transport.aclose()

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._transport.retry

    @property
    def models(self) -> ModelCatalog:
        """The model catalog (``GET /models``), cached for the life of this client."""
        if self._models is None:
            from ._catalog import ModelCatalog

            self._models = ModelCatalog(self._get_json)
        return self._models

    async def _get_json(self, path: str, params: Mapping[str, str] | None) -> object:
        return await self._transport.request("GET", path, params=params)

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
        return await self._submit_payload(model_id, payload)

    async def validate(self, model_id: str, payload: Mapping[str, Any]) -> None:
        """Check an input against the model's live input schema; nothing is submitted.

        The schema comes from the catalog (``GET /models/{id}``, cached). When the catalog
        gives none, the schema bundled with this library is used for the models it knows.

        Raises:
            InvalidInputError: listing every problem (field path, value, what is allowed).
        """
        # Imported here: jsonschema costs a noticeable import time nobody else needs.
        from ._schema_check import bundled_schema, validate_payload

        try:
            schema: Mapping[str, Any] = await self.models.schema_for(model_id)
        except MalformedResponseError:
            bundled = bundled_schema(model_id)
            if bundled is None:
                raise
            schema = bundled
        validate_payload(model_id, payload, schema)

    async def _submit_payload(self, model_id: str, payload: dict[str, Any]) -> Job:
        """POST the payload; the request id comes back even if the caller is cancelled.

        Once the POST is on the wire the server may create a paid job, so the request runs
        to its end. If the caller was cancelled meanwhile, nobody will receive the handle:
        the job is cancelled remotely (it is still queued) and logged with its request id
        before the cancellation goes on.
        """
        accepted: list[Job] = []

        async def post() -> Job:
            body = await self._transport.request(
                "POST",
                f"/models/{model_id}",
                body=payload,
                is_submit=True,
                model_id=model_id,
            )
            try:
                job = parse_job(body, model_id=model_id)
            except MalformedResponseError as exc:
                # The server said yes but gave no request id: a paid job may exist.
                raise SubmitOutcomeUnknownError(
                    model_id=model_id,
                    fingerprint=input_fingerprint(model_id, payload),
                    cause=exc,
                ) from None
            accepted.append(job)
            return job

        try:
            return await finish_despite_cancellation(post(), timeout=None)
        except anyio.get_cancelled_exc_class():
            if accepted:
                job = accepted[0]
                _log.warning(
                    "submit to %s was cancelled after the server accepted it as %s",
                    model_id,
                    job.request_id,
                )
                await finish_despite_cancellation(
                    self._cancel_if_queued(job.request_id, None, reason="submit cancelled"),
                    timeout=CANCEL_ON_EXIT_TIMEOUT_S + 1.0,
                )
            raise

    async def status(self, request_id: str) -> JobStatus:
        """The job's state (``GET /requests/{id}/status``), with its queue position."""
        rid = check_request_id(request_id)
        body = await self._transport.request("GET", f"/requests/{rid}/status", request_id=rid)
        return parse_status(body, request_id=rid)

    async def result(self, request_id: str, *, include_cost: bool = False) -> JobResult:
        """The job's result (``GET /requests/{id}/result``); before completion, its state."""
        rid = check_request_id(request_id)
        body = await self._transport.request(
            "GET",
            f"/requests/{rid}/result",
            params={"include_cost": "true"} if include_cost else None,
            request_id=rid,
        )
        return parse_result(body, request_id=rid)

    async def cancel(self, request_id: str) -> CancelAnswer:
        """Ask to cancel the job. Only a queued job can be; the answer says which happened."""
        rid = check_request_id(request_id)
        body = await self._transport.request("POST", f"/requests/{rid}/cancel", request_id=rid)
        return parse_cancel(body, request_id=rid)

    # --- Waiting -----------------------------------------------------------------------

    async def wait(
        self,
        request_id: str,
        *,
        timeout: float | None = WAIT_TIMEOUT_S,
        poll: PollSchedule | None = None,
        include_cost: bool = False,
        raise_on_failure: bool = True,
        on_update: Callable[[JobResult], Any] | None = None,
    ) -> JobResult:
        """Poll ``/result`` until the job is over, and return its result.

        If the wait is cancelled or times out while the job is still queued, the job is
        cancelled remotely (bounded, shielded) so that it is not paid for; the outcome is
        logged with the request id.

        Args:
            request_id: the job to wait for.
            timeout: seconds to wait at most; None waits as long as it takes (not advised).
            poll: how to space polls; defaults to the client's schedule.
            include_cost: ask for the cost in the final result.
            raise_on_failure: raise JobFailedError / JobCancelledError for a failed or
                cancelled job (the default); when False, return the result whatever it is.
            on_update: called with each answer whose state differs from the previous one.

        Raises:
            WaitTimeoutError: the timeout passed (says whether the job was cancelled).
            JobFailedError, JobCancelledError: see ``raise_on_failure``.
        """
        rid = check_request_id(request_id)
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 < timeout < float("inf")
        ):
            raise ConfigurationError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        schedule = poll or self.poll_schedule
        last: JobResult | None = None
        deadline = None if timeout is None else self._clock() + timeout
        polls = 0
        try:
            while True:
                answer = await self.result(rid, include_cost=include_cost)
                if on_update is not None and (last is None or answer.state is not last.state):
                    on_update(answer)
                last = answer
                if answer.state.is_terminal:
                    return self._finish(answer, raise_on_failure)
                delay = schedule.delay(polls, self._rand)
                polls += 1
                if deadline is not None:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        raise _WaitExpired
                    if delay >= remaining:
                        # One last look at the deadline, rather than giving up early.
                        await self._sleep(remaining)
                        final = await self.result(rid, include_cost=include_cost)
                        last = final
                        if final.state.is_terminal:
                            return self._finish(final, raise_on_failure)
                        raise _WaitExpired
                await self._sleep(delay)
        except _WaitExpired:
            state = last.state if last is not None else None
            cancelled = await self._cancel_if_queued(rid, state, reason="wait timed out")
            raise WaitTimeoutError(
                request_id=rid,
                timeout=float(timeout or 0.0),
                last_state=state,
                cancelled_remotely=cancelled,
            ) from None
        except anyio.get_cancelled_exc_class():
            state = last.state if last is not None else None
            await finish_despite_cancellation(
                self._cancel_if_queued(rid, state, reason="the waiting task was cancelled"),
                timeout=CANCEL_ON_EXIT_TIMEOUT_S + 1.0,
            )
            raise

    @staticmethod
    def _finish(result: JobResult, raise_on_failure: bool) -> JobResult:
        if raise_on_failure:
            if result.state is JobState.FAILED:
                raise JobFailedError(result)
            if result.state is JobState.CANCELLED:
                raise JobCancelledError(
                    f"job {result.request_id} was cancelled", request_id=result.request_id
                )
        return result

    async def _cancel_if_queued(
        self, request_id: str, state: JobState | None, *, reason: str
    ) -> bool | None:
        """Cancel the job if it may still be queued; True if cancelled, False if not, None
        if it was not tried (the job is running or over: cancelling cannot succeed)."""
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
                answer = await self.cancel(request_id)
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

        Raises:
            Everything ``submit`` and ``wait`` raise. If the caller is cancelled while the
            submit is on the wire, the job id is still obtained, and the job cancelled.
        """
        job = await self.submit(model, inputs, validate=validate)  # type: ignore[arg-type]
        return await self.wait(
            job.request_id, timeout=timeout, include_cost=include_cost, poll=poll
        )

    # --- Many jobs ---------------------------------------------------------------------

    def map(
        self,
        model_id: str | None,
        inputs: Iterable[Any] | AsyncIterable[Any],
        options: MapOptions | None = None,
        **kwargs: Any,
    ) -> Batch:
        """Run many jobs; hand back :class:`~runcomfy_async.Outcome`\\ s as they complete.

        Use it as an async context manager, then iterate::

            async with client.map("ideogram/ideogram-v3/text-to-image", prompts) as outcomes:
                async for outcome in outcomes:
                    ...

        See :class:`~runcomfy_async.MapOptions` for every knob (``max_in_flight``,
        ``journal``, ``timeout``, ``ordered``, ``fail_fast``, ...), which may also be given
        as keyword arguments.
        """
        from .orchestration import Batch, MapOptions

        if options is None:
            options = MapOptions(**kwargs)
        elif kwargs:
            raise TypeError("pass either options=MapOptions(...) or keyword arguments, not both")
        return Batch(self, model_id, inputs, options)


class _WaitExpired(Exception):
    """Internal: the wait's deadline passed."""
