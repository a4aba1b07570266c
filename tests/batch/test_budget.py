"""Cost: an estimate before a batch, what it spent while it ran, a budget, an empty balance.

Against the sandbox, which bills each succeeded job from its catalog price and can be given
a balance (then it answers 402 / 400002 once the token's spend reaches it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import runcomfy_async as rc
from runcomfy_async import InputState
from runcomfy_async.core._job_errors import BudgetExceededError
from runcomfy_async.core._wire import Price
from runcomfy_async.sandbox import ModelSpec, Sandbox
from runcomfy_async.store._manifest import ManifestRecord

from .conftest import SCHEMA, make_client, prompts

pytestmark = pytest.mark.timeout(60)

PRICE = 0.25  # a price that adds up exactly in binary, so that sums compare exactly
PER_IMAGE = "test/per-image"
TRIO = "test/trio"  # three images per job, each billed
PER_SECOND = "test/per-second"
COUNTED = "test/counted"  # says in its input how many images a job makes
COUNTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "properties": {"prompt": {"type": "string"}, "num_images": {"type": "integer"}},
}


@pytest.fixture
async def priced() -> AsyncIterator[Sandbox]:
    models = [
        ModelSpec(PER_IMAGE, SCHEMA, median_s=0.5, base_price_usd=PRICE,
                  pricing_note="per image"),
        ModelSpec(TRIO, SCHEMA, output_kind="images", images_per_job=3,
                  base_price_usd=PRICE),
        ModelSpec(PER_SECOND, SCHEMA, output_kind="video", median_s=2.0,
                  base_price_usd=0.5, price_unit="second"),
        ModelSpec(COUNTED, COUNTED_SCHEMA, base_price_usd=PRICE),
    ]
    async with Sandbox(models=models, workers=4, time_scale=0.01, seed=3) as sb:
        yield sb


async def collect(batch: rc.Batch) -> list[rc.Outcome]:
    async with batch as outcomes:
        return [outcome async for outcome in outcomes]


def paid_twice(sb: Sandbox) -> list[str]:
    return [key for key, n in sb.stats.snapshot().runs_by_input().items() if n > 1]


# --- The price and the estimate -----------------------------------------------------------


async def test_the_catalog_price_is_typed_and_fetched_once(priced: Sandbox) -> None:
    async with make_client(priced) as client:
        info = await client.models.get(PER_IMAGE)
        assert info.price == Price(usd=PRICE, unit="output", note="per image")
        before = priced.stats.snapshot().total_requests
        assert await client.price_of(PER_IMAGE) == info.price
        assert priced.stats.snapshot().total_requests == before  # cached by the client


async def test_the_estimate_equals_what_the_batch_is_billed(priced: Sandbox) -> None:
    inputs = prompts(12)
    async with make_client(priced) as client:
        estimate = await client.estimate(TRIO, inputs)
        assert priced.stats.snapshot().jobs_created == 0  # nothing was sent
        outcomes = await collect(client.map(TRIO, inputs))
    assert estimate.jobs == 12
    assert estimate.certain
    assert [o.state for o in outcomes] == [InputState.SUCCEEDED] * 12
    # The estimate counts one output per job (the model's input says nothing of three), so
    # it is a third of the bill: the per-output price applies to what the input asks.
    billed = priced.spent_usd()
    assert sum(o.cost_usd or 0 for o in outcomes) == billed == 12 * 3 * PRICE
    assert estimate.total_usd == 12 * PRICE


async def test_an_estimate_counts_the_outputs_an_input_asks_for(priced: Sandbox) -> None:
    inputs = [
        {"prompt": "a", "num_images": 4}, {"prompt": "b"}, {"prompt": "c", "num_images": "four"}
    ]
    async with make_client(priced) as client:
        estimate = await client.estimate(COUNTED, inputs)
    (line,) = estimate.lines
    assert (line.jobs, line.outputs) == (2, 5)
    assert estimate.total_usd == 5 * PRICE
    assert [index for index, _ in estimate.refused] == [2]  # num_images is an integer
    assert estimate.as_json()["models"][0]["price_unit"] == "output"


async def test_a_model_billed_per_second_is_estimated_only_with_a_run_time(
    priced: Sandbox,
) -> None:
    async with make_client(priced) as client:
        unknown = await client.estimate(PER_SECOND, prompts(4))
        assumed = await client.estimate(PER_SECOND, prompts(4), assume_run_s=3.0)
    assert unknown.total_usd is None
    assert not unknown.certain
    assert "per second" in (unknown.lines[0].uncertain or "")
    assert assumed.total_usd == 4 * 0.5 * 3.0
    assert assumed.lines[0].assumed_run_s == 3.0
    assert not assumed.certain


async def test_a_budget_on_a_model_without_an_estimate_is_refused_before_sending(
    priced: Sandbox,
) -> None:
    async with make_client(priced) as client:
        with pytest.raises(rc.ConfigurationError, match="assume_run_s"):
            await collect(client.map(PER_SECOND, prompts(4), max_spend=10.0))
    assert priced.stats.snapshot().jobs_created == 0


# --- What was spent -------------------------------------------------------------------------


async def test_outcomes_progress_and_manifest_carry_the_cost(
    priced: Sandbox, tmp_path: Path
) -> None:
    async with make_client(priced) as client:
        batch = client.map(PER_IMAGE, prompts(6), track_cost=True, download_to=tmp_path,
                           download_origins=[priced.cdn_base_url])
        outcomes = await collect(batch)
    assert [o.cost_usd for o in outcomes] == [PRICE] * 6
    assert batch.progress.spent_usd == 6 * PRICE
    assert batch.progress.in_flight_usd == 0
    manifest = [ManifestRecord.from_json(line)
                for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [record.cost_usd for record in manifest] == [PRICE] * 6


# --- A budget -------------------------------------------------------------------------------


async def test_a_budget_stops_submitting_before_it_is_passed_and_resume_sends_the_rest(
    priced: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    budget = 5.5 * PRICE  # room for five jobs, not six
    async with make_client(priced) as client:
        batch = client.map(PER_IMAGE, prompts(20), journal=journal, max_in_flight=4,
                           max_spend=budget)
        first = await collect(batch)
    sent = [o for o in first if o.state is InputState.SUCCEEDED]
    held = [o for o in first if o.state is InputState.OVER_BUDGET]
    assert len(sent) == 5
    assert len(held) == 15
    assert len(first) == 20
    assert all(isinstance(o.error, BudgetExceededError) for o in held)
    assert not any(o.ok for o in held)
    assert all(o.request_id is None for o in held)
    assert batch.stopped is not None
    assert batch.stopped.kind == "budget"
    assert priced.spent_usd() == batch.progress.spent_usd == 5 * PRICE <= budget

    async with make_client(priced) as client:
        resumed = await collect(client.map(PER_IMAGE, prompts(20), journal=journal,
                                           max_spend=100.0))
    assert {o.state for o in resumed} == {InputState.SUCCEEDED}
    assert sum(o.from_journal for o in resumed) == 5
    assert priced.stats.snapshot().jobs_created == 20
    assert paid_twice(priced) == []


@pytest.mark.parametrize("budget", [0.0, PRICE * 0.99, PRICE, 2.6 * PRICE, 7 * PRICE])
async def test_a_budget_is_never_passed(priced: Sandbox, budget: float) -> None:
    async with make_client(priced) as client:
        batch = client.map(PER_IMAGE, prompts(9), max_in_flight=3, max_spend=budget)
        outcomes = await collect(batch)
    spent = priced.spent_usd()
    assert spent <= budget
    assert spent > budget - PRICE  # and it stops no earlier than one job short
    assert len([o for o in outcomes if o.ok]) == int(budget / PRICE + 1e-9)


# --- An empty balance -----------------------------------------------------------------------


async def test_a_balance_running_out_stops_submitting_collects_the_rest_and_resumes(
    priced: Sandbox, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    priced.balance_usd = 3 * PRICE
    async with make_client(priced) as client:
        batch = client.map(PER_IMAGE, prompts(20), journal=journal, max_in_flight=2)
        first = await collect(batch)
    assert batch.stopped is not None
    assert batch.stopped.kind == "balance"
    assert isinstance(batch.stopped.error, rc.InsufficientBalanceError)
    states = [o.state for o in first]
    assert len(first) == 20
    assert states.count(InputState.SUCCEEDED) >= 3
    # The jobs the service accepted were all collected: none withdrawn, none lost.
    assert InputState.WITHDRAWN not in states
    assert InputState.SUBMITTED not in states
    assert states.count(InputState.REFUSED) >= 1
    assert states.count(InputState.SUCCEEDED) + states.count(InputState.REFUSED) + \
        states.count(InputState.OVER_BUDGET) == 20
    accepted = priced.stats.snapshot().jobs_created

    priced.balance_usd = None  # topped up
    async with make_client(priced) as client:
        resumed = await collect(client.map(PER_IMAGE, prompts(20), journal=journal))
    assert {o.state for o in resumed} == {InputState.SUCCEEDED}
    assert priced.stats.snapshot().jobs_created == 20
    assert accepted == states.count(InputState.SUCCEEDED)
    assert paid_twice(priced) == []
