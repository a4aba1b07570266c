"""The CDN: a second origin that serves output files, and watches for leaked credentials.

RunComfy's outputs live on CDN hosts, not on the API host, and must be fetched without the
API token. The sandbox's CDN listens on its own port, serves each file with its real type and
length, and records every request that carried ``Authorization`` or any issued token, so that a
test can prove the client leaked nothing. `CdnFaults` make it answer hostile things.

Files are drawn lazily on their first download, in a small thread pool (drawing a 1-megapixel
PNG is milliseconds of CPU that must not stall the API's event loop), and kept in a bounded
cache; concurrent downloads of one file share one drawing.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import yarl
from aiohttp import web

from ._constants import FILES_PREFIX, HUGE_BODY_CHUNK_BYTES, RENDER_CACHE_FILES, RENDER_THREADS
from ._core import SandboxCore
from ._jobs import Job
from ._render import fake_mp4, render_png
from ._stats import CdnSighting

FILE_NAME: Final = re.compile(r"(\d+)\.(png|mp4)")
CONTENT_TYPES: Final = {"png": "image/png", "mp4": "video/mp4"}


class CdnFiles:
    """The CDN's request handler and its render cache.

    Args:
        core: the sandbox state (jobs, tokens, stats, CDN faults).
    """

    def __init__(self, core: SandboxCore) -> None:
        self._core = core
        self._cache: OrderedDict[tuple[str, int], asyncio.Future[bytes]] = OrderedDict()
        self._executor = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="sandbox-render")

    def application(self) -> web.Application:
        """The CDN's aiohttp application."""
        app = web.Application()
        app.router.add_get(FILES_PREFIX + "/{request_id}/{name}", self.serve)
        return app

    def close(self) -> None:
        """Stop the render threads (drawings under way are abandoned)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """GET /files/{request_id}/{n}.{png|mp4}."""
        core = self._core
        core.stats.cdn_requests += 1
        self._watch_credentials(request)
        faults = core.options.cdn_faults
        if faults.redirect_to is not None:
            target = yarl.URL(faults.redirect_to)
            if request.host != target.authority:
                core.stats.faults_by_kind["cdn_redirect"] += 1
                raise web.HTTPFound(str(target.with_path(request.path)))
        job = core.queue.get(request.match_info["request_id"])
        name = FILE_NAME.fullmatch(request.match_info["name"])
        if job is None or name is None or job.state != "succeeded":
            raise web.HTTPNotFound()
        index, extension = int(name[1]), name[2]
        if not self._has_file(job, index, extension):
            raise web.HTTPNotFound()
        content_type = faults.content_type or CONTENT_TYPES[extension]
        if faults.content_type is not None:
            core.stats.faults_by_kind["cdn_content_type"] += 1
        if faults.huge_body_bytes is not None:
            core.stats.faults_by_kind["cdn_huge_body"] += 1
            return await self._huge(request, faults.huge_body_bytes, content_type)
        body = fake_mp4(job.request_id) if extension == "mp4" else await self._png(job, index)
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _watch_credentials(self, request: web.Request) -> None:
        tokens = self._core.tokens.issued()
        for header, value in request.headers.items():
            if header.lower() == "authorization" or any(token in value for token in tokens):
                self._core.stats.cdn_credentials_seen.append(
                    CdnSighting(path=request.path_qs, header=header, value=value)
                )

    @staticmethod
    def _has_file(job: Job, index: int, extension: str) -> bool:
        spec = job.model.spec
        if spec.output_kind == "video":
            return extension == "mp4" and index == 0
        count = spec.images_per_job if spec.output_kind == "images" else 1
        return extension == "png" and index < count

    async def _png(self, job: Job, index: int) -> bytes:
        key = (job.request_id, index)
        drawing = self._cache.get(key)
        if drawing is None:
            loop = asyncio.get_running_loop()
            drawing = loop.run_in_executor(
                self._executor, render_png, self._core.drawing(job, index)
            )
            self._cache[key] = drawing
            while len(self._cache) > RENDER_CACHE_FILES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        try:
            return await asyncio.shield(drawing)
        except Exception:
            # A failed drawing is not cached: the next download tries again.
            if self._cache.get(key) is drawing:
                del self._cache[key]
            raise

    @staticmethod
    async def _huge(request: web.Request, size: int, content_type: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.content_length = size
        await response.prepare(request)
        chunk = memoryview(bytes(HUGE_BODY_CHUNK_BYTES))
        sent = 0
        try:
            while sent < size:
                piece = chunk[: size - sent]
                await response.write(piece)
                sent += len(piece)
        except ConnectionResetError:
            # The client gave up reading, as a client with a size cap should.
            return response
        await response.write_eof()
        return response
