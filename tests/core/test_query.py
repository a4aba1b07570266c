"""A request's query travels in its URL, built once per request and kept by every attempt."""

from __future__ import annotations

import re

from aioresponses import aioresponses
from yarl import URL

from runcomfy_async import AsyncRunComfy

from .conftest import BASE

RID = "3f1c9a2e-0000-4000-8000-000000000002"


def _sent(http: aioresponses) -> list[URL]:
    return [url for (_method, url), calls in http.requests.items() for _ in calls]


async def test_a_result_with_cost_asks_for_it_on_every_attempt(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    url = f"{BASE}/requests/{RID}/result?include_cost=true"
    http.get(url, status=503, payload={"detail": "busy"})
    http.get(url, status=200, payload={"request_id": RID, "status": "succeeded",
                                       "cost": 0.06, "result": {}})
    result = await client.result(RID, include_cost=True)
    assert result.cost == 0.06
    sent = _sent(http)
    assert len(sent) == 2  # the 503 was retried, with the same query
    assert {url.query_string for url in sent} == {"include_cost=true"}


async def test_a_result_without_cost_sends_no_query(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    http.get(f"{BASE}/requests/{RID}/result", status=200,
             payload={"request_id": RID, "status": "succeeded", "result": {}})
    await client.result(RID)
    [sent] = _sent(http)
    assert sent.query_string == ""


async def test_a_catalog_search_is_encoded_as_one_parameter(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    http.get(re.compile(re.escape(f"{BASE}/models") + r"\?.*"), status=200,
             payload={"models": [], "total": 0})
    await client.models.list(search="fox & hound=1")
    [sent] = _sent(http)
    assert sent.query["search"] == "fox & hound=1"
    assert sent.query["offset"] == "0"
