"""Submit: the answer's shape, model routing, and every way an input is refused."""

from __future__ import annotations

import json

import aiohttp
import pytest

from runcomfy_async.sandbox import ModelSpec, Sandbox

from ._support import PROMPT_SCHEMA, T2I, V2, call, submit

MAX_REQUEST_BYTES = 64 * 1024 * 1024


async def test_submit_answers_request_id_and_absolute_urls(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    body = await submit(session, sandbox.base_url, T2I, {"prompt": "a fox"})

    request_id = body["request_id"]
    assert set(body) == {"request_id", "status_url", "result_url", "cancel_url"}
    assert body["status_url"] == f"{sandbox.base_url}/requests/{request_id}/status"
    assert body["result_url"] == f"{sandbox.base_url}/requests/{request_id}/result"
    assert body["cancel_url"] == f"{sandbox.base_url}/requests/{request_id}/cancel"


async def test_request_ids_are_uuid_shaped(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    body = await submit(session, sandbox.base_url, T2I, {"prompt": "a fox"})

    parts = body["request_id"].split("-")
    assert [len(part) for part in parts] == [8, 4, 4, 4, 12]


@pytest.mark.parametrize("model_id", ["acme/two", "acme/three/x", "acme/four/x/y"])
async def test_model_ids_with_two_to_four_segments_route_for_get_and_post(
    sandbox: Sandbox, session: aiohttp.ClientSession, model_id: str
) -> None:
    sandbox.register_model(ModelSpec(model_id, PROMPT_SCHEMA))

    await submit(session, sandbox.base_url, model_id, {"prompt": "x"})
    status, detail = await call(session, "GET", f"{sandbox.base_url}/models/{model_id}")

    assert status == 200
    assert detail["model_id"] == model_id


async def test_unknown_model_is_400001(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    status, body = await call(
        session, "POST", f"{sandbox.base_url}/models/nobody/nothing", json={"prompt": "x"}
    )

    assert (status, body["error_code"]) == (400, 400001)
    assert body["error_message"]


async def test_extra_unknown_fields_are_allowed(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    await submit(session, sandbox.base_url, T2I, {"prompt": "x", "not_in_schema": [1, 2]})


async def test_invalid_input_is_422001_naming_each_failing_field(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await call(
        session,
        "POST",
        f"{sandbox.base_url}/models/{V2}",
        json={"aspect_ratio": "2:1", "seed": -1, "expand_prompt": "yes"},
    )

    assert (status, body["error_code"]) == (422, 422001)
    assert [item["loc"] for item in body["detail"]] == [
        ["aspect_ratio"],
        ["expand_prompt"],
        ["prompt"],
        ["seed"],
    ]
    assert all(item["msg"] and item["type"] for item in body["detail"])


async def test_schema_type_float_is_read_as_number(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(ModelSpec("acme/floaty", PROMPT_SCHEMA))

    await submit(session, sandbox.base_url, "acme/floaty", {"prompt": "x", "strength": 0.5})
    status, body = await call(
        session,
        "POST",
        f"{sandbox.base_url}/models/acme/floaty",
        json={"prompt": "x", "strength": "strong"},
    )

    assert status == 422
    assert [item["loc"] for item in body["detail"]] == [["strength"]]


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"{not json", b""])
async def test_body_that_is_not_a_json_object_is_422001(
    sandbox: Sandbox, session: aiohttp.ClientSession, raw: bytes
) -> None:
    status, body = await call(
        session,
        "POST",
        f"{sandbox.base_url}/models/{T2I}",
        data=raw,
        headers={"Content-Type": "application/json"},
    )

    assert (status, body["error_code"]) == (422, 422001)
    assert isinstance(body["detail"], list)


async def test_body_over_64_mib_is_413001(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    raw = json.dumps({"prompt": "x" * MAX_REQUEST_BYTES}).encode()

    status, body = await call(
        session,
        "POST",
        f"{sandbox.base_url}/models/{T2I}",
        data=raw,
        headers={"Content-Type": "application/json"},
    )

    assert (status, body["error_code"]) == (413, 413001)
    assert sandbox.stats.jobs_created == 0


async def test_body_just_under_64_mib_is_accepted(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    padding = MAX_REQUEST_BYTES - len(b'{"prompt":"x","pad":""}')
    raw = b'{"prompt":"x","pad":"' + b"p" * padding + b'"}'

    status, _ = await call(
        session,
        "POST",
        f"{sandbox.base_url}/models/{T2I}",
        data=raw,
        headers={"Content-Type": "application/json"},
    )

    assert status == 200
