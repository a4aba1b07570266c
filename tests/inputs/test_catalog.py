"""The model catalog over a fake ``get_json``: paging, caching, shared fetches, bad shapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from runcomfy_async import InvalidInputError, MalformedResponseError
from runcomfy_async.api._catalog import CATALOG_PAGE_SIZE, ModelCatalog


def entry(model_id: str) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "display_name": model_id.upper(),
        "input_schema": {"type": "object", "properties": {"prompt": {"type": "string"}}},
    }


class FakeCatalog:
    """Answers ``GET /models`` and ``GET /models/{id}`` like RunComfy, counting requests."""

    def __init__(self, count: int, *, page_cap: int | None = None) -> None:
        self.models = [entry(f"acme/model-{n:03d}") for n in range(count)]
        self.page_cap = page_cap
        self.calls: list[tuple[str, Mapping[str, str] | None]] = []
        self.release: anyio.Event | None = None

    async def __call__(
        self, path: str, params: Mapping[str, str] | None, model_id: str | None
    ) -> object:
        self.calls.append((path, params))
        # The catalog names the model it asks about (errors then name it), none for a list.
        assert model_id == (None if path == "/models" else path.removeprefix("/models/"))
        if self.release is not None:
            await self.release.wait()
        if path == "/models":
            assert params is not None
            matching = [m for m in self.models if params.get("search", "") in m["model_id"]]
            limit = int(params["limit"])
            if self.page_cap is not None:
                limit = min(limit, self.page_cap)
            start = int(params["offset"])
            return {"models": matching[start : start + limit], "total": len(matching)}
        return next(m for m in self.models if m["model_id"] == model_id)


async def test_listing_without_a_limit_pages_through_everything() -> None:
    fake = FakeCatalog(2 * CATALOG_PAGE_SIZE + 50)

    models = await ModelCatalog(fake).list()

    assert [m.model_id for m in models] == [m["model_id"] for m in fake.models]
    assert [params["offset"] for _, params in fake.calls if params] == ["0", "100", "200"]


async def test_listing_follows_a_server_that_serves_smaller_pages_than_asked() -> None:
    fake = FakeCatalog(120, page_cap=50)

    models = await ModelCatalog(fake).list()

    assert len(models) == 120
    assert len(fake.calls) == 3


async def test_a_limit_and_offset_ask_for_just_that_slice() -> None:
    fake = FakeCatalog(300)

    models = await ModelCatalog(fake).list(limit=5, offset=10)

    assert [m.model_id for m in models] == [f"acme/model-{n:03d}" for n in range(10, 15)]
    assert fake.calls == [("/models", {"limit": "5", "offset": "10"})]


async def test_a_zero_limit_asks_for_nothing() -> None:
    fake = FakeCatalog(3)

    assert await ModelCatalog(fake).list(limit=0) == []
    assert fake.calls == []


async def test_search_is_passed_to_the_server() -> None:
    fake = FakeCatalog(30)

    models = await ModelCatalog(fake).list(search="model-01")

    assert [m.model_id for m in models] == [f"acme/model-{n:03d}" for n in range(10, 20)]
    assert all(params and params["search"] == "model-01" for _, params in fake.calls)


async def test_a_server_that_ignores_offset_does_not_make_listing_loop() -> None:
    async def first_page_always(
        path: str, params: Mapping[str, str] | None, model_id: str | None
    ) -> object:
        return {"models": [entry("acme/a"), entry("acme/b")]}

    models = await ModelCatalog(first_page_always).list()

    assert [m.model_id for m in models] == ["acme/a", "acme/b"]


@pytest.mark.parametrize(("name", "value"), [("limit", -1), ("offset", -5), ("limit", True)])
async def test_a_nonsense_count_is_refused_before_any_request(name: str, value: Any) -> None:
    fake = FakeCatalog(3)

    with pytest.raises(InvalidInputError) as caught:
        await ModelCatalog(fake).list(**{name: value})

    assert caught.value.fields == (name,)
    assert fake.calls == []


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"total": 3},
        {"models": "acme/a"},
        {"models": [{"display_name": "no id"}]},
        {"models": [3]},
    ],
)
async def test_a_catalog_page_of_the_wrong_shape_is_malformed(answer: object) -> None:
    async def get_json(
        path: str, params: Mapping[str, str] | None, model_id: str | None
    ) -> object:
        return answer

    with pytest.raises(MalformedResponseError):
        await ModelCatalog(get_json).list()


async def test_a_model_is_fetched_once_per_catalog() -> None:
    fake = FakeCatalog(3)
    catalog = ModelCatalog(fake)

    first = await catalog.get("acme/model-001")
    again = await catalog.get("acme/model-001")
    other = await catalog.get("acme/model-002")

    assert first is again
    assert (first.display_name, other.model_id) == ("ACME/MODEL-001", "acme/model-002")
    assert [path for path, _ in fake.calls] == ["/models/acme/model-001", "/models/acme/model-002"]
    assert fake.calls[0][1] is None


async def test_concurrent_gets_of_one_model_share_one_request() -> None:
    fake = FakeCatalog(3)
    fake.release = anyio.Event()
    catalog = ModelCatalog(fake)
    found = []

    async def get() -> None:
        found.append(await catalog.get("acme/model-000"))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(get)
        await anyio.wait_all_tasks_blocked()
        fake.release.set()

    assert len(fake.calls) == 1
    assert len(found) == 10
    assert all(info is found[0] for info in found)


async def test_a_failed_fetch_is_not_cached() -> None:
    answers: list[object] = [ConnectionError("down"), entry("acme/a")]

    async def flaky(
        path: str, params: Mapping[str, str] | None, model_id: str | None
    ) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    catalog = ModelCatalog(flaky)
    with pytest.raises(ConnectionError):
        await catalog.get("acme/a")

    assert (await catalog.get("acme/a")).model_id == "acme/a"


async def test_the_schema_of_a_model_comes_from_its_entry() -> None:
    catalog = ModelCatalog(FakeCatalog(2))

    schema = await catalog.schema_for("acme/model-001")

    assert schema == entry("acme/model-001")["input_schema"]


async def test_a_model_without_an_input_schema_is_malformed() -> None:
    async def get_json(
        path: str, params: Mapping[str, str] | None, model_id: str | None
    ) -> object:
        return {"model_id": "acme/a", "display_name": "A"}

    with pytest.raises(MalformedResponseError, match="acme/a"):
        await ModelCatalog(get_json).schema_for("acme/a")


@pytest.mark.parametrize("model_id", ["single", "../../requests/x", "a/b?c=d", ""])
async def test_a_bad_model_id_is_refused_before_any_request(model_id: str) -> None:
    fake = FakeCatalog(1)

    with pytest.raises(InvalidInputError):
        await ModelCatalog(fake).get(model_id)

    assert fake.calls == []
