"""What jobs cost before they run: one job's estimate, and a whole batch's.

A job's price comes from its model's catalog entry (:class:`~._wire.Price`):

- per ``output``: each output file of a succeeded job is billed, so a job costs the price
  times the outputs it asks for. Models that make several files say how many in their
  input (:data:`OUTPUT_COUNT_FIELDS`, e.g. ``num_images``); the others make one.
- per ``second`` of run time: the run time is not known before the job runs, so there is
  no estimate unless the caller states one (``assume_run_s``), and then it is only as good
  as that assumption.
- any other unit, or no price in the catalog: no estimate.

The service's reported cost (``include_cost``) is the truth once a job is over; these
estimates only say what to expect, and what a budget holds back for a job in flight.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from .._constants import USD_DIGITS
from ._wire import Price

__all__ = ["OUTPUT_COUNT_FIELDS", "Estimate", "EstimateLine", "job_estimate", "outputs_of"]

OUTPUT_COUNT_FIELDS: Final = ("num_images", "num_outputs", "num_videos", "batch_size")
"""Input fields that say how many files a job makes, in the order they are looked for."""


def outputs_of(payload: Mapping[str, Any]) -> int:
    """How many output files a job with this input makes (1 unless a count field says)."""
    for field in OUTPUT_COUNT_FIELDS:
        value = payload.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
    return 1


def job_estimate(
    price: Price | None, payload: Mapping[str, Any], *, assume_run_s: float | None = None
) -> float | None:
    """One job's expected cost in USD, or None when it cannot be estimated."""
    if price is None:
        return None
    if price.per_output:
        return price.usd * outputs_of(payload)
    if price.per_second and assume_run_s is not None:
        return price.usd * assume_run_s
    return None


def why_not_estimated(price: Price | None, model_id: str) -> str | None:
    """Why jobs of a model have no estimate (None when they have one)."""
    if price is None:
        return f"the catalog gives no price for {model_id}"
    if price.per_second:
        return (
            f"{model_id} is billed per second of run time, which is known only once a job "
            "has run; state a run time to estimate (assume_run_s, --assume-seconds)"
        )
    if not price.per_output:
        return f"{model_id} is billed per {price.unit!r}, a unit this version cannot estimate"
    return None


@attrs.frozen(kw_only=True)
class EstimateLine:
    """The jobs of one model in an estimate.

    Attributes:
        model_id: the model.
        jobs: how many jobs would be submitted.
        outputs: how many output files they would make in all.
        price: the model's price, when the catalog gives one.
        usd: what they would cost, or None when it cannot be estimated.
        assumed_run_s: for a model billed per second, the run time the estimate assumed.
        uncertain: why there is no estimate, or what it rests on.
    """

    model_id: str
    jobs: int
    outputs: int
    price: Price | None
    usd: float | None
    assumed_run_s: float | None = None
    uncertain: str | None = None


@attrs.frozen(kw_only=True)
class Estimate:
    """What a batch would cost, worked out before anything is sent.

    Attributes:
        lines: one line per model, in the order the models first appear.
        refused: the inputs a batch would refuse before sending (index, reason): they cost
            nothing and are not counted in the lines.
    """

    lines: tuple[EstimateLine, ...]
    refused: tuple[tuple[int, str], ...] = ()

    @property
    def jobs(self) -> int:
        return sum(line.jobs for line in self.lines)

    @property
    def outputs(self) -> int:
        return sum(line.outputs for line in self.lines)

    @property
    def total_usd(self) -> float | None:
        """The estimated total, or None when some jobs cannot be estimated."""
        if any(line.usd is None for line in self.lines):
            return None
        return sum(line.usd or 0.0 for line in self.lines)

    @property
    def known_usd(self) -> float:
        """The estimated cost of the jobs that can be estimated."""
        return sum(line.usd or 0.0 for line in self.lines)

    @property
    def certain(self) -> bool:
        """True when every line is priced per output (no assumption, nothing unknown)."""
        return all(line.uncertain is None for line in self.lines)

    def as_json(self) -> dict[str, Any]:
        """The estimate as a JSON-ready object (what ``batch --dry-run --json`` prints).
        Dollar figures are rounded to a millionth: sums of prices like 0.06 do not add up
        exactly in binary, and ``1.9200000000000013`` says nothing more than ``1.92``."""
        return {
            "jobs": self.jobs,
            "outputs": self.outputs,
            "total_usd": _usd(self.total_usd),
            "known_usd": _usd(self.known_usd),
            "certain": self.certain,
            "models": [
                {
                    "model_id": line.model_id,
                    "jobs": line.jobs,
                    "outputs": line.outputs,
                    "price_usd": line.price.usd if line.price else None,
                    "price_unit": line.price.unit if line.price else None,
                    "pricing_note": line.price.note if line.price else None,
                    "usd": _usd(line.usd),
                    "assumed_run_s": line.assumed_run_s,
                    "uncertain": line.uncertain,
                }
                for line in self.lines
            ],
            "refused": [{"index": index, "reason": reason} for index, reason in self.refused],
        }


def _usd(amount: float | None) -> float | None:
    return None if amount is None else round(amount, USD_DIGITS)
