"""Job failures on demand for any model, and request ids: unique by default, repeatable
only with a seed."""

from __future__ import annotations

import aiohttp
import attrs
import pytest

from runcomfy_async.sandbox import Sandbox, ThreadedSandbox
from runcomfy_async.sandbox._standalone import build_parser, failure_rates

from ._support import INSTANT, T2I, V2, auth, call, submit, wait_result

FAST = 0.0001


async def outcomes(sb: Sandbox, model_id: str, count: int) -> list[dict[str, object]]:
    """Submit `count` jobs and wait for each; their final /result bodies."""
    async with aiohttp.ClientSession(headers=auth(sb.token)) as session:
        jobs = [
            await submit(session, sb.base_url, model_id, {"prompt": str(n)}) for n in range(count)
        ]
        return [await wait_result(session, job["result_url"]) for job in jobs]


async def test_a_failure_rate_of_one_fails_ideogram_jobs() -> None:
    async with Sandbox(failure_rate=1.0, time_scale=FAST) as sb:
        [result] = await outcomes(sb, T2I, 1)
        async with aiohttp.ClientSession(headers=auth(sb.token)) as session:
            rid = result["request_id"]
            _, status = await call(session, "GET", f"{sb.base_url}/requests/{rid}/status")

    assert result["status"] == "failed"
    assert result["error"]
    assert "output" not in result
    assert status["status"] == "completed"


async def test_failed_jobs_carry_every_error_shape_seen_in_the_wild() -> None:
    async with Sandbox(failure_rate=1.0, time_scale=FAST) as sb:
        errors = [result["error"] for result in await outcomes(sb, V2, 12)]

    assert {type(error) for error in errors} == {str, dict, list}
    for error in errors:
        if isinstance(error, list):
            assert all(set(item) == {"errorCode", "error", "debugInfo"} for item in error)
        elif isinstance(error, dict):
            assert set(error) == {"error_code", "error_message"}


async def test_failures_are_drawn_by_seed() -> None:
    async def run(seed: int) -> list[object]:
        async with Sandbox(seed=seed, failure_rate=0.5, time_scale=FAST) as sb:
            return [result["status"] for result in await outcomes(sb, T2I, 10)]

    first, again = await run(seed=21), await run(seed=21)

    assert first == again
    assert set(first) == {"succeeded", "failed"}


async def test_the_failure_rate_can_be_changed_while_serving() -> None:
    async with Sandbox(models=[INSTANT]) as sb:
        [before] = await outcomes(sb, INSTANT.model_id, 1)
        sb.failure_rate = 1.0
        [during] = await outcomes(sb, INSTANT.model_id, 1)
        sb.failure_rate = 0.0
        [after] = await outcomes(sb, INSTANT.model_id, 1)

    assert [before["status"], during["status"], after["status"]] == [
        "succeeded",
        "failed",
        "succeeded",
    ]


async def test_a_models_own_failure_rate_still_applies() -> None:
    always = attrs.evolve(INSTANT, failure_rate=1.0)
    async with Sandbox(models=[always], failure_rate=0.0) as sb:
        [result] = await outcomes(sb, INSTANT.model_id, 1)

    assert result["status"] == "failed"


def test_a_threaded_sandbox_takes_a_failure_rate() -> None:
    with ThreadedSandbox(failure_rate=0.25) as sb:
        assert sb.failure_rate == 0.25
        sb.failure_rate = 1.0
        assert sb.failure_rate == 1.0


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_a_failure_rate_outside_0_to_1_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        Sandbox(failure_rate=rate)


def test_failure_rate_entries_parse_for_every_model_or_one() -> None:
    assert failure_rates(["0.2", f"{T2I}=1", f"{V2}=0"]) == (0.2, {T2I: 1.0, V2: 0.0})
    assert failure_rates([]) == (0.0, {})


@pytest.mark.parametrize("entry", ["lots", "1.5", f"{T2I}=-1", "=x"])
def test_failure_rate_entries_refuse_nonsense(entry: str) -> None:
    with pytest.raises(ValueError, match=entry.split("=")[-1] or "rate"):
        failure_rates([entry])


# --- Request ids ---------------------------------------------------------------------------


async def first_ids(sandbox: Sandbox, count: int = 3) -> list[str]:
    async with sandbox as sb, aiohttp.ClientSession(headers=auth(sb.token)) as session:
        return [
            (await submit(session, sb.base_url, INSTANT.model_id, {"prompt": str(n)}))["request_id"]
            for n in range(count)
        ]


async def test_two_fresh_sandboxes_never_issue_the_same_request_id() -> None:
    first = await first_ids(Sandbox(models=[INSTANT]))
    second = await first_ids(Sandbox(models=[INSTANT]))

    assert not set(first) & set(second)
    assert len(set(first)) == 3


@pytest.mark.parametrize("seed", [0, 5])
async def test_a_seed_asked_for_makes_the_ids_repeat(seed: int) -> None:
    first = await first_ids(Sandbox(seed=seed, models=[INSTANT]))
    again = await first_ids(Sandbox(seed=seed, models=[INSTANT]))

    assert first == again


async def test_unseeded_sandboxes_still_draw_the_same_run_times() -> None:
    timed = attrs.evolve(INSTANT, median_s=5.0, sigma=0.5)

    async def durations() -> list[float]:
        async with (
            Sandbox(models=[timed], workers=1) as sb,
            aiohttp.ClientSession(headers=auth(sb.token)) as session,
        ):
            for n in range(3):
                await submit(session, sb.base_url, timed.model_id, {"prompt": str(n)})
            return [record.duration_s for record in sb.stats.jobs]

    first, again = await durations(), await durations()

    assert first == again
    assert len(set(first)) == 3


def test_the_fixture_factory_sandboxes_issue_distinct_ids(
    runcomfy_sandbox_factory: object,
) -> None:
    import json
    import urllib.request

    assert callable(runcomfy_sandbox_factory)
    ids = []
    for _ in range(2):
        sb = runcomfy_sandbox_factory()
        request = urllib.request.Request(
            f"{sb.base_url}/models/{T2I}",
            data=json.dumps({"prompt": "x"}).encode(),
            headers={**auth(sb.token), "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            ids.append(json.loads(response.read())["request_id"])

    assert ids[0] != ids[1]


def test_the_standalone_server_leaves_the_seed_unset_by_default() -> None:
    assert build_parser().parse_args([]).seed is None
    assert build_parser().parse_args(["--seed", "3"]).seed == 3
