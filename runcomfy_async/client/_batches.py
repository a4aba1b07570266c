"""The client's methods for many jobs: ``map``, ``collect``, and ``estimate`` before them.

Kept apart from the one-call methods of :class:`~._client.AsyncRunComfy` (which inherits
these): they hand work to the batch engine and to the estimate, and need of the client only
its API layer, its input check and its model catalog.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp.abc import AbstractResolver

from .._constants import (
    BATCH_CANCEL_TIMEOUT_S,
    DOWNLOAD_ALLOWED_HOST_SUFFIXES,
    MAX_CONCURRENT_REQUESTS,
    MAX_IN_FLIGHT,
    SUBMIT_BURST,
    WAIT_TIMEOUT_S,
)
from ..api._api import Api
from ..batch import Attach, Batch, BatchEvent, MapOptions
from ..core._cost import Estimate
from ..core._events import Hook
from ..core._wire import Price
from ..policies.adaptive_poll import PollPlanner
from ._estimate import estimate_inputs

if TYPE_CHECKING:
    from ..api._catalog import ModelCatalog

__all__ = ["BatchMethods"]


class BatchMethods:
    """``map``, ``collect`` and ``estimate`` (a mixin of ``AsyncRunComfy``)."""

    on_event: Hook | None = None

    @property
    def api(self) -> Api:
        raise NotImplementedError

    @property
    def models(self) -> ModelCatalog:
        raise NotImplementedError

    async def validate(self, model_id: str, payload: Mapping[str, Any]) -> None:
        raise NotImplementedError

    async def price_of(self, model_id: str) -> Price | None:
        """The model's price from the catalog (``GET /models/{id}``, cached per client);
        None when the catalog gives none."""
        return (await self.models.get(model_id)).price

    async def estimate(
        self,
        model_id: str | None,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        assume_run_s: float | None = None,
        validate: bool = True,
    ) -> Estimate:
        """What ``map(model_id, inputs)`` would cost, before anything is sent.

        Every input is read as ``map`` reads it and (by default) checked against its
        model's live schema; the inputs a batch would refuse are listed in
        ``estimate.refused`` and cost nothing. For each model: the jobs, the output files
        they would make (``num_images``-like fields count), the catalog's price and the
        estimated cost. A model billed per second of run time has no estimate unless
        ``assume_run_s`` says how long a job runs (and then it rests on that). Nothing is
        submitted; the catalog is asked once per model.

        Args:
            model_id: as for ``map``.
            inputs: as for ``map`` (an iterable or async iterable; read to its end).
            assume_run_s: seconds to assume per job for models billed per second.
            validate: check each input against its model's schema (as ``map(...,
                validate=True)`` does).
        """
        return await estimate_inputs(
            model_id, inputs, price_of=self.price_of,
            validate=self.validate if validate else None, assume_run_s=assume_run_s,
        )

    def collect(self, request_ids: Iterable[str], **options: Any) -> Batch:
        """Collect jobs submitted elsewhere (another process, a database), as they complete,
        through the same machinery as ``map``: ``async with client.collect(ids) as outcomes``.
        They are not this client's jobs: leaving does not cancel them. ``options`` are
        ``map``'s; to keep each job's input, pass ``Attach`` objects to ``map`` instead."""
        return self.map(None, (Attach(rid) for rid in request_ids), **options)

    def map(
        self,
        model_id: str | None,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_concurrent_requests: int = MAX_CONCURRENT_REQUESTS,
        submit_rate: float | None = None,
        submit_burst: int = SUBMIT_BURST,
        job_timeout: float | None = WAIT_TIMEOUT_S,
        deadline: float | None = None,
        cancel_timeout: float = BATCH_CANCEL_TIMEOUT_S,
        resubmit_failed: int = 0,
        resubmit_unknown: bool = False,
        journal: str | os.PathLike[str] | None = None,
        download_to: str | os.PathLike[str] | None = None,
        download_hosts: Sequence[str] = DOWNLOAD_ALLOWED_HOST_SUFFIXES,
        download_origins: Sequence[str] = (),
        download_resolver: AbstractResolver | None = None,
        download_ssl: ssl.SSLContext | None = None,
        poll: PollPlanner | None = None,
        ordered: bool = False,
        fail_fast: bool = False,
        validate: bool = False,
        include_cost: bool = True,
        max_spend: float | None = None,
        assume_run_s: float | None = None,
        track_cost: bool = False,
        on_event: Callable[[BatchEvent], Any] | None = None,
        options: MapOptions | None = None,
    ) -> Batch:
        """Run many jobs; hand back :class:`~runcomfy_async.Outcome`\\ s as they complete.

        Use it as an async context manager, then iterate::

            async with client.map("ideogram/ideogram-v3/text-to-image", prompts) as outcomes:
                async for outcome in outcomes:
                    ...

        Args:
            model_id: the model every input is for; None when each input says its own (a
                typed input, or a ``(model_id, input)`` pair).
            inputs: any iterable or async iterable, pulled lazily.
            max_in_flight ... on_event: the knobs; see :class:`~runcomfy_async.MapOptions`
                and its groups (``deadline`` is ``Deadlines.batch``; ``max_spend``,
                ``assume_run_s`` and ``track_cost`` are :class:`~runcomfy_async.Budget`).
            options: all of the above as one value (then give none of them separately).
        """
        if options is None:
            options = MapOptions.build(
                max_in_flight=max_in_flight, max_concurrent_requests=max_concurrent_requests,
                submit_rate=submit_rate, submit_burst=submit_burst, job_timeout=job_timeout,
                deadline=deadline, cancel_timeout=cancel_timeout,
                resubmit_failed=resubmit_failed, resubmit_unknown=resubmit_unknown,
                journal=journal, download_to=download_to, download_hosts=download_hosts,
                download_origins=download_origins, download_resolver=download_resolver,
                download_ssl=download_ssl, poll=poll, ordered=ordered,
                fail_fast=fail_fast, validate=validate, include_cost=include_cost,
                max_spend=max_spend, assume_run_s=assume_run_s, track_cost=track_cost,
                on_event=on_event,
            )
        return Batch(self.api, self.validate, model_id, inputs, options, self.price_of,
                     self.on_event)
