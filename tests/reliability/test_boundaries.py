"""Boundaries: where the token may go, which base URLs are accepted, where files may land,
and how large things may get.

Loopback servers (aiohttp.web) stand in for the API, a CDN and an attacker's host: the
attacker listens on 127.0.0.2 (another host, still loopback) and records every header it is
sent.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runcomfy_async as rc
import runcomfy_async.http._answers as answers_module
import runcomfy_async.http._transport as transport_module
from runcomfy_async.core._files import StoredFile
from runcomfy_async.sandbox import CdnFaults, Sandbox
from runcomfy_async.store.downloads import Downloader

from ._support import CHAOS_MODEL, make_client, make_inputs, models, sandbox_view

TOKEN = "rc-boundary-SECRET-0b1c2d3e4f"
CREDENTIAL_HEADERS = {"authorization", "cookie", "proxy-authorization"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OTHER_HOST = "127.0.0.2"


# --- Loopback servers that record what they are sent -------------------------------------------


@attrs.define
class Recorder:
    """An aiohttp.web server that answers with ``respond`` and records each request."""

    host: str
    respond: Callable[[web.Request], Awaitable[web.StreamResponse]]
    seen: list[tuple[str, str, dict[str, str]]] = attrs.field(factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.seen.append((request.method, request.path_qs, dict(request.headers)))
            await request.read()
            return await self.respond(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def credentials_seen(self) -> list[tuple[str, str]]:
        return [(path, name) for _, path, headers in self.seen for name, value in headers.items()
                if name.lower() in CREDENTIAL_HEADERS or TOKEN in value]


async def _png(_: web.Request) -> web.StreamResponse:
    return web.Response(body=PNG, content_type="image/png")


@pytest.fixture
async def attacker() -> AsyncIterator[Recorder]:
    server = Recorder(OTHER_HOST, _png)
    await server.start()
    yield server
    await server.stop()


def _redirecting(target: Callable[[], str], status: int = 302,
                 cookie: bool = False) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request) -> web.StreamResponse:
        headers = {"Location": target() + request.path_qs}
        if cookie:
            headers["Set-Cookie"] = "session=from-the-api; Path=/"
        return web.Response(status=status, headers=headers)

    return respond


def _files_in(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# --- The API client and redirects --------------------------------------------------------------

API_CALLS: dict[str, Callable[[rc.AsyncRunComfy], Awaitable[Any]]] = {
    "submit": lambda c: c.submit("acme/model", {"prompt": "a fox"}),
    "status": lambda c: c.status("req-1"),
    "result": lambda c: c.result("req-1"),
    "cancel": lambda c: c.cancel("req-1"),
}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("call", API_CALLS.values(), ids=API_CALLS.keys())
async def test_the_client_refuses_to_follow_an_api_redirect(
    attacker: Recorder, status: int, call: Callable[[rc.AsyncRunComfy], Awaitable[Any]]
) -> None:
    api = Recorder("127.0.0.1", _redirecting(lambda: attacker.origin, status))
    await api.start()
    try:
        async with make_client(f"{api.origin}/v1", TOKEN) as client:
            with pytest.raises(rc.RunComfyError) as caught:
                await call(client)
    finally:
        await api.stop()
    assert attacker.seen == [], "the redirect was followed"
    assert "redirect" in str(caught.value) or "redirect" in str(caught.value.__cause__)


async def test_the_client_sends_no_cookie_back_to_the_api() -> None:
    async def set_cookie(_: web.Request) -> web.StreamResponse:
        return web.json_response({"request_id": "r-1", "status": "in_queue"},
                                 headers={"Set-Cookie": "session=abc; Path=/"})

    api = Recorder("127.0.0.1", set_cookie)
    await api.start()
    try:
        async with make_client(f"{api.origin}/v1", TOKEN) as client:
            await client.status("r-1")
            await client.status("r-1")
    finally:
        await api.stop()
    assert len(api.seen) == 2
    assert all("cookie" not in {k.lower() for k in headers} for _, _, headers in api.seen)


# --- The downloader and redirects --------------------------------------------------------------


async def test_the_downloader_sends_no_credential_on_a_redirect_to_another_host(
    attacker: Recorder, tmp_path: Path
) -> None:
    cdn = Recorder("127.0.0.1", _redirecting(lambda: attacker.origin, cookie=True))
    await cdn.start()
    try:
        async with Downloader(tmp_path, allowed_hosts=(),
                              allowed_origins=[cdn.origin, attacker.origin]) as downloader:
            files = await downloader.download(1, "a fox", [f"{cdn.origin}/files/a.png?sig=x"])
    finally:
        await cdn.stop()
    assert (tmp_path / files[0].path).read_bytes() == PNG
    assert len(attacker.seen) == 1, "the redirect was not followed"
    assert cdn.credentials_seen() == []
    assert attacker.credentials_seen() == []


async def test_the_downloader_refuses_a_redirect_to_a_host_not_allowed(
    attacker: Recorder, tmp_path: Path
) -> None:
    cdn = Recorder("127.0.0.1", _redirecting(lambda: attacker.origin))
    await cdn.start()
    try:
        async with Downloader(tmp_path, allowed_hosts=(), allowed_origins=[cdn.origin],
                              max_attempts=1) as downloader:
            with pytest.raises(rc.DownloadError, match="refused"):
                await downloader.download(1, "a fox", [f"{cdn.origin}/files/a.png"])
    finally:
        await cdn.stop()
    assert attacker.seen == []
    assert _files_in(tmp_path) == []


async def test_the_downloader_refuses_a_redirect_that_carries_credentials(
    attacker: Recorder, tmp_path: Path
) -> None:
    cdn = Recorder("127.0.0.1", _redirecting(lambda: f"http://user:pw@{OTHER_HOST}:{attacker.port}"))
    await cdn.start()
    try:
        async with Downloader(tmp_path, allowed_hosts=(),
                              allowed_origins=[cdn.origin, attacker.origin],
                              max_attempts=1) as downloader:
            with pytest.raises(rc.DownloadError, match="credentials"):
                await downloader.download(1, "a fox", [f"{cdn.origin}/files/a.png"])
    finally:
        await cdn.stop()
    assert attacker.seen == []


async def test_a_batch_follows_a_cross_host_cdn_redirect_without_credentials(
    tmp_path: Path,
) -> None:
    async with Sandbox(token=TOKEN, models=models(), time_scale=0.01) as sb:
        other_name = f"http://localhost:{sb.cdn_port}"
        sb.cdn_faults = CdnFaults(redirect_to=other_name)
        client = make_client(sb.base_url, TOKEN)
        async with client, client.map(
            CHAOS_MODEL, make_inputs(10, "redirected"), download_to=tmp_path,
            download_origins=[sb.cdn_base_url, other_name],
        ) as batch:
            outcomes = [o async for o in batch]
        stats = sandbox_view(sb).stats
    assert stats.faults_by_kind.get("cdn_redirect", 0) >= sum(1 for o in outcomes if o.ok)
    assert all(o.files for o in outcomes if o.ok)
    assert stats.cdn_credentials_seen == ()


# --- Base URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", [
    "http://model-api.runcomfy.net/v1", "http://example.com", "http://10.0.0.1/v1",
    "http://0.0.0.0:8080/v1", "http://localhost.evil.com/v1", "http://127.0.0.1.nip.io/v1",
    "http://192.168.1.10:8000/v1", "http://2130706433/v1",
])
def test_a_plain_http_base_url_for_a_non_loopback_host_is_refused(base_url: str) -> None:
    with pytest.raises(rc.ConfigurationError, match=r"plain-http|http"):
        rc.AsyncRunComfy(api_token=TOKEN, base_url=base_url)


def test_ipv4_mapped_loopback_is_loopback_on_every_python() -> None:
    # Python 3.13 calls ::ffff:127.0.0.1 loopback and earlier versions do not: we answer
    # the same everywhere (it is this machine).
    rc.AsyncRunComfy(api_token=TOKEN, base_url="http://[::ffff:7f00:1]/v1")


def test_a_plain_http_base_url_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", "http://model-api.runcomfy.net/v1")
    with pytest.raises(rc.ConfigurationError):
        rc.AsyncRunComfy(api_token=TOKEN)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){1,3}", fullmatch=True))
def test_any_plain_http_domain_is_refused_and_https_is_accepted(host: str) -> None:
    if host == "localhost" or host.endswith(".localhost"):
        return
    with pytest.raises(rc.ConfigurationError):
        rc.AsyncRunComfy(api_token=TOKEN, base_url=f"http://{host}/v1")
    assert rc.AsyncRunComfy(api_token=TOKEN, base_url=f"https://{host}/v1").base_url.host == host


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080/v1", "http://localhost:1/v1",
                                      "http://[::1]:8080/v1"])
def test_a_plain_http_loopback_base_url_is_accepted(base_url: str) -> None:
    assert rc.AsyncRunComfy(api_token=TOKEN, base_url=base_url).base_url.scheme == "http"


# --- Where downloaded files land ---------------------------------------------------------------


@attrs.define
class FileRig:
    loop: asyncio.AbstractEventLoop
    server: Recorder
    root: Path


@pytest.fixture(scope="module")
def file_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileRig]:
    async def any_file(request: web.Request) -> web.StreamResponse:
        kind = request.query.get("type", "image/png")
        disposition = 'attachment; filename="../../x"'
        return web.Response(body=PNG, headers={"Content-Type": kind,
                                                "Content-Disposition": disposition})

    loop = asyncio.new_event_loop()
    server = Recorder("127.0.0.1", any_file)
    loop.run_until_complete(server.start())
    yield FileRig(loop, server, tmp_path_factory.mktemp("names"))
    loop.run_until_complete(server.stop())
    loop.close()


labels = st.one_of(
    st.none(), st.text(max_size=80),
    st.sampled_from(["../../etc/passwd", "/etc/passwd", "..", ".", "C:\\Windows\\x", "a/../../b",
                     "\x00evil", "con", "NUL.txt", "～／．．／", "%2e%2e%2f", "a" * 500, ".hidden",
                     "\u202egnp.exe", "..\\..\\x"]),
)
url_paths = st.one_of(
    st.sampled_from(["/files/../../x.png", "/%2e%2e/%2e%2e/etc/passwd", "/a/b/c.png?x=../../y",
                     "/..%2f..%2fz", "/file;name=../../q", "/x.png#../../frag", "/"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e, exclude_characters="#?\\"),
            max_size=30).map(lambda p: "/" + p),
)
content_types = st.sampled_from(["image/png", "image/jpeg", "text/html", "application/x-sh",
                                 "image/png/../../x", "video/mp4; name=../../x"])


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(index=st.integers(0, 10**7), label=labels, path=url_paths, kind=content_types)
def test_a_downloaded_file_lands_directly_in_the_output_folder(
    file_rig: FileRig, index: int, label: str | None, path: str, kind: str
) -> None:
    out = file_rig.root / "out"
    url = f"{file_rig.server.origin}{path}{'&' if '?' in path else '?'}type={kind}"

    async def fetch() -> list[StoredFile]:
        async with Downloader(out, allowed_hosts=(), allowed_origins=[file_rig.server.origin],
                              max_attempts=1) as downloader:
            return await downloader.download(index, label, [url, url])

    try:
        files = file_rig.loop.run_until_complete(fetch())
    except rc.DownloadError:
        files = []
    for stored in files:
        target = out / stored.path
        assert target.resolve().parent == out.resolve(), stored.path
        assert stored.path.startswith(f"{index:06d}")
        assert not stored.path.startswith(".")
        assert target.read_bytes() == PNG
    outside = [p for p in file_rig.root.rglob("*") if p.is_file() and p.parent != out]
    assert outside == []


async def test_a_recorded_file_outside_the_folder_is_not_trusted(tmp_path: Path) -> None:
    victim = tmp_path / "victim.png"
    victim.write_bytes(PNG)
    known = StoredFile(url="", path="../victim.png", sha256=hashlib.sha256(PNG).hexdigest(),
                       size=len(PNG), content_type="image/png")
    server = Recorder("127.0.0.1", _png)
    await server.start()
    try:
        url = f"{server.origin}/files/a.png"
        known = attrs.evolve(known, url=url)
        async with Downloader(tmp_path / "out", allowed_hosts=(),
                              allowed_origins=[server.origin]) as downloader:
            files = await downloader.download(3, "a fox", [url], known=[known])
    finally:
        await server.stop()
    assert files[0].path != known.path
    assert "/" not in files[0].path
    assert len(server.seen) == 1, "the file outside the folder was taken as the download"
    assert victim.read_bytes() == PNG


async def test_a_batch_with_hostile_prompts_writes_only_inside_its_folder(tmp_path: Path) -> None:
    hostile = ["../../escape", "/etc/passwd", "..", "C:\\evil", "a/../../b", "\x00nul", "～／．．"]
    inputs = [{"prompt": p, "width": 16, "height": 16} for p in hostile]
    out = tmp_path / "out"
    async with Sandbox(models=models(), time_scale=0.01) as sb:
        client = make_client(sb.base_url, sb.token)
        async with client, client.map(CHAOS_MODEL, inputs, download_to=out,
                                      download_origins=[sb.cdn_base_url]) as batch:
            outcomes = [o async for o in batch]
    written = _files_under(tmp_path)
    assert all(p.parent == out for p in written), written
    assert all((out / f.path).is_file() for o in outcomes for f in o.files)


# --- Size caps ---------------------------------------------------------------------------------


async def test_a_request_body_over_the_cap_is_refused_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport_module, "MAX_REQUEST_BYTES", 1000)
    async with Sandbox(models=models(), time_scale=0.01) as sb:
        async with make_client(sb.base_url, sb.token) as client:
            with pytest.raises(rc.InvalidInputError, match="bytes"):
                await client.submit(CHAOS_MODEL, {"prompt": "x" * 2000})
            async with client.map(CHAOS_MODEL, [{"prompt": "y" * 2000}]) as batch:
                outcomes = [o async for o in batch]
        stats = sb.stats.snapshot()
    assert outcomes[0].state is rc.OutcomeState.REFUSED
    assert stats.requests_by_endpoint.get("submit", 0) == 0


async def test_a_response_over_the_cap_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers_module, "MAX_RESPONSE_BYTES", 1000)

    async def big(request: web.Request) -> web.StreamResponse:
        body = b'{"request_id": "r-1", "pad": "' + b"x" * 5000 + b'"}'
        if request.path.endswith("status"):
            return web.Response(body=body, content_type="application/json")
        response = web.StreamResponse()  # chunked: no Content-Length to check first
        await response.prepare(request)
        await response.write(body)
        return response

    api = Recorder("127.0.0.1", big)
    await api.start()
    try:
        async with make_client(f"{api.origin}/v1", TOKEN) as client:
            for call in (client.status, client.result):
                with pytest.raises(rc.MalformedResponseError, match="larger than"):
                    await call("r-1")
    finally:
        await api.stop()


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_download_over_the_cap_is_abandoned_and_leaves_nothing(
    tmp_path: Path, declared: bool
) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        if declared:
            response.content_length = 10_000
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"\x00" * 1000)
        return response

    server = Recorder("127.0.0.1", huge)
    await server.start()
    out = tmp_path / "out"
    try:
        async with Downloader(out, allowed_hosts=(), allowed_origins=[server.origin],
                              max_bytes=4096, max_attempts=1) as downloader:
            with pytest.raises(rc.DownloadError, match="cap"):
                await downloader.download(1, "big", [f"{server.origin}/big.png"])
    finally:
        await server.stop()
    assert _files_in(out) == []


async def test_a_batch_download_over_the_cap_fails_that_input_only(tmp_path: Path) -> None:
    async with Sandbox(models=models(), time_scale=0.01,
                       cdn_faults=CdnFaults(huge_body_bytes=600 * 1024 * 1024)) as sb:
        client = make_client(sb.base_url, sb.token)
        async with client, client.map(CHAOS_MODEL, make_inputs(4, "big"), download_to=tmp_path,
                                      download_origins=[sb.cdn_base_url]) as batch:
            outcomes = [o async for o in batch]
    succeeded = [o for o in outcomes if o.ok]
    assert succeeded
    assert all(isinstance(o.error, rc.DownloadError) for o in succeeded)
    assert [p.name for p in _files_in(tmp_path)] == ["manifest.jsonl"]
