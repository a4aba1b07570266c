"""The sandbox driven as RunComfy's ComfyUI partner nodes drive the service.

What the nodes do (read in ``runcomfy-com/comfyui-runcomfy-partner-nodes``: ``runcomfy/
client.py``, ``pricing.py``, ``execution.py``, ``catalog.py``), restated here:

- before every paid submit, ``GET /v1/models/{id}`` for the price; they refuse to run unless
  the answer names the same ``model_id``, has the ``price_unit`` they expect for the node's
  output (``output`` for images, ``second`` for video) and a finite, non-negative
  ``base_price_usd`` that is a JSON number (a boolean does not count);
- the estimate is the rate for an ``output`` price, rate times the ``duration`` input for a
  ``second`` price;
- they submit once (no retry), and accept a ``request_id`` matching ``[A-Za-z0-9_-]{1,128}``;
- they poll only ``/result?include_cost=true``: ``completed``/``succeeded`` ends it (images
  from ``images`` or ``image``), ``failed``/``cancelled`` is an error, any state outside
  ``in_queue in_progress pending waiting starting processing`` is an error; a ``model_id`` in
  the answer, if any, must be theirs; ``cost`` is kept when it is a finite number >= 0;
- HTTP 402 means insufficient balance; on interruption they cancel and read ``status`` or
  ``outcome`` for ``cancelled``.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from runcomfy_async.sandbox import ModelSpec, Sandbox

from ._support import STUCK, T2I, V2, auth

REQUEST_ID = re.compile(r"[a-zA-Z0-9_-]{1,128}")
WAITING = ("in_queue", "in_progress", "pending", "waiting", "starting", "processing")
POLLS = 2000
POLL_S = 0.005
VIDEO_SCHEMA = {
    "type": "object",
    "required": ["prompt"],
    "properties": {"prompt": {"type": "string"}, "duration": {"type": "integer"}},
}
VIDEO = ModelSpec(
    "acme/clip/text-to-video",
    VIDEO_SCHEMA,
    output_kind="video",
    median_s=5.0,
    base_price_usd=0.1,
    price_unit="second",
    categories=["text-to-video"],
)


class NodeError(Exception):
    """What the nodes raise, with their own code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PartnerNode:
    """A restatement of the nodes' async client and run loop, against a base origin."""

    def __init__(self, session: aiohttp.ClientSession, origin: str, token: str) -> None:
        self.session = session
        self.origin = origin
        self.headers = {
            **auth(token),
            "Accept": "application/json",
            "Cache-Control": "no-cache",
            "Pragma": "no-cache",
        }

    async def request(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        async with self.session.request(
            method,
            self.origin + path,
            headers=self.headers,
            allow_redirects=False,
            **options,
        ) as response:
            if response.status in (401, 403):
                raise NodeError("unauthorized")
            if response.status == 402:
                raise NodeError("insufficient_balance")
            if not 200 <= response.status < 300:
                raise NodeError("api_error")
            data = await response.json()
            if not isinstance(data, dict):
                raise NodeError("invalid_response")
            return data

    async def price(self, model_id: str, unit: str) -> Decimal:
        data = await self.request("GET", f"/v1/models/{model_id}")
        value = data.get("base_price_usd")
        if (
            data.get("model_id") != model_id
            or data.get("price_unit") != unit
            or isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise NodeError("price_unavailable")
        return Decimal(str(value))

    async def submit(self, model_id: str, inputs: dict[str, Any]) -> str:
        data = await self.request("POST", f"/v1/models/{model_id}", json=inputs)
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
            raise NodeError("unknown_submission")
        return request_id

    async def result(self, request_id: str) -> dict[str, Any]:
        return await self.request(
            "GET", f"/v1/requests/{request_id}/result", params={"include_cost": "true"}
        )

    async def run(self, model_id: str, inputs: dict[str, Any], unit: str) -> dict[str, Any]:
        rate = await self.price(model_id, unit)
        estimate = rate if unit == "output" else rate * Decimal(str(inputs["duration"]))
        request_id = await self.submit(model_id, inputs)
        seen = []
        for _ in range(POLLS):
            result = await self.result(request_id)
            state = result.get("status")
            seen.append(state)
            if result.get("model_id") and result["model_id"] != model_id:
                raise NodeError("model_mismatch")
            if state in ("completed", "succeeded"):
                cost = result.get("cost")
                usable = (
                    isinstance(cost, (int, float))
                    and not isinstance(cost, bool)
                    and math.isfinite(cost)
                    and cost >= 0
                )
                return {
                    "request_id": request_id,
                    "output": result.get("output"),
                    "cost_usd": cost if usable else None,
                    "estimate": estimate,
                    "states": seen,
                }
            if state in ("failed", "cancelled"):
                raise NodeError("generation_" + str(state))
            if state not in WAITING:
                raise NodeError("unknown_state")
            await asyncio.sleep(POLL_S)
        raise NodeError("poll_timeout")


def images_of(output: Any) -> list[str] | None:
    """The nodes' image reading: ``images`` (all strings) or else ``image``."""
    if not isinstance(output, dict):
        return None
    images = output.get("images")
    if isinstance(images, list) and images and all(isinstance(u, str) and u for u in images):
        return images
    image = output.get("image")
    return [image] if isinstance(image, str) and image else None


@pytest.fixture
async def node() -> AsyncIterator[tuple[Sandbox, PartnerNode]]:
    async with (
        Sandbox(models=[VIDEO, STUCK], time_scale=0.0005) as sb,
        aiohttp.ClientSession() as session,
    ):
        yield sb, PartnerNode(session, sb.base_url.removesuffix("/v1"), sb.token)


@pytest.mark.parametrize(("model_id", "price"), [(T2I, "0.06"), (V2, "0.08")])
async def test_an_image_node_gets_its_price_runs_and_reads_the_cost(
    node: tuple[Sandbox, PartnerNode], model_id: str, price: str
) -> None:
    _, client = node

    run = await client.run(model_id, {"prompt": "a fox"}, unit="output")

    assert run["estimate"] == Decimal(price)
    assert run["cost_usd"] == float(price)
    assert len(images_of(run["output"]) or []) == 1
    assert set(run["states"][:-1]) <= set(WAITING)


async def test_a_video_node_priced_per_second_is_billed_its_run_time(
    node: tuple[Sandbox, PartnerNode],
) -> None:
    sb, client = node

    run = await client.run(VIDEO.model_id, {"prompt": "waves", "duration": 5}, unit="second")

    record = sb.stats.job(run["request_id"])
    assert record is not None
    assert run["estimate"] == Decimal("0.5")
    assert run["cost_usd"] == pytest.approx(0.1 * record.duration_s)
    assert run["output"]["video"].endswith(".mp4")


async def test_a_node_expecting_another_price_unit_refuses_to_run(
    node: tuple[Sandbox, PartnerNode],
) -> None:
    sb, client = node

    with pytest.raises(NodeError, match="price_unavailable"):
        await client.run(T2I, {"prompt": "x"}, unit="second")

    assert sb.stats.jobs_created == 0


async def test_a_failed_generation_is_reported_as_failed(node: tuple[Sandbox, PartnerNode]) -> None:
    sb, client = node
    sb.failure_rate = 1.0

    with pytest.raises(NodeError, match="generation_failed"):
        await client.run(T2I, {"prompt": "x"}, unit="output")


async def test_an_empty_balance_is_read_as_insufficient_balance() -> None:
    async with (
        Sandbox(balance_usd=0.0) as sb,
        aiohttp.ClientSession() as session,
    ):
        client = PartnerNode(session, sb.base_url.removesuffix("/v1"), sb.token)
        price = await client.price(T2I, "output")
        with pytest.raises(NodeError, match="insufficient_balance"):
            await client.submit(T2I, {"prompt": "x"})

    assert price == Decimal("0.06")


async def test_an_interrupted_wait_cancels_a_queued_job_and_sees_it_cancelled() -> None:
    async with (
        Sandbox(models=[STUCK], workers=1) as sb,
        aiohttp.ClientSession() as session,
    ):
        client = PartnerNode(session, sb.base_url.removesuffix("/v1"), sb.token)
        await client.submit(STUCK.model_id, {"prompt": "runs"})
        queued = await client.submit(STUCK.model_id, {"prompt": "waits"})
        answer = await client.request("POST", f"/v1/requests/{queued}/cancel")
        after = await client.result(queued)

    assert answer.get("status") == "cancelled" or answer.get("outcome") == "cancelled"
    assert after["status"] == "cancelled"
    assert after["cost"] == 0.0
