"""Job states: both vocabularies, queue positions, cancel, timestamps, costs, failures."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import aiohttp

from runcomfy_async.sandbox import ModelSpec, Sandbox

from ._support import INSTANT, PROMPT_SCHEMA, STUCK, auth, call, download, submit, wait_result


async def test_zero_time_job_with_a_free_worker_succeeds_before_the_first_result(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})

    _, result = await call(session, "GET", job["result_url"])

    assert result["status"] == "succeeded"
    assert set(result["output"]) == {"image"}


async def test_status_says_completed_where_result_says_succeeded(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})

    status_code, status = await call(session, "GET", job["status_url"])

    assert status_code == 200
    assert status["status"] == "completed"
    assert "queue_position" not in status
    assert status["status_url"] == job["status_url"]
    assert status["result_url"] == job["result_url"]


async def test_status_says_completed_where_result_says_failed(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(ModelSpec("test/failing", PROMPT_SCHEMA, failure_rate=1.0))
    job = await submit(session, sandbox.base_url, "test/failing", {"prompt": "x"})

    _, status = await call(session, "GET", job["status_url"])
    _, result = await call(session, "GET", job["result_url"])

    assert status["status"] == "completed"
    assert result["status"] == "failed"
    assert "output" not in result
    assert result["error"]


async def test_failed_errors_take_string_object_and_list_shapes(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(ModelSpec("test/failing", PROMPT_SCHEMA, failure_rate=1.0))
    errors = []
    for n in range(12):
        job = await submit(session, sandbox.base_url, "test/failing", {"prompt": str(n)})
        errors.append((await wait_result(session, job["result_url"]))["error"])

    shapes = {type(error) for error in errors}
    assert shapes == {str, dict, list}
    assert all(set(e) == {"error_code", "error_message"} for e in errors if isinstance(e, dict))
    assert all(
        set(e[0]) == {"errorCode", "error", "debugInfo"} for e in errors if isinstance(e, list)
    )


async def test_one_worker_queues_the_rest_with_positions_from_zero(
    one_worker: Sandbox, one_worker_session: aiohttp.ClientSession
) -> None:
    session = one_worker_session
    jobs = [
        await submit(session, one_worker.base_url, STUCK.model_id, {"prompt": str(n)})
        for n in range(4)
    ]

    statuses = [(await call(session, "GET", job["status_url"]))[1] for job in jobs]
    _, early_result = await call(session, "GET", jobs[2]["result_url"])

    assert statuses[0]["status"] == "in_progress"
    assert "queue_position" not in statuses[0]
    assert [(s["status"], s["queue_position"]) for s in statuses[1:]] == [
        ("in_queue", 0),
        ("in_queue", 1),
        ("in_queue", 2),
    ]
    assert early_result["status"] == "in_queue"
    assert "output" not in early_result


async def test_cancelling_a_queued_job_cancels_it_and_moves_the_queue_up(
    one_worker: Sandbox, one_worker_session: aiohttp.ClientSession
) -> None:
    session = one_worker_session
    jobs = [
        await submit(session, one_worker.base_url, STUCK.model_id, {"prompt": str(n)})
        for n in range(4)
    ]

    code, answer = await call(session, "POST", jobs[2]["cancel_url"])
    _, last = await call(session, "GET", jobs[3]["status_url"])
    _, cancelled_status = await call(session, "GET", jobs[2]["status_url"])
    _, cancelled_result = await call(session, "GET", jobs[2]["result_url"])
    cancellations = one_worker.stats.cancellations

    assert code == 202
    # As in the documentation's example answer: the request is over, the outcome says how.
    assert answer == {
        "request_id": jobs[2]["request_id"],
        "status": "completed",
        "outcome": "cancelled",
    }
    assert last["queue_position"] == 1
    assert cancelled_status["status"] == "cancelled"
    assert cancelled_result["status"] == "cancelled"
    assert cancellations == 1


async def test_cancelling_a_running_job_is_not_cancellable(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, STUCK.model_id, {"prompt": "x"})

    code, answer = await call(session, "POST", job["cancel_url"])
    _, status = await call(session, "GET", job["status_url"])

    assert code == 202
    assert (answer["status"], answer["outcome"]) == ("in_progress", "not_cancellable")
    assert status["status"] == "in_progress"


async def test_cancelling_a_finished_job_changes_nothing(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})

    code, answer = await call(session, "POST", job["cancel_url"])
    _, result = await call(session, "GET", job["result_url"])

    assert code == 202
    assert (answer["status"], answer["outcome"]) == ("completed", "not_cancellable")
    assert result["status"] == "succeeded"
    assert sandbox.stats.cancellations == 0


async def test_cancelling_a_cancelled_job_again_is_not_cancellable(
    one_worker: Sandbox, one_worker_session: aiohttp.ClientSession
) -> None:
    session = one_worker_session
    await submit(session, one_worker.base_url, STUCK.model_id, {"prompt": "running"})
    job = await submit(session, one_worker.base_url, STUCK.model_id, {"prompt": "queued"})
    await call(session, "POST", job["cancel_url"])

    _, again = await call(session, "POST", job["cancel_url"])

    assert (again["status"], again["outcome"]) == ("cancelled", "not_cancellable")


async def test_result_timestamps_are_iso_8601_with_utc_offset_and_ordered(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})

    _, result = await call(session, "GET", job["result_url"])

    stamps = [result[key] for key in ("created_at", "started_at", "finished_at")]
    assert all(stamp.endswith("+00:00") for stamp in stamps)
    parsed = [datetime.fromisoformat(stamp) for stamp in stamps]
    assert all(moment.utcoffset() == timedelta(0) for moment in parsed)
    assert parsed == sorted(parsed)


async def test_queued_result_has_created_at_only(
    one_worker: Sandbox, one_worker_session: aiohttp.ClientSession
) -> None:
    session = one_worker_session
    await submit(session, one_worker.base_url, STUCK.model_id, {"prompt": "running"})
    job = await submit(session, one_worker.base_url, STUCK.model_id, {"prompt": "queued"})

    _, result = await call(session, "GET", job["result_url"])

    assert result["status"] == "in_queue"
    assert "created_at" in result
    assert "started_at" not in result
    assert "finished_at" not in result


async def test_include_cost_adds_the_models_price(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(ModelSpec("test/priced", PROMPT_SCHEMA, base_price_usd=0.25))
    job = await submit(session, sandbox.base_url, "test/priced", {"prompt": "x"})

    _, plain = await call(session, "GET", job["result_url"])
    _, costed = await call(session, "GET", job["result_url"] + "?include_cost=true")

    assert "cost" not in plain
    assert costed["cost"] == 0.25


async def test_images_model_answers_a_list_of_distinct_files(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(
        ModelSpec("test/trio", PROMPT_SCHEMA, output_kind="images", images_per_job=3)
    )
    job = await submit(session, sandbox.base_url, "test/trio", {"prompt": "x"})

    _, result = await call(session, "GET", job["result_url"])
    files = [(await download(url))[1] for url in result["output"]["images"]]

    assert len(files) == 3
    assert len(set(files)) == 3


async def test_video_model_answers_a_video_url_served_as_mp4(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(ModelSpec("test/video", PROMPT_SCHEMA, output_kind="video"))
    job = await submit(session, sandbox.base_url, "test/video", {"prompt": "x"})

    _, result = await call(session, "GET", job["result_url"])
    response, data = await download(result["output"]["video"])

    assert set(result["output"]) == {"video"}
    assert response.headers["Content-Type"] == "video/mp4"
    assert data[4:8] == b"ftyp"


async def test_time_scale_multiplies_run_times() -> None:
    one_second = ModelSpec("test/one-second", PROMPT_SCHEMA, median_s=1.0)
    async with (
        Sandbox(time_scale=0.02, models=[one_second]) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        job = await submit(session, sb.base_url, one_second.model_id, {"prompt": "x"})
        await wait_result(session, job["result_url"])
        record = sb.stats.jobs[0]

    assert record.duration_s == 1.0
    assert record.started_s is not None
    assert record.finished_s is not None
    assert 0.02 <= record.finished_s - record.started_s < 0.5
    finished_model_s = record.finished_model_s
    assert finished_model_s is not None
    assert record.started_model_s is not None
    assert abs(finished_model_s - record.started_model_s - 1.0) < 0.5


async def test_jobs_run_at_most_workers_at_a_time() -> None:
    short = ModelSpec("test/short", PROMPT_SCHEMA, median_s=1.0)
    async with (
        Sandbox(workers=2, time_scale=0.01, models=[short]) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        jobs = [
            await submit(session, sb.base_url, short.model_id, {"prompt": str(n)}) for n in range(6)
        ]
        await asyncio.gather(*(wait_result(session, job["result_url"]) for job in jobs))
        records = sb.stats.jobs

    spans = [(r.started_s or 0.0, r.finished_s or 0.0) for r in records]
    most_at_once = max(sum(start <= t < end for start, end in spans) for t, _ in spans)
    assert most_at_once == 2
