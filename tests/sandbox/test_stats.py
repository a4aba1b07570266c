"""What `sandbox.stats` counts, for tests and benchmarks to assert on."""

from __future__ import annotations

import json

import aiohttp

from runcomfy_async.sandbox import Sandbox

from ._support import INSTANT, STUCK, T2I, call, submit


async def test_stats_count_requests_per_endpoint_and_status(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})
    await call(session, "GET", job["status_url"])
    await call(session, "GET", job["result_url"])
    await call(session, "POST", job["cancel_url"])
    await call(session, "GET", f"{sandbox.base_url}/models")
    await call(session, "POST", f"{sandbox.base_url}/models/{T2I}", json={})

    stats = sandbox.stats
    assert stats.total_requests == 6
    assert stats.requests_by_endpoint == {
        "submit": 2,
        "status": 1,
        "result": 1,
        "cancel": 1,
        "models": 1,
    }
    assert stats.responses_by_status == {200: 4, 202: 1, 422: 1}
    assert stats.responses_by_endpoint_status[("submit", 422)] == 1


async def test_stats_count_each_canonical_input_submitted(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "a", "b": 1})
    await submit(session, sandbox.base_url, INSTANT.model_id, {"b": 1, "prompt": "a"})
    await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "other"})

    assert sandbox.stats.jobs_created == 3
    assert sandbox.stats.submissions_by_input == {
        '{"b":1,"prompt":"a"}': 2,
        '{"prompt":"other"}': 1,
    }


async def test_job_records_carry_sandbox_clock_times(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    before = sandbox.clock()
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})
    after = sandbox.clock()

    record = sandbox.stats.job(job["request_id"])

    assert record is not None
    assert (record.index, record.model_id, record.outcome) == (0, INSTANT.model_id, "succeeded")
    assert before <= record.submitted_s <= (record.started_s or 0) <= (record.finished_s or 0)
    assert (record.finished_s or 0) <= after


async def test_job_records_follow_a_running_job(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, STUCK.model_id, {"prompt": "x"})

    record = sandbox.stats.job(job["request_id"])

    assert record is not None
    assert record.outcome == "in_progress"
    assert record.started_s is not None
    assert record.finished_s is None
    assert record.duration_s == 3600.0


async def test_stats_reset_clears_every_counter(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})

    sandbox.stats.reset()

    snapshot = sandbox.stats.snapshot()
    assert snapshot.total_requests == snapshot.jobs_created == 0
    assert snapshot.jobs == ()
    assert snapshot.submissions_by_input == {}


async def test_stats_snapshot_dumps_as_json(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})

    dumped = json.loads(json.dumps(sandbox.stats.snapshot().to_json_dict()))

    assert dumped["responses_by_endpoint_status"] == {"submit 200": 1}
    assert dumped["jobs"][0]["request_id"] == job["request_id"]
