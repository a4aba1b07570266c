"""Answers outside the API (unknown paths, trailing slashes, wrong methods) and bodies that
are not declared as JSON, all in the API's own error shape."""

from __future__ import annotations

import json

import aiohttp
import pytest

from runcomfy_async.sandbox import Sandbox

from ._support import EDIT, INSTANT, REFRAME, T2I, call, submit

RID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1",
        "/v1/nothing",
        "/v2/models",
        "/v1/models/",
        f"/v1/models/{T2I}/",
        "/v1/models//ideogram",
        f"/v1/requests/{RID}",
        f"/v1/requests/{RID}/status/",
        f"/v1/requests/{RID}/result/",
        f"/v1/requests/{RID}/outputs",
    ],
)
async def test_a_path_outside_the_api_is_404_in_the_api_error_shape(
    sandbox: Sandbox, session: aiohttp.ClientSession, path: str
) -> None:
    async with session.get(f"{sandbox.base_url.removesuffix('/v1')}{path}") as response:
        status, content_type = response.status, response.content_type
        body = await response.json()

    assert (status, content_type) == (404, "application/json")
    assert body["error_code"] == 404000
    assert body["error_message"]
    # Not 404001: a client must not read a mistyped path as "your request id is gone".
    assert set(body) == {"error_code", "error_message"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/models", "GET, HEAD"),
        ("POST", "/models", "GET, HEAD"),
        ("PUT", f"/models/{T2I}", "GET, HEAD, POST"),
        ("DELETE", "/models/categories", "GET, HEAD, POST"),
        ("POST", f"/requests/{RID}/status", "GET, HEAD"),
        ("POST", f"/requests/{RID}/result", "GET, HEAD"),
        ("GET", f"/requests/{RID}/cancel", "POST"),
    ],
)
async def test_a_method_a_path_does_not_take_is_405_with_allow(
    sandbox: Sandbox, session: aiohttp.ClientSession, method: str, path: str, allowed: str
) -> None:
    async with session.request(method, f"{sandbox.base_url}{path}") as response:
        status, allow = response.status, response.headers.get("Allow")
        body = await response.json()

    assert (status, allow) == (405, allowed)
    assert body["error_code"] == 405000
    assert method in body["error_message"]


async def test_answers_outside_the_api_are_counted_apart(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    await call(session, "GET", f"{sandbox.base_url}/nothing")
    await call(session, "DELETE", f"{sandbox.base_url}/models")

    stats = sandbox.stats
    assert stats.total_requests == 2
    assert stats.requests_by_endpoint == {"unrouted": 2}
    assert stats.responses_by_endpoint_status == {("unrouted", 404): 1, ("unrouted", 405): 1}


async def test_posting_to_the_categories_path_is_an_unknown_model(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await call(
        session, "POST", f"{sandbox.base_url}/models/categories", json={"prompt": "x"}
    )

    assert (status, body["error_code"]) == (400, 400001)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_a_body_declared_as_something_else_than_json_is_422001(
    sandbox: Sandbox, session: aiohttp.ClientSession, content_type: str
) -> None:
    status, body = await call(
        session,
        "POST",
        f"{sandbox.base_url}/models/{INSTANT.model_id}",
        data=json.dumps({"prompt": "x"}).encode(),
        headers={"Content-Type": content_type},
    )

    assert (status, body["error_code"]) == (422, 422001)
    [problem] = body["detail"]
    assert problem["type"] == "content_type"
    assert "application/json" in problem["msg"]
    assert sandbox.stats.jobs_created == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "application/vnd.runcomfy+json"},
        {},
    ],
    ids=["json with charset", "a +json type", "no content type"],
)
async def test_a_json_body_or_one_without_content_type_is_read_as_json(
    sandbox: Sandbox, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    status, body = await call(
        session,
        "POST",
        f"{sandbox.base_url}/models/{INSTANT.model_id}",
        data=json.dumps({"prompt": "x"}).encode(),
        headers=headers,
        skip_auto_headers=["Content-Type"],
    )

    assert status == 200, body
    assert body["request_id"]


@pytest.mark.parametrize(
    ("model_id", "missing"),
    [(EDIT, ["image", "mask", "prompt"]), (REFRAME, ["image", "resolution"]), (T2I, ["prompt"])],
)
async def test_an_empty_input_lists_each_missing_required_field_once(
    sandbox: Sandbox, session: aiohttp.ClientSession, model_id: str, missing: list[str]
) -> None:
    status, body = await call(session, "POST", f"{sandbox.base_url}/models/{model_id}", json={})

    assert (status, body["error_code"]) == (422, 422001)
    assert body["detail"] == [
        {"loc": [name], "msg": "field required", "type": "missing"} for name in missing
    ]


async def test_a_field_with_two_problems_is_listed_once_per_problem(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await call(
        session, "POST", f"{sandbox.base_url}/models/{T2I}", json={"seed": "x", "prompt": 5}
    )

    assert status == 422
    assert [item["loc"] for item in body["detail"]] == [["prompt"], ["seed"]]


async def test_the_api_routes_still_answer_beside_the_catch_all(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})

    codes = [
        (await call(session, "GET", job["status_url"]))[0],
        (await call(session, "GET", job["result_url"]))[0],
        (await call(session, "POST", job["cancel_url"]))[0],
        (await call(session, "GET", f"{sandbox.base_url}/models/{T2I}"))[0],
    ]

    assert codes == [200, 200, 202, 200]
