"""A scripted Model API on 127.0.0.1, for answers the sandbox does not give on demand (the
same request id for every submit, a success that names no output URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def scripted_api(routes: Iterable[web.RouteDef]) -> AsyncIterator[str]:
    """Serve ``routes`` on a free loopback port; yields the base URL (with ``/v1``)."""
    app = web.Application()
    app.add_routes(list(routes))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()
