"""The catalog (`GET /models`) and one model (`GET /models/{id}`)."""

from __future__ import annotations

import json
from importlib import resources

import aiohttp
import pytest

from runcomfy_async.sandbox import Sandbox

from ._support import EDIT, INSTANT, STUCK, call

IDEOGRAM_IDS = [
    "ideogram/ideogram-v2/generate",
    "ideogram/ideogram-v3/edit",
    "ideogram/ideogram-v3/reframe",
    "ideogram/ideogram-v3/text-to-image",
]


async def test_catalog_lists_every_model_sorted_with_total(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, "GET", f"{sandbox.base_url}/models")

    assert status == 200
    ids = [model["model_id"] for model in body["models"]]
    assert ids == sorted([*IDEOGRAM_IDS, INSTANT.model_id, STUCK.model_id])
    assert body["total"] == len(ids)
    assert all(model["display_name"] for model in body["models"])


async def test_catalog_pages_with_limit_and_offset(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    _, everything = await call(session, "GET", f"{sandbox.base_url}/models")

    _, page = await call(session, "GET", f"{sandbox.base_url}/models?limit=2&offset=1")

    assert page["models"] == everything["models"][1:3]
    assert page["total"] == everything["total"]


async def test_catalog_search_matches_id_or_name_ignoring_case(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    _, body = await call(session, "GET", f"{sandbox.base_url}/models?search=REFRAME")

    assert [model["model_id"] for model in body["models"]] == ["ideogram/ideogram-v3/reframe"]
    assert body["total"] == 1


@pytest.mark.parametrize("query", ["limit=0", "limit=many", "offset=-1"])
async def test_catalog_rejects_bad_paging_with_422001(
    sandbox: Sandbox, session: aiohttp.ClientSession, query: str
) -> None:
    status, body = await call(session, "GET", f"{sandbox.base_url}/models?{query}")

    assert (status, body["error_code"]) == (422, 422001)
    assert body["detail"][0]["loc"] == [query.split("=")[0]]


async def test_one_model_answers_its_bundled_input_schema_and_the_output_schema(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    bundled = json.loads(
        resources.files("runcomfy_async")
        .joinpath("schemas")
        .joinpath("ideogram-v3-edit.input.json")
        .read_text("utf-8")
    )

    status, body = await call(session, "GET", f"{sandbox.base_url}/models/{EDIT}")

    assert status == 200
    assert body["model_id"] == EDIT
    assert body["display_name"]
    assert body["input_schema"] == bundled
    assert "images" in body["output_schema"]["properties"]


async def test_one_unknown_model_is_400001(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, "GET", f"{sandbox.base_url}/models/nobody/nothing")

    assert (status, body["error_code"]) == (400, 400001)
