"""The budget's arithmetic, alone: whatever the order in which jobs are admitted and end, what
is spent never passes the cap when the estimates are right, and never by more than what the
estimates missed when they are not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runcomfy_async.batch._events import BatchProgress
from runcomfy_async.batch._spend import Spend
from runcomfy_async.core._job_errors import BudgetExceededError
from runcomfy_async.core._lifecycle import InputState
from runcomfy_async.core._wire import JobResult, JobState

ENDINGS = [InputState.SUCCEEDED, InputState.FAILED, InputState.WITHDRAWN,
           InputState.TIMED_OUT, InputState.UNKNOWN]


def result(cost: float | None) -> JobResult:
    return JobResult(request_id="r", state=JobState.SUCCEEDED, raw_state="succeeded", cost=cost)


def spend(cap: float | None) -> Spend:
    return Spend(BatchProgress(), max_spend=cap, assume_run_s=None, price_of=None)


@settings(max_examples=200, deadline=None)
@given(
    cap=st.floats(0, 50),
    jobs=st.lists(
        st.tuples(st.floats(0.01, 5), st.sampled_from(ENDINGS), st.floats(0.5, 1.5)),
        max_size=40,
    ),
    reported=st.booleans(),
)
def test_spend_never_passes_the_cap_by_more_than_the_estimates_missed(
    cap: float, jobs: list[tuple[float, InputState, float]], reported: bool
) -> None:
    budget = spend(cap)
    progress = budget._progress
    missed = 0.0
    in_flight: list[tuple[float, InputState, float]] = []
    for estimate, ending, error in jobs:
        # Admit while the cap allows, ending the oldest job every other step.
        if budget.admit(estimate) is None:
            in_flight.append((estimate, ending, error))
        if in_flight and len(in_flight) % 2 == 0:
            held, state, factor = in_flight.pop(0)
            cost = held * factor if reported else None
            if state is InputState.SUCCEEDED and cost is not None:
                missed += max(0.0, cost - held)
            budget.settle(held, state, result(cost) if state is InputState.SUCCEEDED else None)
    assert progress.spent_usd + progress.in_flight_usd <= cap + missed + 1e-9


def test_the_first_refusal_stops_every_later_submit() -> None:
    budget = spend(1.0)
    assert budget.admit(0.6) is None
    error = budget.admit(0.6)
    assert isinstance(error, BudgetExceededError)
    assert budget.stopped is not None
    assert budget.stopped.kind == "budget"
    assert budget.admit(0.01) is error  # even a job that would fit: the batch stopped
    assert "past its budget of $1" in str(error)


def test_a_job_without_a_reported_cost_counts_its_estimate_only_if_it_may_be_billed() -> None:
    budget = spend(None)
    for state in (InputState.SUCCEEDED, InputState.TIMED_OUT, InputState.FAILED,
                  InputState.WITHDRAWN):
        assert budget.admit(1.0) is None
        budget.settle(1.0, state, None)
    assert budget._progress.spent_usd == 2.0  # succeeded and timed out; not the others
    assert budget._progress.in_flight_usd == 0.0


async def _no_price(model_id: str) -> None:
    return None


def test_the_money_gate_is_skipped_only_when_it_would_change_nothing() -> None:
    # No budget, no estimate held, not stopped: admitting would hold nothing and refuse
    # nothing, so a submit may skip the gate.
    free = spend(None)
    assert not free.guards(None)
    # An earlier attempt's hold must be released (and replaced) before a resubmission.
    assert free.guards(0.5)
    # A stopped batch sends nothing more, budget or not.
    free.stop("balance", BudgetExceededError(max_spend=1.0, committed_usd=1.0, job_usd=0.1))
    assert free.guards(None)
    # Jobs are estimated (a budget, or cost tracking): every submit goes through the gate.
    priced = Spend(BatchProgress(), max_spend=1.0, assume_run_s=None, price_of=_no_price)
    assert priced.guards(None)
