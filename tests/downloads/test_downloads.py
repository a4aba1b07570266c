"""The downloader, against a small file server on loopback that records every request."""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import attrs
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict

from runcomfy_async import ConfigurationError, RunComfyError
from runcomfy_async.core._files import StoredFile
from runcomfy_async.store._downloads import Downloader, DownloadError, file_stem, slug

PNG = bytes.fromhex("89504e470d0a1a0a") + b"not really a picture, but PNG-typed" * 8
JPEG = bytes.fromhex("ffd8ffe0") + b"jpeg-ish bytes" * 8
KILLED_DOWNLOADER = Path(__file__).with_name("_killed_downloader.py")
TOKEN = "rc_live_5b1e9d0c7a3f42e8b6d4c2a0f9e8d7c6"
NAME = re.compile(r"\d{6}(-[a-z0-9]+)*\.png")


# --- A file server that stands in for the CDN ------------------------------------------------


@attrs.define
class Cdn:
    """A loopback file server; ``requests`` holds (path with query, headers) of each request."""

    origin: str = ""
    requests: list[tuple[str, CIMultiDict[str]]] = attrs.Factory(list)
    failures: dict[str, int] = attrs.Factory(dict)
    in_flight: int = 0
    most_in_flight: int = 0
    release: asyncio.Event = attrs.Factory(asyncio.Event)

    def url(self, path: str) -> str:
        return self.origin + path

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def cdn_app(cdn: Cdn) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        cdn.requests.append((request.path_qs, CIMultiDict(request.headers)))
        response: web.StreamResponse = await handler(request)
        return response

    async def png(request: web.Request) -> web.Response:
        response = web.Response(body=PNG, content_type="image/png")
        response.set_cookie("cdn_session", "abc")
        return response

    async def jpeg(request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>signed URL expired</html>", content_type="text/html")

    async def redirect_same(request: web.Request) -> web.Response:
        raise web.HTTPFound("/png/a")

    async def redirect_to(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["location"])

    async def redirect_chain(request: web.Request) -> web.Response:
        hops = int(request.match_info["hops"])
        if hops == 0:
            return await png(request)
        raise web.HTTPFound(f"/redirect/chain/{hops - 1}")

    async def stream(request: web.Request, *, declared: int | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        if declared is not None:
            response.content_length = declared
        await response.prepare(request)
        with suppress(ConnectionError):
            for _ in range(1000):  # 16 MB at most, if the client never stops reading
                await response.write(b"\0" * 16384)
        return response

    async def huge_declared(request: web.Request) -> web.StreamResponse:
        return await stream(request, declared=10**9)

    async def huge_streamed(request: web.Request) -> web.StreamResponse:
        return await stream(request, declared=None)

    async def flaky(request: web.Request) -> web.Response:
        key, fails = request.match_info["key"], int(request.match_info["fails"])
        cdn.failures[key] = cdn.failures.get(key, 0) + 1
        if cdn.failures[key] <= fails:
            return web.Response(status=500, text="try again")
        return web.Response(body=PNG, content_type="image/png")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]))

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        await response.write(b"\0" * 1024)
        with suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(cdn.release.wait(), 20)
        return response

    async def busy(request: web.Request) -> web.Response:
        cdn.in_flight += 1
        cdn.most_in_flight = max(cdn.most_in_flight, cdn.in_flight)
        try:
            # Hold on until a second request overlaps (or a while has passed), so that the
            # overlap the limit allows is seen even on a slow machine.
            for _ in range(100):
                if cdn.in_flight >= 2:
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.01)
        finally:
            cdn.in_flight -= 1
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application(middlewares=[record])
    app.router.add_get("/png/{name:.*}", png)
    app.router.add_get("/photo.exe", jpeg)
    app.router.add_get("/html", html)
    app.router.add_get("/redirect/same", redirect_same)
    app.router.add_get("/redirect/to", redirect_to)
    app.router.add_get("/redirect/chain/{hops}", redirect_chain)
    app.router.add_get("/huge/declared", huge_declared)
    app.router.add_get("/huge/streamed", huge_streamed)
    app.router.add_get("/flaky/{key}/{fails}", flaky)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/slow", slow)
    app.router.add_get("/busy/{n}", busy)
    return app


