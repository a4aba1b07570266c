"""Tokens and ownership: 400004 (missing, unknown, revoked), 403001, 404001 (unknown and
expired)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from runcomfy_async.sandbox import Sandbox

from ._support import INSTANT, STUCK, T2I, auth, call, submit


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["no header", "empty bearer", "not bearer"],
)
async def test_missing_token_is_400004(sandbox: Sandbox, headers: dict[str, str]) -> None:
    async with aiohttp.ClientSession(headers=headers) as anonymous:
        status, body = await call(
            anonymous, "POST", f"{sandbox.base_url}/models/{T2I}", json={"prompt": "x"}
        )

    assert (status, body["error_code"]) == (400, 400004)
    assert "token missing" in body["error_message"]


async def test_unknown_token_is_400004_like_an_expired_one(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession(headers=auth("not-a-token")) as stranger:
        status, body = await call(stranger, "GET", f"{sandbox.base_url}/models")

    assert (status, body["error_code"]) == (400, 400004)
    assert set(body) == {"error_code", "error_message"}


@pytest.mark.parametrize("route", ["models", "models/categories", f"models/{T2I}"])
async def test_every_catalog_route_wants_a_token(sandbox: Sandbox, route: str) -> None:
    async with aiohttp.ClientSession() as anonymous:
        status, body = await call(anonymous, "GET", f"{sandbox.base_url}/{route}")

    assert (status, body["error_code"]) == (400, 400004)


async def test_revoked_token_is_400004(sandbox: Sandbox) -> None:
    token = sandbox.add_token()
    sandbox.revoke_token(token)

    async with aiohttp.ClientSession(headers=auth(token)) as revoked:
        status, body = await call(revoked, "GET", f"{sandbox.base_url}/models")

    assert (status, body["error_code"]) == (400, 400004)


async def test_added_token_is_accepted(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession(headers=auth(sandbox.add_token())) as other:
        await submit(other, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})


@pytest.mark.parametrize("call_name", ["status", "result", "cancel"])
async def test_request_of_another_token_is_403001(
    sandbox: Sandbox, session: aiohttp.ClientSession, call_name: str
) -> None:
    job = await submit(session, sandbox.base_url, STUCK.model_id, {"prompt": "x"})
    method = "POST" if call_name == "cancel" else "GET"

    async with aiohttp.ClientSession(headers=auth(sandbox.add_token())) as other:
        status, body = await call(other, method, job[f"{call_name}_url"])

    assert (status, body["error_code"]) == (403, 403001)


@pytest.mark.parametrize("call_name", ["status", "result", "cancel"])
async def test_unknown_request_id_is_404001(
    sandbox: Sandbox, session: aiohttp.ClientSession, call_name: str
) -> None:
    method = "POST" if call_name == "cancel" else "GET"
    url = f"{sandbox.base_url}/requests/00000000-0000-4000-8000-000000000000/{call_name}"

    status, body = await call(session, method, url)

    assert (status, body["error_code"]) == (404, 404001)


async def test_finished_job_expires_after_retention() -> None:
    async with (
        Sandbox(retention_s=0.05, models=[INSTANT]) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        job = await submit(session, sb.base_url, INSTANT.model_id, {"prompt": "x"})
        kept, _ = await call(session, "GET", job["result_url"])
        await asyncio.sleep(0.1)
        gone, body = await call(session, "GET", job["result_url"])

    assert kept == 200
    assert (gone, body["error_code"]) == (404, 404001)
