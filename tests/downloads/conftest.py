"""The downloader's tests' fixtures: a loopback CDN (two), an output folder, no DNS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ._cdn import Cdn, NoNetworkResolver, serving


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