@asynccontextmanager
async def serving() -> AsyncIterator[Cdn]:
    cdn = Cdn()
    runner = web.AppRunner(cdn_app(cdn), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    cdn.origin = f"http://{host}:{port}"
    try:
        yield cdn
    finally:
        cdn.release.set()
        await runner.cleanup()
    # Whatever the test did, no credential ever reached the server.
    for path, headers in cdn.requests:
        assert "Authorization" not in headers, path
        assert "Cookie" not in headers, path


@pytest.fixture
async def cdn() -> AsyncIterator[Cdn]:
    async with serving() as server:
        yield server


@pytest.fixture
async def other_cdn() -> AsyncIterator[Cdn]:
    async with serving() as server:
        yield server


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def downloader(out: Path, *origins: str, **settings: Any) -> Downloader:
    """A downloader allowed only the given loopback origins, with quick retries."""
    settings.setdefault("retry_initial_delay", 0.001)
    settings.setdefault("retry_max_delay", 0.005)
    return Downloader(out, allowed_hosts=(), allowed_origins=origins, **settings)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class NoNetworkResolver(AbstractResolver):
    """A resolver that records the names it is asked for and resolves none of them."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        raise OSError(f"no network in tests (asked for {host})")

    async def close(self) -> None:
        pass


@pytest.fixture
async def resolver() -> NoNetworkResolver:
    return NoNetworkResolver()


@pytest.fixture
async def offline_session(resolver: NoNetworkResolver) -> AsyncIterator[aiohttp.ClientSession]:
    """A session that can reach loopback IPs but never resolves (so never reaches) a name."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=resolver), cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        yield session


# --- Saving ----------------------------------------------------------------------------------


async def test_a_file_is_saved_under_its_index_and_label_with_hash_and_size(
    cdn: Cdn, out: Path
) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(42, "A red fox in snow", [cdn.url("/png/x?sig=1")])
    assert stored == StoredFile(
        url=cdn.url("/png/x?sig=1"),
        path="000042-a-red-fox-in-snow.png",
        sha256=sha256(PNG),
        size=len(PNG),
        content_type="image/png",
    )
    assert (out / stored.path).read_bytes() == PNG


async def test_further_outputs_of_one_input_get_numbered_names(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        files = await d.download(42, "a fox", [cdn.url("/png/a"), cdn.url("/png/b")])
    assert [f.path for f in files] == ["000042-a-fox.png", "000042-a-fox-2.png"]


async def test_without_a_label_the_index_alone_names_the_file(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(5, None, [cdn.url("/png/a")])
    assert stored.path == "000005.png"


async def test_the_extension_comes_from_the_content_type_not_the_url(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/photo.exe")])
    assert (stored.path, stored.content_type) == ("000001-a-fox.jpg", "image/jpeg")


async def test_an_unexpected_content_type_is_saved_as_bin(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/html")])
    assert (stored.path, stored.content_type) == ("000001-a-fox.bin", "text/html")


async def test_no_downloads_run_beyond_the_concurrency_limit(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, concurrency=2) as d:
        await asyncio.gather(
            d.download(1, "a", [cdn.url(f"/busy/{n}") for n in range(3)]),
            d.download(2, "b", [cdn.url(f"/busy/{n}") for n in range(3)]),
        )
    assert cdn.most_in_flight == 2


# --- Credentials -----------------------------------------------------------------------------


async def test_no_credential_is_ever_sent(
    cdn: Cdn, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    async with downloader(out, cdn.origin) as d:
        await d.download(1, "a", [cdn.url("/png/a"), cdn.url("/redirect/same")])
        await d.download(2, "b", [cdn.url("/png/b"), cdn.url("/flaky/k/1")])
    assert len(cdn.requests) == 6
    for _, headers in cdn.requests:
        assert "Authorization" not in headers
        assert "Cookie" not in headers  # the server set one on every PNG
        assert not any(TOKEN in value for value in headers.values())


@pytest.mark.parametrize(
    "make_session",
    [
        lambda: aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {TOKEN}"}, cookie_jar=aiohttp.DummyCookieJar()
        ),
        lambda: aiohttp.ClientSession(
            auth=aiohttp.BasicAuth("user", "pw"), cookie_jar=aiohttp.DummyCookieJar()
        ),
        lambda: aiohttp.ClientSession(trust_env=True, cookie_jar=aiohttp.DummyCookieJar()),
        lambda: aiohttp.ClientSession(),
    ],
    ids=["authorization-header", "basic-auth", "netrc", "cookie-jar"],
)
async def test_a_session_that_could_carry_credentials_is_refused(
    make_session: Callable[[], aiohttp.ClientSession], out: Path
) -> None:
    async with make_session() as session:
        with pytest.raises(ConfigurationError):
            Downloader(out, session=session)


# --- Where files may come from ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/a.png",
        "https://evilruncomfy.net/a.png",
        "https://runcomfy.net.evil.example/a.png",
        "https://cdn.runcomfy.net@evil.example/a.png",
        "https://user:pw@cdn.runcomfy.net/a.png",
        "http://cdn.runcomfy.net/a.png",
        "ftp://cdn.runcomfy.net/a.png",
        "file:///etc/passwd",
        "/relative/a.png",
        "https://[::1]:9/a.png",
        "http://127.0.0.1.nip.io/a.png",
    ],
)
async def test_a_url_outside_the_rules_is_refused_before_any_connection(
    url: str,
    out: Path,
    offline_session: aiohttp.ClientSession,
    resolver: NoNetworkResolver,
) -> None:
    async with Downloader(out, session=offline_session, max_attempts=1) as d:
        with pytest.raises(DownloadError, match="refused"):
            await d.download(1, "a fox", [url])
    assert resolver.asked == []
    assert listing(out) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://runcomfy.net/a.png",
        "https://playgrounds-storage-public.runcomfy.net/a.png",
        "https://CDN.RunComfy.com./a.png",
    ],
)
async def test_hosts_under_an_allowed_suffix_are_fetched(
    url: str, out: Path, offline_session: aiohttp.ClientSession, resolver: NoNetworkResolver
) -> None:
    async with Downloader(out, session=offline_session, max_attempts=1) as d:
        with pytest.raises(DownloadError, match="gave up after 1 attempts"):
            await d.download(1, "a fox", [url])
    assert len(resolver.asked) == 1


async def test_one_refused_url_stops_the_call_before_any_request(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError, match="refused"):
            await d.download(1, "a fox", [cdn.url("/png/a"), "https://evil.example/b.png"])
    assert cdn.requests == []


async def test_a_same_origin_redirect_is_followed(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/redirect/same")])
    assert cdn.paths() == ["/redirect/same", "/png/a"]
    assert (stored.url, stored.sha256) == (cdn.url("/redirect/same"), sha256(PNG))


async def test_a_redirect_to_an_allowed_origin_is_followed(
    cdn: Cdn, other_cdn: Cdn, out: Path
) -> None:
    target = other_cdn.url("/png/b")
    async with downloader(out, cdn.origin, other_cdn.origin) as d:
        await d.download(1, "a fox", [cdn.url(f"/redirect/to?location={target}")])
    assert other_cdn.paths() == ["/png/b"]


async def test_a_redirect_to_an_origin_not_allowed_is_refused(
    cdn: Cdn, other_cdn: Cdn, out: Path
) -> None:
    target = other_cdn.url("/png/b?signature=SECRET")
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError, match=r"redirect to .*/png/b refused") as caught:
            await d.download(1, "a fox", [f"{cdn.url('/redirect/to')}?location={target}"])
    assert other_cdn.requests == []
    assert "SECRET" not in str(caught.value)


async def test_a_redirect_to_https_on_an_origin_not_allowed_is_refused(cdn: Cdn, out: Path) -> None:
    target = cdn.origin.replace("http://", "https://") + "/png/a"
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError, match="refused"):
            await d.download(1, "a fox", [cdn.url(f"/redirect/to?location={target}")])
    assert cdn.paths() == [f"/redirect/to?location={target}"]


