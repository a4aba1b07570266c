"""The FIFO semaphore behind the request budgets: order, bounds, and cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runcomfy_async import ConfigurationError
from runcomfy_async.core._semaphore import Semaphore


async def test_waiters_are_served_in_the_order_they_came() -> None:
    sem = Semaphore(1)
    await sem.acquire()
    order: list[int] = []

    async def waiter(i: int) -> None:
        async with sem:
            order.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in range(5)]
    await asyncio.sleep(0)
    assert sem.waiting == 5
    assert sem.locked()
    sem.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert sem.free == 1
    assert sem.waiting == 0


async def test_never_more_holders_than_permits() -> None:
    sem = Semaphore(3)
    holding = most = 0

    async def worker() -> None:
        nonlocal holding, most
        for _ in range(20):
            async with sem:
                holding += 1
                most = max(most, holding)
                await asyncio.sleep(0)
                holding -= 1

    await asyncio.gather(*(worker() for _ in range(10)))
    assert most == 3
    assert sem.free == 3


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    sem = Semaphore(1)
    await sem.acquire()
    gone = asyncio.create_task(sem.acquire())
    stays = asyncio.create_task(sem.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert sem.waiting == 1
    sem.release()
    await stays  # the permit went to the one still waiting
    assert sem.free == 0
    assert sem.waiting == 0


async def test_a_waiter_cancelled_after_being_handed_a_permit_passes_it_on() -> None:
    sem = Semaphore(1)
    await sem.acquire()
    first = asyncio.create_task(sem.acquire())
    second = asyncio.create_task(sem.acquire())
    await asyncio.sleep(0)
    sem.release()  # handed to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert sem.free == 0
    assert sem.waiting == 0
    sem.release()
    assert sem.free == 1


async def test_a_permit_released_with_nobody_waiting_is_free_again() -> None:
    sem = Semaphore(2)
    async with sem:
        assert sem.free == 1
    assert sem.free == 2
    with pytest.raises(ValueError, match=r"^value must be an integer >= 1"):
        Semaphore(0)  # a ConfigurationError, which is a ValueError


@pytest.mark.parametrize("value", [0, -1, True, False, 1.5, 2.0, "3", None])
def test_a_semaphore_refuses_what_is_not_a_positive_int_as_every_number_is_refused(
    value: Any,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Semaphore(value)
    assert str(caught.value) == f"value must be an integer >= 1, got {value!r}"
    assert isinstance(caught.value, ValueError)  # what it raised before, still caught as such


@pytest.mark.parametrize("value", [1, 2, 64])
def test_a_semaphore_takes_any_positive_int(value: int) -> None:
    sem = Semaphore(value)
    assert sem.free == value
    assert sem.waiting == 0
