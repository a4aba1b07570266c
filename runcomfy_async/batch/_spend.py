"""A batch's money: what its jobs cost, what the ones in flight will, and the cap.

Before each submit the submitter asks :meth:`Spend.admit`. With a cap (``max_spend``), an
input is sent only if what was spent, plus the estimates held for the jobs in flight, plus
its own estimate stays within the cap; the first input that would pass it stops the batch
from submitting (the jobs in flight finish and are collected, the rest end
``over_budget``). The cap is therefore never passed by more than what the estimates miss:
it is as exact as the catalog's prices and the service's cost reports.

When a job ends its hold is released and its cost settled: the cost the service reported
(``include_cost``), else, for a job that ran and may be billed, its estimate (a budget
errs on the side of the money).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from .._constants import LOGGER_NAME
from ..core._cost import job_estimate, why_not_estimated
from ..core._errors import ConfigurationError, RunComfyError
from ..core._job_errors import BudgetExceededError
from ..core._lifecycle import RULES, InputState
from ..core._wire import JobResult, Price
from ._events import BatchProgress

__all__ = ["PriceOf", "Spend", "StopReason"]

_log = logging.getLogger(LOGGER_NAME)

PriceOf = Callable[[str], Awaitable[Price | None]]
"""``await price_of(model_id)``: the model's catalog price (None when it has none)."""

# Ended without running, or ended so that the service bills nothing (as far as known): a job
# in these states costs what the service reported, else nothing.
_NOT_BILLED = frozenset({
    InputState.FAILED, InputState.CANCELLED, InputState.WITHDRAWN, InputState.EXPIRED,
})


@attrs.frozen
class StopReason:
    """Why a batch stopped submitting before its inputs ran out.

    Attributes:
        kind: ``"budget"`` (the cap would have been passed) or ``"balance"`` (the service
            said the account's balance ran out: 400002 / HTTP 402).
        error: the error each held-back input ends with.
    """

    kind: str
    error: RunComfyError


class Spend:
    """Settled costs, holds for jobs in flight, and the cap, for one batch.

    Args:
        progress: the batch's counters, whose ``spent_usd`` and ``in_flight_usd`` this
            keeps current.
        max_spend: the cap in USD, or None for none.
        assume_run_s: the run time to assume for models billed per second.
        price_of: the models' prices; None when the batch neither tracks cost nor keeps a
            budget (then nothing is estimated and only reported costs are added up).
    """

    def __init__(
        self,
        progress: BatchProgress,
        *,
        max_spend: float | None,
        assume_run_s: float | None,
        price_of: PriceOf | None,
    ) -> None:
        self._progress = progress
        self.max_spend = max_spend
        self._assume_run_s = assume_run_s
        self._price_of = price_of
        self._prices: dict[str, Price | None] = {}
        self.stopped: StopReason | None = None

    def guards(self, held: float | None) -> bool:
        """Whether a submit must pass the money gate (release, estimate, admit) first: when
        jobs are estimated, when the input holds an earlier attempt's estimate, or when the
        batch stopped submitting. Otherwise the gate would change nothing, and a batch
        without a budget skips it on every submit."""
        return self._price_of is not None or held is not None or self.stopped is not None

    async def price(self, model_id: str) -> Price | None:
        """The model's price, fetched once per batch (the client's catalog caches it too)."""
        if model_id not in self._prices:
            assert self._price_of is not None
            try:
                self._prices[model_id] = await self._price_of(model_id)
            except RunComfyError as exc:
                # No price is no estimate: only a budget needs one (it refuses below).
                _log.warning("no price for %s (%s): its jobs are not estimated", model_id, exc)
                self._prices[model_id] = None
        return self._prices[model_id]

    async def estimate(self, model_id: str, payload: Mapping[str, Any]) -> float | None:
        """One job's estimate; with a cap, a job that cannot be estimated is an error."""
        if self._price_of is None:
            return None
        price = await self.price(model_id)
        usd = job_estimate(price, payload, assume_run_s=self._assume_run_s)
        if usd is None and self.max_spend is not None:
            raise ConfigurationError(
                f"max_spend needs an estimate of every job before it is sent: "
                f"{why_not_estimated(price, model_id)}"
            )
        return usd

    async def hold(self, model_id: str | None, payload: Mapping[str, Any] | None) -> float | None:
        """Hold the estimate of a job already on the service (one an earlier run sent, or
        one attached): it will be billed whatever the cap says, so it only counts."""
        if self._price_of is None or model_id is None or payload is None:
            return None
        price = await self.price(model_id)
        usd = job_estimate(price, payload, assume_run_s=self._assume_run_s)
        if usd:
            self._progress.in_flight_usd += usd
        return usd

    def admit(self, estimate: float | None) -> RunComfyError | None:
        """Hold ``estimate`` for a job about to be sent. Returns the error the input ends
        with instead when it must not be sent: it would pass the cap (the batch then stops
        submitting), or the batch stopped submitting already."""
        if self.stopped is not None:
            return self.stopped.error
        progress = self._progress
        if self.max_spend is not None and estimate is not None:
            committed = progress.spent_usd + progress.in_flight_usd
            # A hair of tolerance: prices like 0.1 do not add up exactly in binary.
            if committed + estimate > self.max_spend * (1 + 1e-9):
                error = BudgetExceededError(
                    max_spend=self.max_spend, committed_usd=committed, job_usd=estimate
                )
                self.stopped = StopReason("budget", error)
                return error
        if estimate is not None:
            progress.in_flight_usd += estimate
        return None

    def stop(self, kind: str, error: RunComfyError) -> None:
        """Stop submitting (the first reason stays)."""
        if self.stopped is None:
            self.stopped = StopReason(kind, error)

    def release(self, held: float | None) -> None:
        """Give back a hold (its job will not run, or is being replaced)."""
        if held:
            self._progress.in_flight_usd = max(0.0, self._progress.in_flight_usd - held)

    def settle(self, held: float | None, state: InputState, result: JobResult | None) -> None:
        """A job (attempt) ended: release its hold and add what it cost."""
        if held is None and (result is None or result.cost is None):
            return  # nothing held, nothing reported: the common case without a budget
        self.release(held)
        cost = result.cost if result is not None else None
        if cost is None and RULES[state].job_may_exist and state not in _NOT_BILLED:
            cost = held  # ran, or may have: count what it was expected to cost
        if cost:
            self._progress.spent_usd += cost