async def test_a_redirect_to_plain_http_off_loopback_is_refused(
    cdn: Cdn, out: Path, offline_session: aiohttp.ClientSession, resolver: NoNetworkResolver
) -> None:
    target = "http://cdn.runcomfy.net/a.png"
    async with Downloader(
        out, allowed_origins=[cdn.origin], session=offline_session, max_attempts=1
    ) as d:
        with pytest.raises(DownloadError, match="plain http"):
            await d.download(1, "a fox", [cdn.url(f"/redirect/to?location={target}")])
    assert resolver.asked == []


async def test_five_redirects_are_followed(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        await d.download(1, "a fox", [cdn.url("/redirect/chain/5")])
    assert len(cdn.requests) == 6


async def test_a_sixth_redirect_is_refused(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError, match="more than 5 redirects"):
            await d.download(1, "a fox", [cdn.url("/redirect/chain/6")])
    assert len(cdn.requests) == 6


# --- Names and paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "C:\\Windows\\System32\\drivers",
        "a\x00b/../c",
        "CON",
        "..",
        "",
        "   ",
        "ｆｕｌｌ ｗｉｄｔｈ",
        "Ünïcödé façade 狐狸",
        "\u202egnp.exe",
        "x" * 500,
    ],
)
async def test_no_label_can_put_a_file_outside_the_output_folder(
    label: str, cdn: Cdn, out: Path, tmp_path: Path
) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(42, label, [cdn.url("/png/a")])
    assert NAME.fullmatch(stored.path), stored.path
    assert listing(out) == [stored.path]
    assert listing(tmp_path) == ["out"]


