"""The catalog (`GET /models`), its categories, and one model (`GET /models/{id}`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources

import aiohttp
import pytest

from runcomfy_async.sandbox import ModelSpec, Sandbox

from ._support import EDIT, INSTANT, PROMPT_SCHEMA, REFRAME, STUCK, call

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


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=-3", "limit=many", "offset=-1", "offset=x"]
)
async def test_catalog_rejects_bad_paging_with_a_400_naming_the_parameter(
    sandbox: Sandbox, session: aiohttp.ClientSession, query: str
) -> None:
    status, body = await call(session, "GET", f"{sandbox.base_url}/models?{query}")

    assert status == 400
    assert body["error_code"] == 400000
    assert query.split("=")[0] in body["error_message"]
    assert body["detail"][0]["loc"] == [query.split("=")[0]]


@pytest.mark.parametrize("limit", [1, 500])
async def test_catalog_takes_limits_from_1_to_500(
    sandbox: Sandbox, session: aiohttp.ClientSession, limit: int
) -> None:
    status, body = await call(session, "GET", f"{sandbox.base_url}/models?limit={limit}")

    assert status == 200
    assert len(body["models"]) == min(limit, body["total"])


async def test_one_model_answers_its_bundled_input_schema_with_image_formats(
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
    served = body["input_schema"]
    assert served["required"] == bundled["required"]
    for name, field in bundled["properties"].items():
        assert {key: served["properties"][name][key] for key in field} == field
    assert served["properties"]["image"]["format"] == "image_uri"
    assert served["properties"]["mask"] == {
        "title": "Mask",
        "description": "",
        "type": "string",
        "format": "image_uri",
    }
    assert "images" in body["output_schema"]["properties"]


async def test_one_unknown_model_is_400001(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, "GET", f"{sandbox.base_url}/models/nobody/nothing")

    assert (status, body["error_code"]) == (400, 400001)


# --- What RunComfy's clients read from an entry ----------------------------------------------

IDEOGRAM_PRICES = {
    "ideogram/ideogram-v2/generate": (0.08, ["text-to-image"]),
    "ideogram/ideogram-v3/edit": (0.06, ["image-to-image"]),
    "ideogram/ideogram-v3/reframe": (0.06, ["image-to-image"]),
    "ideogram/ideogram-v3/text-to-image": (0.06, ["text-to-image"]),
}
ENTRY_KEYS = {
    "model_id",
    "display_name",
    "categories",
    "kind",
    "base_price_usd",
    "price_unit",
    "pricing_note",
    "output_type",
}


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


async def test_catalog_entries_carry_the_fields_runcomfy_clients_read(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    _, body = await call(session, "GET", f"{sandbox.base_url}/models")

    for entry in body["models"]:
        assert set(entry) == ENTRY_KEYS
        assert isinstance(entry["model_id"], str)
        assert isinstance(entry["display_name"], str)
        assert entry["categories"]
        assert all(isinstance(c, str) and c for c in entry["categories"])
        assert entry["kind"] in ("model", "workflow", "inference")
        assert is_number(entry["base_price_usd"])
        assert entry["base_price_usd"] >= 0
        assert entry["price_unit"] in ("output", "second")
        assert isinstance(entry["pricing_note"], str)
        assert entry["output_type"] in ("image", "images", "video")


async def test_ideogram_models_are_priced_per_output_image(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    _, body = await call(session, "GET", f"{sandbox.base_url}/models?search=ideogram")

    prices = {
        entry["model_id"]: (entry["base_price_usd"], entry["categories"])
        for entry in body["models"]
    }
    assert prices == IDEOGRAM_PRICES
    assert all(entry["price_unit"] == "output" for entry in body["models"])
    assert all("image" in entry["pricing_note"] for entry in body["models"])


async def test_include_schema_adds_the_schemas_to_each_entry(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    _, plain = await call(session, "GET", f"{sandbox.base_url}/models")
    _, full = await call(session, "GET", f"{sandbox.base_url}/models?include_schema=true")

    for summary, entry in zip(plain["models"], full["models"], strict=True):
        assert entry == {
            **summary,
            "input_schema": entry["input_schema"],
            "output_schema": entry["output_schema"],
        }
        assert entry["input_schema"]["type"] == "object"


async def test_one_model_is_its_catalog_entry_with_the_schemas(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    _, page = await call(session, "GET", f"{sandbox.base_url}/models?search=reframe")
    _, one = await call(session, "GET", f"{sandbox.base_url}/models/{REFRAME}")

    [summary] = page["models"]
    assert {key: one[key] for key in summary} == summary
    assert one["input_schema"]["properties"]["image"]["format"] == "image_uri"
    assert "resolution" in one["input_schema"]["required"]


async def test_a_registered_model_declares_its_own_price_unit_note_and_categories(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(
        ModelSpec(
            "acme/clip/image-to-video",
            PROMPT_SCHEMA,
            output_kind="video",
            base_price_usd=0.12,
            price_unit="second",
            pricing_note="per second of video",
            categories=["image-to-video"],
            kind="workflow",
        )
    )

    _, entry = await call(session, "GET", f"{sandbox.base_url}/models/acme/clip/image-to-video")

    assert {key: entry[key] for key in ENTRY_KEYS} == {
        "model_id": "acme/clip/image-to-video",
        "display_name": "Acme Clip Image To Video",
        "categories": ["image-to-video"],
        "kind": "workflow",
        "base_price_usd": 0.12,
        "price_unit": "second",
        "pricing_note": "per second of video",
        "output_type": "video",
    }


@pytest.mark.parametrize(
    "build",
    [
        lambda: ModelSpec("acme/x", PROMPT_SCHEMA, price_unit="image"),  # type: ignore[arg-type]
        lambda: ModelSpec("acme/x", PROMPT_SCHEMA, base_price_usd=-1.0),
        lambda: ModelSpec("acme/x", PROMPT_SCHEMA, categories=[]),
        lambda: ModelSpec("acme/x", PROMPT_SCHEMA, categories="text-to-image"),
        lambda: ModelSpec("acme/x", PROMPT_SCHEMA, kind="app"),  # type: ignore[arg-type]
    ],
    ids=["unit", "negative price", "no category", "one string", "kind"],
)
def test_model_specs_reject_nonsense_prices_and_catalog_fields(
    build: Callable[[], object],
) -> None:
    with pytest.raises((ValueError, TypeError)):
        build()


# --- Categories and filters ----------------------------------------------------------------


async def test_categories_lists_every_category_once_sorted(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(ModelSpec("acme/video", PROMPT_SCHEMA, output_kind="video"))

    status, body = await call(session, "GET", f"{sandbox.base_url}/models/categories")

    assert status == 200
    assert body == {"categories": ["image-to-image", "text-to-image", "text-to-video"]}


async def test_catalog_filters_by_category(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    _, body = await call(session, "GET", f"{sandbox.base_url}/models?category=image-to-image")

    assert [entry["model_id"] for entry in body["models"]] == [EDIT, REFRAME]
    assert body["total"] == 2


async def test_catalog_filters_by_kind_and_search_together(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.register_model(ModelSpec("acme/flow-a", PROMPT_SCHEMA, kind="workflow"))
    sandbox.register_model(ModelSpec("acme/flow-b", PROMPT_SCHEMA, kind="workflow"))

    _, workflows = await call(session, "GET", f"{sandbox.base_url}/models?kind=workflow")
    _, one = await call(session, "GET", f"{sandbox.base_url}/models?kind=workflow&search=-B")
    _, none = await call(session, "GET", f"{sandbox.base_url}/models?kind=inference")

    assert [entry["model_id"] for entry in workflows["models"]] == ["acme/flow-a", "acme/flow-b"]
    assert [entry["model_id"] for entry in one["models"]] == ["acme/flow-b"]
    assert none == {"models": [], "total": 0}


async def test_catalog_total_counts_every_match_beyond_the_page(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    _, body = await call(session, "GET", f"{sandbox.base_url}/models?search=ideogram&limit=1")

    assert len(body["models"]) == 1
    assert body["total"] == 4
