"""Helpers shared by the sandbox's conformance tests: raw HTTP, images, polling."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Any, Final

import aiohttp
from PIL import Image

from runcomfy_async.sandbox import ModelSpec

T2I: Final = "ideogram/ideogram-v3/text-to-image"
EDIT: Final = "ideogram/ideogram-v3/edit"
REFRAME: Final = "ideogram/ideogram-v3/reframe"
V2: Final = "ideogram/ideogram-v2/generate"

PROMPT_SCHEMA: Final = {
    "type": "object",
    "required": ["prompt"],
    "properties": {"prompt": {"type": "string"}, "strength": {"type": "float"}},
}
# Jobs that finish at once, and jobs that never finish within a test.
INSTANT: Final = ModelSpec("test/instant", PROMPT_SCHEMA)
STUCK: Final = ModelSpec("test/stuck", PROMPT_SCHEMA, median_s=3600.0)
POLL_INTERVAL_S: Final = 0.01
WAIT_LIMIT_S: Final = 5.0


def auth(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


async def submit(
    session: aiohttp.ClientSession, base_url: str, model_id: str, payload: Any
) -> dict[str, Any]:
    """POST a submit that must succeed; its JSON body."""
    async with session.post(f"{base_url}/models/{model_id}", json=payload) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body


async def call(
    session: aiohttp.ClientSession, method: str, url: str, **options: Any
) -> tuple[int, Any]:
    """Any request; (status, JSON body)."""
    async with session.request(method, url, **options) as response:
        return response.status, await response.json(content_type=None)


async def wait_result(session: aiohttp.ClientSession, result_url: str) -> dict[str, Any]:
    """Poll /result until the job is over (bounded)."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while True:
        status, body = await call(session, "GET", result_url)
        assert status == 200, body
        if body["status"] in ("succeeded", "failed", "cancelled"):
            result: dict[str, Any] = body
            return result
        assert time.monotonic() < deadline, body
        await asyncio.sleep(POLL_INTERVAL_S)


async def download(url: str) -> tuple[aiohttp.ClientResponse, bytes]:
    """GET a CDN file without credentials."""
    async with aiohttp.ClientSession() as plain, plain.get(url) as response:
        return response, await response.read()


def png(size: tuple[int, int], colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A one-colour PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG whose every pixel differs from its neighbours (so any change shows)."""
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 7) % 256, (y * 11) % 256, (x * y) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def mask_png(size: tuple[int, int], black_box: tuple[int, int, int, int] | None) -> bytes:
    """A white mask with a black box (the area to edit), or all white when None."""
    image = Image.new("L", size, 255)
    if black_box is not None:
        image.paste(0, black_box)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """A base64 data: URI."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_of(data: bytes) -> Image.Image:
    """Decode downloaded bytes."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
