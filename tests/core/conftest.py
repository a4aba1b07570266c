"""Fixtures for the client core: a fake clock and a client whose HTTP is scripted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from aioresponses import aioresponses

from runcomfy_async import AsyncRunComfy

BASE = "https://api.test/v1"
TOKEN = "tok-SECRET-0123456789abcdef"


class FakeClock:
    """Time that passes only when the code under test sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await anyio.lowlevel.checkpoint()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def http() -> Iterator[aioresponses]:
    with aioresponses() as mocked:
        yield mocked


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[AsyncRunComfy]:
    async with AsyncRunComfy(
        api_token=TOKEN, base_url=BASE, clock=clock, sleep=clock.sleep, rand=lambda: 0.5
    ) as c:
        yield c
