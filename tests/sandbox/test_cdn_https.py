"""The CDN over HTTPS under a RunComfy-like host name, reached with the sandbox's resolver and
test CA, with raw aiohttp."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest

from runcomfy_async.sandbox import Sandbox, SandboxResolver, ThreadedSandbox

from ._support import INSTANT, REFRAME, auth, call, image_of, submit, wait_result

pytest.importorskip("trustme")

HOST = "cdn.sandbox.runcomfy.net"


@pytest.fixture
async def https_sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(models=[INSTANT], cdn_https=True, time_scale=0.0001) as sb:
        yield sb


async def output_url(sb: Sandbox) -> str:
    async with aiohttp.ClientSession(headers=auth(sb.token)) as session:
        job = await submit(session, sb.base_url, INSTANT.model_id, {"prompt": "x"})
        result = await wait_result(session, job["result_url"])
    url: str = result["output"]["image"]
    return url


def cdn_session(sb: Sandbox, *, trust: ssl.SSLContext) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(resolver=sb.resolver(), ssl=trust, force_close=True)
    return aiohttp.ClientSession(connector=connector)


async def test_outputs_are_https_urls_on_the_runcomfy_like_host(https_sandbox: Sandbox) -> None:
    url = await output_url(https_sandbox)

    assert https_sandbox.cdn_base_url == f"https://{HOST}:{https_sandbox.cdn_port}"
    assert url.startswith(f"https://{HOST}:{https_sandbox.cdn_port}/files/")


async def test_a_client_with_the_resolver_and_the_ca_downloads_the_file(
    https_sandbox: Sandbox,
) -> None:
    url = await output_url(https_sandbox)

    async with (
        cdn_session(https_sandbox, trust=https_sandbox.cdn_ssl_context()) as session,
        session.get(url) as response,
    ):
        status, content_type, data = response.status, response.content_type, await response.read()

    assert (status, content_type) == (200, "image/png")
    assert image_of(data).format == "PNG"
    assert https_sandbox.stats.cdn_credentials_seen == []


async def test_a_context_built_from_the_ca_pem_works_too(https_sandbox: Sandbox) -> None:
    url = await output_url(https_sandbox)
    trust = ssl.create_default_context(cadata=https_sandbox.cdn_ca_pem.decode())

    async with cdn_session(https_sandbox, trust=trust) as session, session.get(url) as response:
        status = response.status

    assert https_sandbox.cdn_ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert status == 200


async def test_a_client_without_the_test_ca_is_refused_by_tls(https_sandbox: Sandbox) -> None:
    url = await output_url(https_sandbox)
    system_trust = ssl.create_default_context()

    async with cdn_session(https_sandbox, trust=system_trust) as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(url)


async def test_the_resolver_maps_the_sandbox_names_and_refuses_every_other() -> None:
    resolver = SandboxResolver({HOST: "127.0.0.1"})

    [found] = await resolver.resolve(HOST, 443)
    [local] = await resolver.resolve("localhost", 80)
    with pytest.raises(OSError):
        await resolver.resolve("example.com", 443)
    await resolver.close()

    assert (found["host"], found["port"], found["family"]) == ("127.0.0.1", 443, socket.AF_INET)
    assert local["host"] == "127.0.0.1"


async def test_a_session_with_the_resolver_cannot_reach_other_names(
    https_sandbox: Sandbox,
) -> None:
    async with cdn_session(https_sandbox, trust=https_sandbox.cdn_ssl_context()) as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get("https://model-api.runcomfy.net/v1/models")


async def test_an_https_output_can_be_fed_back_as_an_image_input(
    https_sandbox: Sandbox,
) -> None:
    url = await output_url(https_sandbox)

    async with aiohttp.ClientSession(headers=auth(https_sandbox.token)) as session:
        job = await submit(
            session,
            https_sandbox.base_url,
            REFRAME,
            {"image": url, "resolution": "1024:1024 (1:1)"},
        )
        result = await wait_result(session, job["result_url"])

    assert result["status"] == "succeeded"


async def test_the_api_stays_plain_http_on_loopback(https_sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession(headers=auth(https_sandbox.token)) as session:
        status, _ = await call(session, "GET", f"{https_sandbox.base_url}/models")

    assert https_sandbox.base_url.startswith("http://127.0.0.1:")
    assert status == 200


async def test_without_https_mode_there_is_no_ca_and_the_resolver_maps_only_localhost() -> None:
    async with Sandbox() as sb:
        with pytest.raises(RuntimeError, match="cdn_https"):
            sb.cdn_ssl_context()
        hosts = sb.resolver().hosts

    assert hosts == {"localhost": "127.0.0.1"}


def test_a_threaded_sandbox_serves_the_https_cdn_too() -> None:
    with ThreadedSandbox(cdn_https=True) as sb:
        assert sb.cdn_https
        assert sb.cdn_base_url.startswith(f"https://{HOST}:")
        assert sb.cdn_ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
        assert sb.resolver().hosts[HOST] == "127.0.0.1"
        assert isinstance(sb.cdn_ssl_context(), ssl.SSLContext)
