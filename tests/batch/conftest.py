"""Batches against the sandbox over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from runcomfy_async import AsyncRunComfy, RetryPolicy
from runcomfy_async.sandbox import FaultPlan, ModelSpec, Sandbox

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "properties": {"prompt": {"type": "string"}, "seed": {"type": "integer"}},
}
FAST = "test/fast"  # zero-time jobs
SLOW = "test/slow"  # jobs that sit long enough to be cancelled or time out
FLAKY = "test/flaky"  # a third of the jobs fail
VARIED = "test/varied"  # lognormal run times


def models() -> list[ModelSpec]:
    return [
        ModelSpec(FAST, SCHEMA, output_kind="image"),
        ModelSpec(SLOW, SCHEMA, output_kind="image", median_s=60.0),
        ModelSpec(FLAKY, SCHEMA, output_kind="images", images_per_job=2, failure_rate=0.34,
                  median_s=0.02),
        ModelSpec(VARIED, SCHEMA, output_kind="image", median_s=4.0, sigma=0.6),
    ]


def prompts(n: int, prefix: str = "p") -> list[dict[str, Any]]:
    return [{"prompt": f"{prefix} {i}"} for i in range(n)]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(models=models(), workers=8, time_scale=0.01, seed=7) as sb:
        yield sb


def make_client(sb: Sandbox, **kwargs: Any) -> AsyncRunComfy:
    kwargs.setdefault("retry", RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=8))
    return AsyncRunComfy(api_token=sb.token, base_url=sb.base_url, **kwargs)


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[AsyncRunComfy]:
    async with make_client(sandbox) as c:
        yield c


class CountingInputs:
    """An input generator that counts how far it has been pulled."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.pulled = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item in self.items:
            self.pulled += 1
            yield item


__all__ = ["FaultPlan"]
