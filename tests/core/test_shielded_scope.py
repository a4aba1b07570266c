"""The batch's submit shield: anyio's own scope, built without anyio's backend lookup."""

from __future__ import annotations

import asyncio

import anyio

from runcomfy_async.http._shield import shielded_scope


async def test_it_is_the_scope_anyio_builds_on_asyncio() -> None:
    # Built directly from the asyncio backend's class: if a new anyio moves or renames it,
    # this fails here rather than the shield silently becoming something else.
    assert type(shielded_scope()) is type(anyio.CancelScope(shield=True))
    assert shielded_scope().shield


async def test_work_inside_it_finishes_when_its_task_group_is_cancelled() -> None:
    finished: list[str] = []

    async def post_on_the_wire() -> None:
        with shielded_scope():
            await asyncio.sleep(0.01)
            finished.append("answer read")
        await asyncio.sleep(10)  # outside the shield: cancelled at once
        finished.append("not reached")

    async with anyio.create_task_group() as tg:
        tg.start_soon(post_on_the_wire)
        await asyncio.sleep(0)
        tg.cancel_scope.cancel()
    assert finished == ["answer read"]
