"""The typed API layer: submit, status, result and cancel, for the client and the batch.

Both :class:`~runcomfy_async.AsyncRunComfy` and the batch engine call these methods; neither
touches the transport itself. This is the one place where:

- a request id is checked before it goes into a URL (an id from a caller, a journal or a
  server answer that is not a plain path segment never reaches the wire);
- a submit's single attempt is shielded, from recording its intent and sending its body to
  reading and recording the answer, and nothing else is (cool-downs, backoff sleeps and the
  wait for a connection stay cancellable);
- a failed submit attempt is judged: not created (retry), refused, or outcome unknown (a 2xx
  without a usable request id, a timeout or reset after sending, a 5xx). The judgement is
  the retry policy's :func:`~.policies.submit_verdict`.

A :class:`SubmitWitness` is told what happened inside the shield, so that a request id the
service gave is kept (journaled, or cancelled remotely) even when the caller was cancelled
while the answer was on its way.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio

from .._constants import ENCODE_OFF_LOOP_CHARS
from ..core._errors import APIError, InvalidInputError, MalformedResponseError, TransportError
from ..core._identity import fingerprint_of
from ..core._inputs import check_request_id
from ..core._job_errors import SubmitOutcomeUnknownError
from ..core._parse import parse_cancel, parse_job, parse_result, parse_status
from ..core._wire import CancelAnswer, Job, JobResult, JobStatus
from ..http._retrying import NO_HOOKS, CallHooks, Failure
from ..http._shield import finish_despite_cancellation, shielded_scope
from ..http._transport import Transport, encode_body
from ..policies import RetryPolicy, SubmitVerdict, submit_verdict

__all__ = ["Api", "Shield", "SubmitWitness"]

T = TypeVar("T")
_INCLUDE_COST = "include_cost=true"


class Shield(enum.Enum):
    """How a submit attempt is kept whole when its caller is cancelled."""

    TASK = "task"
    """Against anyio cancellation and ``Task.cancel()`` alike: the attempt runs in a task of
    its own behind ``asyncio.shield`` (one task more per attempt). For callers on plain
    asyncio, which anyio cannot hold back."""

    SCOPE = "scope"
    """Against anyio cancellation only: a shielded cancel scope, no extra task. For code
    that only anyio cancels, such as the workers of a batch's task group."""


class SubmitWitness:
    """Told, inside the shield, what each submit attempt did. The default hears nothing.

    Every method is awaited inside the shielded attempt, so it runs to its end even when
    the caller is being cancelled: keep it short (a journal write, a bookkeeping step).
    """

    async def sending(self, body: bytes) -> None:
        """The body (the input's canonical JSON) is about to be sent: record the intent."""

    async def accepted(self, job: Job) -> None:
        """The service created the job and gave its request id."""

    async def not_created(self, error: APIError | TransportError) -> None:
        """The attempt certainly created no job (it may be tried again)."""

    async def refused(self, error: APIError) -> None:
        """The service refused the input: no job, and retrying would not help."""

    async def unknown(self, error: SubmitOutcomeUnknownError) -> None:
        """The attempt may have created a paid job that has no known request id."""


NO_WITNESS = SubmitWitness()


