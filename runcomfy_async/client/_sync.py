"""``RunComfy``: the same client for scripts and notebooks, without ``async``.

Not a second implementation: every call runs :class:`AsyncRunComfy`'s own method on an event
loop in a background thread, through anyio's blocking portal (the well-kept tool for calling
async code from sync code). Because that loop is not the caller's, it works where a loop is
already running in the caller's thread, as in Jupyter, where ``asyncio.run`` would refuse.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal
from typing_extensions import Unpack

from ..batch import Batch, BatchProgress, CancelReport, MapOptions, Outcome
from ..batch._options import MapKnobs, spells_out_knobs
from ..batch._spend import StopReason
from ..core._cost import Estimate
from ..core._inputs import ModelInput
from ..core._wire import CancelAnswer, Job, JobResult, JobStatus
from ._client import AsyncRunComfy

__all__ = ["RunComfy", "SyncBatch"]

T = TypeVar("T")


class RunComfy:
    """A synchronous client: ``submit``, ``status``, ``result``, ``cancel``, ``wait``,
    ``run``, ``estimate`` and ``map`` (a plain iterator inside a ``with`` block), with the
    arguments and behaviour of :class:`AsyncRunComfy`. Use it as a context manager, or call
    :meth:`close`::

        with RunComfy() as client:
            result = client.run("ideogram/ideogram-v3/text-to-image", {"prompt": "a fox"})
            with client.map("ideogram/ideogram-v3/text-to-image", prompts) as outcomes:
                for outcome in outcomes:
                    print(outcome.index, outcome.state)

    Args:
        api_token, base_url, options: as for :class:`AsyncRunComfy`.
    """

    def __init__(
        self, api_token: str | None = None, base_url: str | None = None, **options: Any
    ) -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        try:
            # Built on the portal's loop, where every one of its calls will run.
            self._client: AsyncRunComfy = self._portal.call(
                functools.partial(_build, api_token, base_url, options)
            )
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise
        self._closed = False

    def __repr__(self) -> str:
        return f"<RunComfy base_url={str(self._client.base_url)!r}>"

    def __enter__(self) -> RunComfy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session and stop the background loop. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._portal.call(self._client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._portal.call(functools.partial(method, *args, **kwargs))

    # --- The same calls ------------------------------------------------------------------

    def submit(self, model: str | ModelInput, inputs: Any = None, /, **kwargs: Any) -> Job:
        """See :meth:`AsyncRunComfy.submit`."""
        job: Job = self._call(self._client.submit, model, inputs, **kwargs)
        return job

    def status(self, request_id: str) -> JobStatus:
        """See :meth:`AsyncRunComfy.status`."""
        status: JobStatus = self._call(self._client.status, request_id)
        return status

    def result(self, request_id: str, **kwargs: Any) -> JobResult:
        """See :meth:`AsyncRunComfy.result`."""
        result: JobResult = self._call(self._client.result, request_id, **kwargs)
        return result

    def cancel(self, request_id: str) -> CancelAnswer:
        """See :meth:`AsyncRunComfy.cancel`."""
        answer: CancelAnswer = self._call(self._client.cancel, request_id)
        return answer

    def wait(self, request_id: str, **kwargs: Any) -> JobResult:
        """See :meth:`AsyncRunComfy.wait`."""
        result: JobResult = self._call(self._client.wait, request_id, **kwargs)
        return result

    def run(self, model: str | ModelInput, inputs: Any = None, /, **kwargs: Any) -> JobResult:
        """See :meth:`AsyncRunComfy.run`."""
        result: JobResult = self._call(self._client.run, model, inputs, **kwargs)
        return result

    def estimate(
        self, model_id: str | None, inputs: Iterable[Any], **kwargs: Any
    ) -> Estimate:
        """See :meth:`AsyncRunComfy.estimate`."""
        estimate: Estimate = self._call(self._client.estimate, model_id, inputs, **kwargs)
        return estimate

    @spells_out_knobs
    def map(
        self,
        model_id: str | None,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        options: MapOptions | None = None,
        **knobs: Unpack[MapKnobs],
    ) -> SyncBatch:
        """See :meth:`AsyncRunComfy.map`; the same shape without ``async``::

            with client.map(model_id, inputs) as outcomes:
                for outcome in outcomes:
                    ...

        Leaving the block (``break``, an exception) closes the batch as leaving the
        ``async with`` block would: queued jobs are cancelled, and what could not be is
        reported in ``outcomes.cancel_report``.
        """
        batch = self._call(_make_batch, self._client, model_id, inputs, options, knobs)
        return SyncBatch(self._portal, batch)


class SyncBatch:
    """A running batch seen from sync code: a context manager, and inside it an iterator of
    :class:`~runcomfy_async.Outcome`."""

    def __init__(self, portal: BlockingPortal, batch: Batch) -> None:
        self._portal = portal
        self._batch = batch
        self._entered: AbstractContextManager[Batch] | None = None

    @property
    def progress(self) -> BatchProgress:
        return self._batch.progress

    @property
    def cancel_report(self) -> CancelReport | None:
        return self._batch.cancel_report

    @property
    def stopped(self) -> StopReason | None:
        return self._batch.stopped

    def __enter__(self) -> SyncBatch:
        self._entered = self._portal.wrap_async_context_manager(self._batch)
        self._entered.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._entered is not None
        return self._entered.__exit__(exc_type, exc, tb)

    def __iter__(self) -> Iterator[Outcome]:
        if self._entered is None:
            raise TypeError(
                "use the batch as a context manager: "
                "`with client.map(...) as outcomes: for outcome in outcomes: ...`"
            )
        return self

    def __next__(self) -> Outcome:
        try:
            outcome: Outcome = self._portal.call(self._batch.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None
        return outcome


async def _build(api_token: str | None, base_url: str | None, options: Any) -> AsyncRunComfy:
    return AsyncRunComfy(api_token, base_url, **options)


async def _make_batch(
    client: AsyncRunComfy,
    model_id: str | None,
    inputs: Iterable[Any] | AsyncIterable[Any],
    options: MapOptions | None,
    knobs: MapKnobs,
) -> Batch:
    return client.map(model_id, inputs, options=options, **knobs)
