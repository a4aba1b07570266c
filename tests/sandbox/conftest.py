"""Fixtures for the sandbox's conformance tests: a sandbox and a raw HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import attrs
import pytest

from runcomfy_async.sandbox import Sandbox

from ._support import INSTANT, STUCK, auth


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A sandbox at full time scale where the Ideogram models finish at once, plus the
    instant and stuck test models."""
    sb = Sandbox(seed=1, models=[INSTANT, STUCK])
    for spec in list(sb.models.values()):
        if spec.model_id.startswith("ideogram/"):
            sb.register_model(attrs.evolve(spec, median_s=0.0))
    async with sb:
        yield sb


@pytest.fixture
async def session(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    """A session carrying the sandbox's token; one connection per request, so that aiohttp's
    retry of a dropped keep-alive connection cannot hide or repeat a request."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, headers=auth(sandbox.token)) as s:
        yield s


@pytest.fixture
async def one_worker() -> AsyncIterator[Sandbox]:
    """A sandbox with one worker and the stuck model: the second job on waits for ever."""
    async with Sandbox(workers=1, models=[STUCK]) as sb:
        yield sb


@pytest.fixture
async def one_worker_session(one_worker: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    """A session carrying the one-worker sandbox's token."""
    async with aiohttp.ClientSession(headers=auth(one_worker.token)) as s:
        yield s
