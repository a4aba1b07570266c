"""What a batch would cost, worked out before anything is sent (``client.estimate``).

Inputs are read as a batch reads them (:func:`~..batch._inputs.split_input`) and checked as
a validating batch checks them; the inputs it would refuse are listed and cost nothing. The
price of each model comes from the catalog, fetched once per model (and cached by the
client). Nothing is submitted.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs

from ..batch._inputs import split_input
from ..batch._spend import PriceOf
from ..core._cost import Estimate, EstimateLine, job_estimate, outputs_of, why_not_estimated
from ..core._errors import InvalidInputError
from ..core._wire import Price

__all__ = ["estimate_inputs"]

Validate = Callable[[str, Mapping[str, Any]], Awaitable[None]]


@attrs.define
class _Tally:
    price: Price | None
    jobs: int = 0
    outputs: int = 0
    usd: float | None = 0.0


async def estimate_inputs(
    model_id: str | None,
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    price_of: PriceOf,
    validate: Validate | None,
    assume_run_s: float | None,
) -> Estimate:
    """The estimate of a batch of ``inputs`` (see :meth:`AsyncRunComfy.estimate`)."""
    tallies: dict[str, _Tally] = {}
    refused: list[tuple[int, str]] = []
    index = 0
    async for given in _each(inputs):
        index += 1
        try:
            mid, payload = split_input(model_id, given)
            if validate is not None:
                await validate(mid, payload)
        except InvalidInputError as exc:
            refused.append((index - 1, str(exc)))
            continue
        tally = tallies.get(mid)
        if tally is None:
            tally = tallies[mid] = _Tally(price=await price_of(mid))
        tally.jobs += 1
        tally.outputs += outputs_of(payload)
        usd = job_estimate(tally.price, payload, assume_run_s=assume_run_s)
        tally.usd = None if usd is None or tally.usd is None else tally.usd + usd
    return Estimate(
        lines=tuple(_line(mid, tally, assume_run_s) for mid, tally in tallies.items()),
        refused=tuple(refused),
    )


def _line(model_id: str, tally: _Tally, assume_run_s: float | None) -> EstimateLine:
    price = tally.price
    uncertain = why_not_estimated(price, model_id)
    assumed = None
    if price is not None and price.per_second and assume_run_s is not None:
        assumed = assume_run_s
        uncertain = (
            f"assumes each job runs {assume_run_s:g} s; {model_id} is billed per second of "
            "actual run time"
        )
    return EstimateLine(
        model_id=model_id, jobs=tally.jobs, outputs=tally.outputs, price=price,
        usd=tally.usd, assumed_run_s=assumed, uncertain=uncertain,
    )


async def _each(inputs: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(inputs, AsyncIterable):
        async for given in inputs:
            yield given
    else:
        for given in inputs:
            yield given
