"""Billing: a cost per job from the catalog price, a spend per token, and a balance that
refuses submits once it is spent (402 / 400002)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from runcomfy_async.sandbox import ModelSpec, Sandbox, ThreadedSandbox

from ._support import PROMPT_SCHEMA, STUCK, T2I, V2, auth, call, submit, wait_result

FAST = 0.0001
PRICED = ModelSpec("test/priced", PROMPT_SCHEMA, base_price_usd=0.06)


async def costed(session: aiohttp.ClientSession, sb: Sandbox, model_id: str) -> dict[str, object]:
    """Submit one job, wait for it, and read its result with the cost."""
    job = await submit(session, sb.base_url, model_id, {"prompt": "x"})
    await wait_result(session, job["result_url"])
    _, result = await call(session, "GET", job["result_url"] + "?include_cost=true")
    assert isinstance(result, dict)
    return result


@pytest.mark.parametrize(("model_id", "cost"), [(T2I, 0.06), (V2, 0.08)])
async def test_an_ideogram_job_costs_its_price_per_output_image(model_id: str, cost: float) -> None:
    async with (
        Sandbox(time_scale=FAST) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        result = await costed(session, sb, model_id)

    assert result["status"] == "succeeded"
    assert result["cost"] == cost


async def test_a_job_with_several_outputs_costs_each_one() -> None:
    trio = ModelSpec(
        "test/trio", PROMPT_SCHEMA, output_kind="images", images_per_job=3, base_price_usd=0.05
    )
    async with (
        Sandbox(models=[trio]) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        result = await costed(session, sb, trio.model_id)

    assert result["cost"] == 0.15


async def test_a_per_second_job_costs_its_model_run_time() -> None:
    timed = ModelSpec(
        "test/per-second",
        PROMPT_SCHEMA,
        output_kind="video",
        median_s=2.5,
        base_price_usd=0.1,
        price_unit="second",
    )
    async with (
        Sandbox(models=[timed], time_scale=FAST) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        result = await costed(session, sb, timed.model_id)
        record = sb.stats.jobs[0]

    assert result["cost"] == 0.25
    assert record.cost_usd == 0.25


async def test_failed_queued_and_cancelled_jobs_cost_nothing() -> None:
    async with (
        Sandbox(models=[PRICED, STUCK], workers=1, failure_rate=0.0) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        await submit(session, sb.base_url, STUCK.model_id, {"prompt": "runs"})
        queued = await submit(session, sb.base_url, PRICED.model_id, {"prompt": "waits"})
        cancelled = await submit(session, sb.base_url, PRICED.model_id, {"prompt": "goes"})
        await call(session, "POST", cancelled["cancel_url"])
        _, waiting = await call(session, "GET", queued["result_url"] + "?include_cost=true")
        _, withdrawn = await call(session, "GET", cancelled["result_url"] + "?include_cost=1")
    async with (
        Sandbox(models=[PRICED], failure_rate=1.0) as failing,
        aiohttp.ClientSession(headers=auth(failing.token)) as session,
    ):
        failed = await costed(session, failing, PRICED.model_id)
        spent = failing.spent_usd()

    assert (waiting["status"], waiting["cost"]) == ("in_queue", 0.0)
    assert (withdrawn["status"], withdrawn["cost"]) == ("cancelled", 0.0)
    assert (failed["status"], failed["cost"]) == ("failed", 0.0)
    assert spent == 0.0


async def test_spend_is_kept_per_token_in_the_stats() -> None:
    async with Sandbox(models=[PRICED]) as sb:
        other = sb.add_token()
        for token, jobs in ((sb.token, 3), (other, 1)):
            async with aiohttp.ClientSession(headers=auth(token)) as session:
                for _ in range(jobs):
                    await costed(session, sb, PRICED.model_id)
        stats = sb.stats.snapshot()
        mine, theirs = sb.spent_usd(), sb.spent_usd(other)

    assert stats.spend_by_token == pytest.approx({sb.token: 0.18, other: 0.06})
    assert stats.spend_usd == pytest.approx(0.24)
    assert (mine, theirs) == pytest.approx((0.18, 0.06))
    assert [record.cost_usd for record in stats.jobs] == [0.06] * 4
    assert json.loads(json.dumps(stats.to_json_dict()))["spend_usd"] == pytest.approx(0.24)


async def test_a_spent_balance_refuses_submits_with_402_and_400002() -> None:
    async with (
        Sandbox(models=[PRICED], balance_usd=0.1) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        await costed(session, sb, PRICED.model_id)
        await costed(session, sb, PRICED.model_id)
        status, body = await call(
            session, "POST", f"{sb.base_url}/models/{PRICED.model_id}", json={"prompt": "x"}
        )
        created = sb.stats.jobs_created

    assert status == 402
    assert body["error_code"] == 400002
    assert "balance" in body["error_message"]
    assert created == 2


async def test_a_zero_balance_refuses_the_first_submit_but_not_the_catalog() -> None:
    async with (
        Sandbox(balance_usd=0.0) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        submitted, _ = await call(
            session, "POST", f"{sb.base_url}/models/{T2I}", json={"prompt": "x"}
        )
        listed, _ = await call(session, "GET", f"{sb.base_url}/models")

    assert (submitted, listed) == (402, 200)


async def test_an_invalid_input_is_refused_as_invalid_even_without_balance() -> None:
    async with (
        Sandbox(balance_usd=0.0) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        status, body = await call(session, "POST", f"{sb.base_url}/models/{T2I}", json={})

    assert (status, body["error_code"]) == (422, 422001)


async def test_each_token_has_its_own_balance_and_a_top_up_lets_submits_in() -> None:
    async with Sandbox(models=[PRICED], balance_usd=0.05) as sb:
        other = sb.add_token()
        async with aiohttp.ClientSession(headers=auth(sb.token)) as session:
            await costed(session, sb, PRICED.model_id)
            refused, _ = await call(
                session, "POST", f"{sb.base_url}/models/{PRICED.model_id}", json={"prompt": "x"}
            )
            sb.stats.reset()
            still_refused, _ = await call(
                session, "POST", f"{sb.base_url}/models/{PRICED.model_id}", json={"prompt": "x"}
            )
            sb.balance_usd = 1.0
            topped_up, _ = await call(
                session, "POST", f"{sb.base_url}/models/{PRICED.model_id}", json={"prompt": "x"}
            )
        async with aiohttp.ClientSession(headers=auth(other)) as session:
            theirs, _ = await call(
                session, "POST", f"{sb.base_url}/models/{PRICED.model_id}", json={"prompt": "x"}
            )

    assert (refused, still_refused, topped_up, theirs) == (402, 402, 200, 200)


def test_a_threaded_sandbox_bills_and_takes_a_balance() -> None:
    with ThreadedSandbox(models=[PRICED], balance_usd=0.5) as sb:
        assert sb.balance_usd == 0.5
        sb.balance_usd = None
        assert sb.balance_usd is None
        assert sb.spent_usd() == 0.0
        assert sb.stats.spend_usd == 0.0


@pytest.mark.parametrize("balance", [-1.0, float("inf"), float("nan")])
def test_a_nonsense_balance_is_refused(balance: float) -> None:
    with pytest.raises(ValueError, match="balance_usd"):
        Sandbox(balance_usd=balance)
