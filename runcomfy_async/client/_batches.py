"""The client's methods for many jobs: ``map``, ``collect``, and ``estimate`` before them.

Kept apart from the one-call methods of :class:`~._client.AsyncRunComfy` (which inherits
these): they hand work to the batch engine and to the estimate, and need of the client only
its API layer, its input check and its model catalog.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from ..api._api import Api
from ..batch._attach import Attach
from ..batch._options import MapKnobs, MapOptions, spells_out_knobs
from ..core._cost import Estimate
from ..core._errors import ConfigurationError
from ..core._events import Hook
from ..core._wire import Price
from ._estimate import estimate_inputs

if TYPE_CHECKING:
    from ..api._catalog import ModelCatalog
    from ..batch._engine import Batch

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

    @spells_out_knobs
    def collect(
        self,
        request_ids: Iterable[str],
        *,
        options: MapOptions | None = None,
        **knobs: Unpack[MapKnobs],
    ) -> Batch:
        """Collect jobs submitted elsewhere (another process, a database), as they complete,
        through the same machinery as ``map``: ``async with client.collect(ids) as outcomes``.
        They are not this client's jobs: leaving does not cancel them. ``options`` and the
        knobs are ``map``'s; to keep each job's input, pass ``Attach`` objects to ``map``
        instead."""
        return self.map(None, (Attach(rid) for rid in request_ids), options=options, **knobs)

    @spells_out_knobs
    def map(
        self,
        model_id: str | None,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        options: MapOptions | None = None,
        **knobs: Unpack[MapKnobs],
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
            options: every setting as one value (:class:`~runcomfy_async.MapOptions`); then
                give no knob beside it.
            knobs: the settings as flat keywords (:class:`~runcomfy_async.MapKnobs`:
                ``max_in_flight``, ``job_timeout``, ``journal``, ``download_to``,
                ``max_spend``, ``on_event`` ...); one not given keeps its default.

        Raises:
            ConfigurationError: ``options`` and knobs both given, or a knob out of range.
        """
        if options is None:
            options = MapOptions.build(**knobs)
        elif knobs:
            raise ConfigurationError(
                f"give the settings either as options= or as keywords, not both: "
                f"got options= and {', '.join(sorted(knobs))}"
            )
        # The engine (and with it the journal, the downloader, the planner) loads on the
        # first batch: a client used for single calls never needs it.
        from ..batch._engine import Batch

        return Batch(self.api, self.validate, model_id, inputs, options, self.price_of,
                     self.on_event)