@pytest.mark.parametrize(
    "path", ["/png/..%2F..%2Fevil.png", "/png/%2Fetc%2Fpasswd", "/png/%00x", "/png/ünï.png"]
)
async def test_url_paths_never_name_files(path: str, cdn: Cdn, out: Path, tmp_path: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(3, "a fox", [cdn.url(path)])
    assert stored.path == "000003-a-fox.png"
    assert listing(tmp_path) == ["out"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("A red fox in snow!", "a-red-fox-in-snow"),
        ("Ünïcödé façade", "unicode-facade"),
        ("ｆｕｌｌ ｗｉｄｔｈ", "full-width"),
        ("../../etc/passwd", "etc-passwd"),
        ("C:\\Windows\\nul", "c-windows-nul"),
        ("狐狸", ""),
        ("word " * 30, ("word-" * 10)[:48].rstrip("-")),
    ],
)
def test_a_slug_is_short_lowercase_ascii(label: str, expected: str) -> None:
    assert slug(label) == expected


def test_file_stems_number_later_outputs_from_two() -> None:
    assert [file_stem(7, "a fox", n) for n in range(3)] == [
        "000007-a-fox",
        "000007-a-fox-2",
        "000007-a-fox-3",
    ]


# --- Caps, retries, errors -------------------------------------------------------------------


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    cdn: Cdn, out: Path
) -> None:
    async with downloader(out, cdn.origin, max_bytes=4096) as d:
        with pytest.raises(DownloadError, match="Content-Length 1000000000 exceeds"):
            await d.download(1, "a fox", [cdn.url("/huge/declared")])
    assert listing(out) == []


async def test_a_streamed_body_over_the_cap_is_abandoned_and_deleted(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_bytes=4096) as d:
        with pytest.raises(DownloadError, match="body exceeds the 4096-byte cap"):
            await d.download(1, "a fox", [cdn.url("/huge/streamed")])
    assert listing(out) == []


async def test_a_file_of_exactly_the_cap_is_accepted(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_bytes=len(PNG)) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/png/a")])
    assert stored.size == len(PNG)


async def test_server_errors_are_retried_until_success(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_attempts=3) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/flaky/k/2")])
    assert cdn.failures["k"] == 3
    assert stored.sha256 == sha256(PNG)


async def test_server_errors_give_up_after_max_attempts(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_attempts=3) as d:
        with pytest.raises(DownloadError, match="gave up after 3 attempts") as caught:
            await d.download(1, "a fox", [cdn.url("/flaky/k/5")])
    assert (cdn.failures["k"], caught.value.status) == (3, 500)
    assert listing(out) == []


