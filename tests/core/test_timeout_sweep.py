"""The transport's one deadline sweep: timeouts and callers' deadlines without a loop timer
per request (issue: performance). Exact where a clock is given, over loopback otherwise."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest
from aiohttp import web

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, RetryPolicy
from runcomfy_async.http import _watchdog
from runcomfy_async.http._watchdog import Watch, Watchdog
from runcomfy_async.sandbox import ModelSpec, ThreadedSandbox

SCHEMA = {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}
MODEL = "test/sweep"

TOKEN = "sk-test-sweep-token"

pytestmark = pytest.mark.asyncio


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _parked(event: asyncio.Event) -> str:
    try:
        await event.wait()
    except asyncio.CancelledError:
        return "cancelled"
    return "finished"


async def test_due_says_which_limit_passed_first(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(_watchdog, "monotonic", clock)
    task = asyncio.current_task()
    assert task is not None
    watch = Watch(task, total=10.0, read=3.0, cancelling=0)
    assert watch.due(102.9) is None
    assert watch.due(103.0) == "read"
    clock.now = 102.0
    watch.progress()  # data arrived: the read timeout counts from now
    assert watch.due(104.9) is None
    assert watch.due(105.0) == "read"
    assert watch.due(110.0) == "total"


async def test_no_read_limit_leaves_only_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(_watchdog, "monotonic", clock)
    task = asyncio.current_task()
    assert task is not None
    watch = Watch(task, total=None, read=None, cancelling=0)
    watch.progress()
    assert watch.due(1e12) is None


async def test_the_sweep_cancels_only_attempts_past_their_time() -> None:
    dog = Watchdog(tick=3600.0)  # the test sweeps by hand
    event = asyncio.Event()
    watches = {}

    async def attempt(name: str, total: float) -> str:
        watches[name] = dog.watch(total, None)
        try:
            return await _parked(event)
        finally:
            dog.unwatch(watches[name])

    late = asyncio.create_task(attempt("late", 5.0))
    early = asyncio.create_task(attempt("early", 1.0))
    await asyncio.sleep(0)
    now = time.monotonic()
    assert dog.fire_due(now + 2.0) == 1
    assert await early == "cancelled"
    assert watches["early"].fired == "total"
    assert watches["late"].fired is None
    assert len(dog) == 1
    event.set()
    assert await late == "finished"
    assert len(dog) == 0
    dog.close()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="cancel counting came in 3.11")
async def test_a_cancellation_from_elsewhere_is_never_taken_for_a_timeout() -> None:
    dog = Watchdog(tick=3600.0)
    seen: list[bool] = []

    async def attempt() -> None:
        watch = dog.watch(1.0, None)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen.append(watch.timed_out())
            raise
        finally:
            dog.unwatch(watch)

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0)
    dog.fire_due(time.monotonic() + 2.0)
    task.cancel()  # the caller cancels in the same instant
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [False]
    dog.close()


async def _server(handler: object) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/v1/requests/req-1/status", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def test_a_server_gone_quiet_ends_in_a_read_timeout() -> None:
    release = asyncio.Event()

    async def silent(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response({"request_id": "req-1", "status": "in_queue"})

    runner, port = await _server(silent)
    try:
        async with AsyncRunComfy(api_token=TOKEN, base_url=f"http://127.0.0.1:{port}/v1",
                                 read_timeout=0.2, retry=RetryPolicy.never()) as client:
            with pytest.raises(rc.RequestTimeoutError, match="timed out"):
                await client.status("req-1")
    finally:
        release.set()
        await runner.cleanup()


async def test_an_answer_that_keeps_trickling_ends_at_the_total_timeout() -> None:
    """Each piece arrives within the read timeout, but the whole takes too long."""

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(500):  # 10 s at most; the client gives up long before
            await response.write(b" ")
            await asyncio.sleep(0.02)
        return response

    runner, port = await _server(endless)
    try:
        async with AsyncRunComfy(api_token=TOKEN, base_url=f"http://127.0.0.1:{port}/v1",
                                 read_timeout=5.0, total_timeout=0.3,
                                 retry=RetryPolicy.never()) as client:
            with pytest.raises(rc.RequestTimeoutError):
                await client.status("req-1")
    finally:
        await runner.cleanup()


async def test_requests_schedule_no_loop_timer_of_their_own() -> None:
    """What the throughput relies on: a request costs the loop no timer (aiohttp's total and
    per-read timers are replaced by the sweep, which wakes a few times a second)."""
    loop = asyncio.get_running_loop()
    calls = 0
    original = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(when, callback, *args, **kwargs)

    with ThreadedSandbox(models=[ModelSpec(MODEL, SCHEMA)]) as sb:
        async with AsyncRunComfy(api_token=sb.token, base_url=sb.base_url) as client:
            job = await client.submit(MODEL, {"prompt": "x"})
            await client.status(job.request_id)  # the connection is open and pooled
            loop.call_at = counting  # type: ignore[method-assign]
            try:
                for _ in range(50):
                    await client.status(job.request_id)
            finally:
                loop.call_at = original  # type: ignore[method-assign]
    # The sweep's own wake-ups (one per tick while requests are in flight) may show up.
    assert calls < 10, f"{calls} loop timers for 50 requests"
