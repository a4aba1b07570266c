"""A small file server on loopback that records every request, and the tests' helpers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import anyio
import attrs
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict

from runcomfy_async.store.downloads import Downloader

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


def downloader(out: Path, *origins: str, **settings: Any) -> Downloader:
    """A downloader allowed only the given loopback origins, with quick retries."""
    settings.setdefault("retry_initial_delay", 0.001)
    settings.setdefault("retry_max_delay", 0.005)
    return Downloader(out, allowed_hosts=(), allowed_origins=origins, **settings)


def listing(folder: Path) -> list[str]:
    # os.listdir, not Path.iterdir: on Python 3.13 iterdir is os.scandir, which the tests
    # that count the downloader's own folder scans would then count too.
    return sorted(os.listdir(folder)) if folder.exists() else []


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


async def wait_for_part_file(out: Path) -> None:
    with anyio.fail_after(10):
        while not any(name.endswith(".part") for name in listing(out)):
            await asyncio.sleep(0.01)