@pytest.mark.parametrize("code", [403, 404, 410])
async def test_client_errors_are_not_retried(code: int, cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_attempts=3) as d:
        with pytest.raises(DownloadError, match=f"HTTP {code}") as caught:
            await d.download(1, "a fox", [cdn.url(f"/status/{code}")])
    assert (len(cdn.requests), caught.value.status, caught.value.index) == (1, code, 1)


async def test_errors_name_the_url_without_its_query_string(cdn: Cdn, out: Path) -> None:
    url = cdn.url("/status/403?X-Amz-Signature=SECRET&token=SECRET")
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError) as caught:
            await d.download(1, "a fox", [url])
    assert caught.value.url == cdn.url("/status/403")
    assert "SECRET" not in str(caught.value)


async def test_connection_failures_are_retried_and_reported_without_the_query(
    out: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    async with downloader(out, origin, max_attempts=2) as d:
        with pytest.raises(DownloadError, match="gave up after 2 attempts") as caught:
            await d.download(1, "a fox", [f"{origin}/a.png?signature=SECRET"])
    assert "SECRET" not in str(caught.value)


def test_download_errors_survive_pickling() -> None:
    error = DownloadError("https://cdn.runcomfy.net/a.png?sig=1", "HTTP 404", index=3, status=404)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.index, copy.status) == (str(error), 3, 404)
    assert isinstance(copy, RunComfyError)


# --- Files already present -------------------------------------------------------------------


async def test_a_present_file_with_its_recorded_hash_is_not_fetched_again(
    cdn: Cdn, out: Path
) -> None:
    async with downloader(out, cdn.origin) as d:
        first = await d.download(1, "a fox", [cdn.url("/png/a")])
        second = await d.download(1, "a fox", [cdn.url("/png/a")], known=first)
    assert second == first
    assert len(cdn.requests) == 1


async def test_a_present_file_with_another_hash_is_fetched_again(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [first] = await d.download(1, "a fox", [cdn.url("/png/a")])
        await anyio.Path(out / first.path).write_bytes(b"X" * first.size)
        [second] = await d.download(1, "a fox", [cdn.url("/png/a")], known=[first])
    assert second == first
    assert len(cdn.requests) == 2
    assert await anyio.Path(out / first.path).read_bytes() == PNG


async def test_a_recorded_path_outside_the_output_folder_is_not_trusted(
    cdn: Cdn, out: Path, tmp_path: Path
) -> None:
    await anyio.Path(tmp_path / "outside.png").write_bytes(PNG)
    known = StoredFile(
        url=cdn.url("/png/a"),
        path="../outside.png",
        sha256=sha256(PNG),
        size=len(PNG),
        content_type="image/png",
    )
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/png/a")], known=[known])
    assert stored.path == "000001-a-fox.png"
    assert len(cdn.requests) == 1


# --- Atomicity -------------------------------------------------------------------------------


async def wait_for_part_file(out: Path) -> None:
    with anyio.fail_after(10):
        while not any(name.endswith(".part") for name in listing(out)):
            await asyncio.sleep(0.01)


async def test_a_cancelled_download_leaves_no_partial_file(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        task = asyncio.create_task(d.download(7, "a fox", [cdn.url("/slow")]))
        await wait_for_part_file(out)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    assert listing(out) == []


async def test_a_killed_download_leaves_a_hidden_part_file_the_next_run_removes(
    cdn: Cdn, out: Path
) -> None:
    killed = await asyncio.create_subprocess_exec(
        sys.executable, str(KILLED_DOWNLOADER), str(out), cdn.url("/slow"), cdn.origin
    )
    try:
        await wait_for_part_file(out)
    finally:
        killed.kill()
        await killed.wait()
    [leftover] = listing(out)
    assert re.fullmatch(r"\.000007\.[0-9a-f]+\.part", leftover)

    async with downloader(out, cdn.origin) as d:
        await d.download(7, "a fox", [cdn.url("/png/a")])
    assert listing(out) == ["000007-a-fox.png"]
