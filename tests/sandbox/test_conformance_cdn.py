"""The CDN: a second origin, credential sightings, and its hostile answers."""

from __future__ import annotations

import aiohttp
import pytest

from runcomfy_async.sandbox import CdnFaults, Sandbox

from ._support import INSTANT, call, submit

HUGE = 8 * 1024 * 1024


async def file_url(sandbox: Sandbox, session: aiohttp.ClientSession) -> str:
    """The URL of a fresh job's output file."""
    job = await submit(session, sandbox.base_url, INSTANT.model_id, {"prompt": "x"})
    _, result = await call(session, "GET", job["result_url"])
    url: str = result["output"]["image"]
    return url


async def test_cdn_listens_on_another_port_than_the_api(sandbox: Sandbox) -> None:
    assert sandbox.cdn_port != sandbox.port
    assert sandbox.cdn_base_url == f"http://127.0.0.1:{sandbox.cdn_port}"


@pytest.mark.parametrize(
    "header",
    [("Authorization", "Bearer {token}"), ("X-Api-Key", "{token}"), ("Authorization", "x")],
    ids=["bearer", "token in another header", "any authorization"],
)
async def test_cdn_records_requests_carrying_credentials(
    sandbox: Sandbox, session: aiohttp.ClientSession, header: tuple[str, str]
) -> None:
    url = await file_url(sandbox, session)
    name, value = header[0], header[1].format(token=sandbox.token)

    async with aiohttp.ClientSession() as plain, plain.get(url, headers={name: value}):
        pass

    [sighting] = sandbox.stats.cdn_credentials_seen
    assert (sighting.header, sighting.value) == (name, value)
    assert sighting.path.startswith("/files/")


async def test_cdn_records_nothing_for_a_clean_download(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    url = await file_url(sandbox, session)

    async with aiohttp.ClientSession() as plain, plain.get(url) as response:
        assert response.status == 200

    assert sandbox.stats.cdn_credentials_seen == []
    assert sandbox.stats.cdn_requests == 1


async def test_cdn_answers_404_for_unknown_files(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    url = await file_url(sandbox, session)

    async with aiohttp.ClientSession() as plain:
        for wrong in (
            url.replace("/0.png", "/1.png"),
            url.replace(".png", ".mp4"),
            f"{sandbox.cdn_base_url}/files/nobody/0.png",
        ):
            async with plain.get(wrong) as response:
                assert response.status == 404


async def test_cdn_redirect_sends_the_client_to_another_host(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    url = await file_url(sandbox, session)
    other = f"http://localhost:{sandbox.cdn_port}"
    sandbox.cdn_faults = CdnFaults(redirect_to=other)

    async with aiohttp.ClientSession() as plain:
        async with plain.get(url, allow_redirects=False) as response:
            location = response.headers["Location"]
            status = response.status
        async with plain.get(location) as landed:
            landed_status = landed.status

    assert status == 302
    assert location == other + url.removeprefix(sandbox.cdn_base_url)
    assert landed_status == 200
    assert sandbox.stats.faults_by_kind["cdn_redirect"] == 1


async def test_cdn_huge_body_declares_and_streams_that_many_bytes(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    url = await file_url(sandbox, session)
    sandbox.cdn_faults = CdnFaults(huge_body_bytes=HUGE)

    async with aiohttp.ClientSession() as plain, plain.get(url) as response:
        declared = response.content_length
        received = len(await response.read())

    assert declared == received == HUGE


async def test_cdn_can_declare_a_wrong_content_type(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    url = await file_url(sandbox, session)
    sandbox.cdn_faults = CdnFaults(content_type="text/html; charset=utf-8")

    async with aiohttp.ClientSession() as plain, plain.get(url) as response:
        content_type = response.headers["Content-Type"]

    assert content_type == "text/html; charset=utf-8"


def test_cdn_faults_reject_a_redirect_that_is_not_an_origin() -> None:
    with pytest.raises(ValueError, match="origin"):
        CdnFaults(redirect_to="localhost:80")
