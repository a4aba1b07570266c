"""What the client puts on the wire, seen by a real local server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, RetryPolicy

MODEL = "ideogram/ideogram-v3/text-to-image"


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[web.Request]]]:
    seen: list[web.Request] = []

    async def cancel(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"request_id": "r1", "outcome": "cancelled"}, status=202)

    async def unknown_model(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response(
            {"error_code": 404000, "error_message": "not found"}, status=404
        )

    app = web.Application()
    app.router.add_post("/v1/requests/r1/cancel", cancel)
    app.router.add_post("/v1/models/{model:.*}", unknown_model)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1", seen
    finally:
        await runner.cleanup()


async def test_a_bodiless_cancel_says_nothing_about_a_content_type(
    recorder: tuple[str, list[web.Request]],
) -> None:
    base_url, seen = recorder
    async with AsyncRunComfy(api_token="t", base_url=base_url) as client:
        answer = await client.cancel("r1")
    assert answer.cancelled
    assert "Content-Type" not in seen[0].headers


async def test_a_404_on_submit_names_the_model_not_a_request_id(
    recorder: tuple[str, list[web.Request]],
) -> None:
    base_url, _ = recorder
    async with AsyncRunComfy(api_token="t", base_url=base_url, retry=RetryPolicy.never()) as c:
        with pytest.raises(rc.NotFoundError) as caught:
            await c.submit(MODEL, {"prompt": "a fox"})
    assert "unknown model id or route" in str(caught.value)
    assert "request id" not in str(caught.value)