class Api:
    """Typed API operations over one :class:`Transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def submit(
        self,
        model_id: str,
        payload: Mapping[str, Any],
        *,
        witness: SubmitWitness = NO_WITNESS,
        deadline: float | None = None,
        hooks: CallHooks = NO_HOOKS,
        shield: Shield = Shield.TASK,
    ) -> Job:
        """Submit one job: retried only while no job can have been created.

        Raises:
            SubmitOutcomeUnknownError: the submit may have created a job.
            APIError: the service refused it (the witness heard ``refused``).
            TransportError, APIError: no attempt got through before the policy or the
                deadline gave up (the witness heard ``not_created``).
            InvalidInputError: the body is over the request cap; nothing was sent.
        """
        if _bulky(payload):
            # Megabytes of data: URIs: encode off the event loop, which would stall for it.
            data = await anyio.to_thread.run_sync(_encode, payload, model_id)
        else:
            data = encode_body(payload, model_id=model_id)  # once, whatever the retries
        path = f"/models/{model_id}"
        url = self.transport.url_for(path)

        async def attempt() -> Any:
            try:
                return await self.transport.attempt(
                    "POST", url, path, data, model_id=model_id
                )
            except Failure as failure:
                error = failure.error
                unreadable = (
                    isinstance(error, MalformedResponseError)
                    and error.status is not None
                    and 200 <= error.status < 400
                )
                verdict = submit_verdict(failure.kind, accepted_unreadably=unreadable)
                if verdict is SubmitVerdict.UNKNOWN:
                    unknown = self._unknown(model_id, data, error)
                    await witness.unknown(unknown)
                    raise unknown from None
                if verdict is SubmitVerdict.REFUSED:
                    assert isinstance(error, APIError)
                    await witness.refused(error)
                    raise error from None
                await witness.not_created(error)
                raise

        async def witnessed() -> Job:
            await witness.sending(data)
            body = await attempt()
            try:
                job = parse_job(body, model_id=model_id)
                check_request_id(job.request_id)
            except (MalformedResponseError, InvalidInputError, RecursionError) as exc:
                # The service said yes but gave no usable request id: a paid job may exist.
                unknown = self._unknown(model_id, data, exc)
                await witness.unknown(unknown)
                raise unknown from None
            await witness.accepted(job)
            return job

        async def one() -> Job:
            async with self.transport.connection():
                if shield is Shield.SCOPE:
                    with shielded_scope():
                        return await witnessed()
                return await finish_despite_cancellation(witnessed(), timeout=None)

        return await self.transport.retrier.run(
            one, method="POST", path=path, is_submit=True, deadline=deadline, hooks=hooks,
            model_id=model_id,
        )

    @staticmethod
    def _unknown(model_id: str, body: bytes, cause: BaseException) -> SubmitOutcomeUnknownError:
        return SubmitOutcomeUnknownError(
            model_id=model_id, fingerprint=fingerprint_of(model_id, body), cause=cause
        )

    async def status(
        self, request_id: str, *, deadline: float | None = None, hooks: CallHooks = NO_HOOKS
    ) -> JobStatus:
        rid = check_request_id(request_id)
        body = await self.transport.request(
            "GET", f"/requests/{rid}/status", deadline=deadline, hooks=hooks, request_id=rid
        )
        return _parsed(parse_status, body, rid)

    async def result(
        self,
        request_id: str,
        *,
        include_cost: bool = False,
        deadline: float | None = None,
        hooks: CallHooks = NO_HOOKS,
        policy: RetryPolicy | None = None,
    ) -> JobResult:
        rid = check_request_id(request_id)
        body = await self.transport.request(
            "GET", f"/requests/{rid}/result",
            params=_INCLUDE_COST if include_cost else None,
            deadline=deadline, hooks=hooks, policy=policy, request_id=rid,
        )
        return _parsed(parse_result, body, rid)

    async def cancel(
        self,
        request_id: str,
        *,
        deadline: float | None = None,
        hooks: CallHooks = NO_HOOKS,
        ignore_cooldown: bool = False,
    ) -> CancelAnswer:
        rid = check_request_id(request_id)
        body = await self.transport.request(
            "POST", f"/requests/{rid}/cancel", deadline=deadline, hooks=hooks,
            ignore_cooldown=ignore_cooldown, request_id=rid,
        )
        return _parsed(parse_cancel, body, rid)


def _parsed(parse: Callable[..., T], body: Any, request_id: str) -> T:
    """``parse(body)``, with an answer too deeply nested to walk made a typed error."""
    try:
        return parse(body, request_id=request_id)
    except RecursionError:
        raise MalformedResponseError(
            "the answer is nested too deeply to read", request_id=request_id
        ) from None


def _encode(payload: Mapping[str, Any], model_id: str) -> bytes:
    return encode_body(payload, model_id=model_id)


def _bulky(payload: Mapping[str, Any]) -> bool:
    """Whether the payload holds enough text to be worth encoding in a thread: strings a
    level or two down (an image's data: URI, a list of them) are counted, cheaply."""
    size = 0
    for value in payload.values():
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, (list, tuple)):
            size += sum(len(item) for item in value if isinstance(item, str))
        if size >= ENCODE_OFF_LOOP_CHARS:
            return True
    return False
