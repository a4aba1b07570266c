"""The sandbox driven as RunComfy's MCP server drives the Model API.

What its client does (read in ``runcomfy-com/runcomfy-mcp``, ``runcomfy_client.py``,
``RunComfyModelAPIClient`` and ``collect_model_output_urls``), restated here:

- one session on the API origin (``/v1`` is in each path) whose only header of its own is
  ``Accept: application/json``, following redirects; the caller's bearer token is set on each
  request (never on the session), and ``Content-Type: application/json`` on each one with a
  JSON body; a second session without credentials for public URLs. (The first public release
  also sent attribution headers, ``User-Agent: runcomfy-mcp/1.0`` and ``X-RunComfy-Client``;
  the current client sends neither, so neither is sent here);
- an error is an HTTP error status or a body with a non-null ``error_code`` even under 200;
- the wait loop polls ``/status`` at a fixed interval, reports each change of status, and once
  the lower-cased status is ``completed``, ``cancelled`` or ``failed`` fetches ``/result``
  (errors there are kept, not raised);
- the output URLs are collected from ``result["output"]``, walking objects and lists, taking a
  string (or each string of a list) under ``url``, ``path``, ``image``, ``images``, ``video``,
  ``videos`` or ``audio`` that starts with ``http://`` or ``https://``, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from runcomfy_async.sandbox import EndpointFaults, FaultPlan, ModelSpec, Sandbox

from ._support import PROMPT_SCHEMA, T2I, V2, auth

URL_KEYS = ("url", "path", "image", "images", "video", "videos", "audio")
TERMINAL = {"completed", "cancelled", "failed"}
POLLS = 2000
POLL_S = 0.005
TRIO = ModelSpec("acme/trio", PROMPT_SCHEMA, output_kind="images", images_per_job=3, median_s=3)


class McpError(Exception):
    """The MCP client's API error: status, error code, payload."""

    def __init__(self, status: int, error_code: Any, payload: Any) -> None:
        super().__init__(f"HTTP {status} error_code={error_code}")
        self.status = status
        self.error_code = error_code
        self.payload = payload


class ModelApiClient:
    """A restatement of the MCP server's Model API client."""

    def __init__(self, session: aiohttp.ClientSession, origin: str, token: str) -> None:
        self.session = session
        self.origin = origin
        self.token = token

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(
            method, self.origin + path, json=body, headers=auth(self.token)
        ) as response:
            try:
                payload = await response.json(content_type=None)
            except ValueError:
                payload = await response.text()
            if response.status >= 400:
                code = payload.get("error_code") if isinstance(payload, dict) else None
                raise McpError(response.status, code, payload)
            if isinstance(payload, dict) and payload.get("error_code") is not None:
                raise McpError(response.status, payload["error_code"], payload)
            return payload

    async def wait_for_completion(self, request_id: str) -> dict[str, Any]:
        changes: list[str] = []
        last = None
        for _ in range(POLLS):
            status_payload = await self.request("GET", f"/v1/requests/{request_id}/status")
            status = str(status_payload.get("status", "")).lower()
            if status != last:
                changes.append(status)
                last = status
            if status in TERMINAL:
                try:
                    result = await self.request("GET", f"/v1/requests/{request_id}/result")
                except McpError as error:
                    result = {"ok": False, "error_code": error.error_code}
                return {"status_payload": status_payload, "result": result, "changes": changes}
            await asyncio.sleep(POLL_S)
        raise TimeoutError(request_id)


def collect_urls(value: Any) -> list[str]:
    """Every URL under the MCP client's URL keys, walking objects and lists, in order."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, nested in value.items():
            if key in URL_KEYS and isinstance(nested, str) and nested.startswith("http"):
                found.append(nested)
            elif key in URL_KEYS and isinstance(nested, list):
                found += [u for u in nested if isinstance(u, str) and u.startswith("http")]
            else:
                found += collect_urls(nested)
    elif isinstance(value, list):
        for item in value:
            found += collect_urls(item)
    return found


@pytest.fixture
async def mcp() -> AsyncIterator[tuple[Sandbox, ModelApiClient]]:
    async with (
        Sandbox(models=[TRIO], time_scale=0.001, workers=1) as sb,
        aiohttp.ClientSession(headers={"Accept": "application/json"}) as session,
    ):
        yield sb, ModelApiClient(session, sb.base_url.removesuffix("/v1"), sb.token)


async def test_submit_then_wait_reports_each_status_change_then_the_result(
    mcp: tuple[Sandbox, ModelApiClient],
) -> None:
    _, client = mcp
    first = await client.request("POST", f"/v1/models/{TRIO.model_id}", {"prompt": "a"})
    second = await client.request("POST", f"/v1/models/{TRIO.model_id}", {"prompt": "b"})

    waited = await client.wait_for_completion(second["request_id"])
    await client.wait_for_completion(first["request_id"])

    assert waited["changes"][-1] == "completed"
    assert set(waited["changes"]) <= {"in_queue", "in_progress", "completed"}
    assert waited["changes"] == sorted(
        waited["changes"], key=["in_queue", "in_progress", "completed"].index
    )
    assert waited["result"]["status"] == "succeeded"


@pytest.mark.parametrize(("model_id", "count"), [(T2I, 1), (V2, 1), (TRIO.model_id, 3)])
async def test_the_collected_urls_are_every_output_file_and_download_without_a_token(
    mcp: tuple[Sandbox, ModelApiClient], model_id: str, count: int
) -> None:
    sb, client = mcp
    job = await client.request("POST", f"/v1/models/{model_id}", {"prompt": "x"})

    waited = await client.wait_for_completion(job["request_id"])
    urls = collect_urls(waited["result"].get("output"))
    async with aiohttp.ClientSession() as public:
        statuses = []
        for url in urls:
            async with public.get(url) as response:
                statuses.append(response.status)

    assert len(urls) == len(set(urls)) == count
    assert all(url.startswith(sb.cdn_base_url) for url in urls)
    assert statuses == [200] * count
    assert sb.stats.cdn_credentials_seen == []


async def test_a_failed_job_ends_the_wait_with_its_error_kept(
    mcp: tuple[Sandbox, ModelApiClient],
) -> None:
    sb, client = mcp
    sb.failure_rate = 1.0
    job = await client.request("POST", f"/v1/models/{T2I}", {"prompt": "x"})

    waited = await client.wait_for_completion(job["request_id"])

    assert waited["status_payload"]["status"] == "completed"
    assert waited["result"]["status"] == "failed"
    assert waited["result"]["error"]
    assert collect_urls(waited["result"].get("output")) == []


async def test_errors_carry_an_error_code_even_under_http_200(
    mcp: tuple[Sandbox, ModelApiClient],
) -> None:
    sb, client = mcp
    sb.faults = FaultPlan(models=EndpointFaults(error_in_200=1.0))

    with pytest.raises(McpError) as in_200:
        await client.request("GET", "/v1/models")
    sb.faults = FaultPlan()
    with pytest.raises(McpError) as refused:
        await client.request("POST", f"/v1/models/{T2I}", {})

    assert (in_200.value.status, in_200.value.error_code) == (200, 500001)
    assert (refused.value.status, refused.value.error_code) == (422, 422001)
    assert isinstance(refused.value.payload["detail"], list)


async def test_an_unknown_request_id_fails_the_status_call_with_404001(
    mcp: tuple[Sandbox, ModelApiClient],
) -> None:
    _, client = mcp

    with pytest.raises(McpError) as unknown:
        await client.wait_for_completion("00000000-0000-4000-8000-000000000000")

    assert (unknown.value.status, unknown.value.error_code) == (404, 404001)
