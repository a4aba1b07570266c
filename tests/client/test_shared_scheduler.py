"""Every wait and run of a client shares one poll scheduler: one heap, one timer, one budget.

Against the sandbox over real loopback HTTP. Timing is asserted only on injected clocks:
`QuietClock` lets time pass only when every wait of the client is queued on the heap (none
is in the middle of a request), so concurrent waits run as an exact simulation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, PollSchedule
from runcomfy_async._constants import WAIT_LAST_LOOK_S
from runcomfy_async.client._pacing import Learner
from runcomfy_async.client._poll_scheduler import PollScheduler
from runcomfy_async.sandbox import EndpointFaults, FaultPlan, ModelSpec, ThreadedSandbox

SCHEMA = {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}
TIMED = "test/timed"  # about 1.5 s per job, in real time
STUCK = "test/stuck"  # jobs that outlast every test
N = 200


def prompts(n: int, prefix: str = "p") -> list[dict[str, str]]:
    return [{"prompt": f"{prefix} {i}"} for i in range(n)]


def sandbox(**settings: Any) -> ThreadedSandbox:
    models = [ModelSpec(TIMED, SCHEMA, median_s=1.5, sigma=0.3), ModelSpec(STUCK, SCHEMA,
                                                                           median_s=3600.0)]
    return ThreadedSandbox(models=models, seed=3, **settings)


def client_of(sb: ThreadedSandbox, **kwargs: Any) -> AsyncRunComfy:
    return AsyncRunComfy(api_token=sb.token, base_url=sb.base_url, **kwargs)


def scheduler_of(client: AsyncRunComfy) -> PollScheduler:
    scheduler: PollScheduler = client._waiter.scheduler
    return scheduler


async def until(condition: Any, seconds: float = 30.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def two_sandboxes() -> Iterator[tuple[ThreadedSandbox, ThreadedSandbox]]:
    with sandbox(workers=N) as a, sandbox(workers=N) as b:
        yield a, b


# --- Fewer requests, the same results --------------------------------------------------------


async def per_call_loop(client: AsyncRunComfy, payload: dict[str, str]) -> rc.JobResult:
    """What every run() did before: its own loop, polling at once, then on the schedule."""
    schedule = PollSchedule()
    job = await client.submit(TIMED, payload)
    polls = 0
    while True:
        result = await client.result(job.request_id)
        if result.state.is_terminal:
            return result
        await asyncio.sleep(schedule.delay(polls))
        polls += 1


async def test_concurrent_runs_poll_less_than_per_call_loops_and_get_the_same_results(
    two_sandboxes: tuple[ThreadedSandbox, ThreadedSandbox],
) -> None:
    loops_sb, shared_sb = two_sandboxes
    results: dict[str, list[rc.JobResult]] = {"loops": [], "shared": []}
    # Side by side, on two sandboxes that draw the same run times.
    async with (
        client_of(loops_sb) as loops,
        client_of(shared_sb) as shared,
        anyio.create_task_group() as tg,
    ):

        async def one(name: str, payload: dict[str, str]) -> None:
            if name == "loops":
                results[name].append(await per_call_loop(loops, payload))
            else:
                results[name].append(await shared.run(TIMED, payload, timeout=120))

        for payload in prompts(N):
            tg.start_soon(one, "loops", payload)
            tg.start_soon(one, "shared", payload)
        await until(lambda: scheduler_of(shared).active > 0)
        assert scheduler_of(shared).running
    per_job = {
        name: sb.stats.requests_by_endpoint.get("result", 0) / N
        for name, sb in (("loops", loops_sb), ("shared", shared_sb))
    }
    for name, sb in (("loops", loops_sb), ("shared", shared_sb)):
        stats = sb.stats
        assert stats.jobs_created == N
        assert stats.requests_by_endpoint.get("status", 0) == 0
        got = results[name]
        assert len(got) == N
        assert all(r.ok and r.outputs for r in got)
        assert {r.request_id for r in got} == {j.request_id for j in stats.jobs}
    # The shared scheduler skips the poll at once after each submit (a job just accepted
    # is never over), then follows the same schedule until the model's durations are known:
    # about one poll a job fewer on an idle machine. How many polls each side makes also
    # depends on how late the loop runs its timers (400 callers and two sandboxes share it:
    # on a slow machine under coverage, the loops' polls slipped to 2.05 a job and the
    # shared one's to 1.70), so the test asks for fewer, not for a margin in real time.
    assert per_job["shared"] < per_job["loops"], per_job
    learner = shared._waiter.learner
    assert learner is not None
    assert learner.held(TIMED) == 0  # every duration was fed to the planner
    assert not scheduler_of(shared).running


# --- Leaving the heap ----------------------------------------------------------------------------


async def test_cancelled_runs_leave_the_heap_and_cancel_their_queued_jobs() -> None:
    with sandbox(workers=1, time_scale=1.0) as sb:
        async with client_of(sb) as client:
            scheduler = scheduler_of(client)
            tasks = [asyncio.ensure_future(client.run(STUCK, p)) for p in prompts(N)]
            await until(lambda: scheduler.active == N and scheduler.queued == N)
            assert sb.stats.jobs_created == N
            for task in tasks[N // 2:]:
                task.cancel()
            await asyncio.wait(tasks[N // 2:])
            assert all(t.cancelled() for t in tasks[N // 2:])
            assert scheduler.active == N // 2
            assert scheduler.queued <= N // 2
            assert scheduler.heap_size <= 2 * scheduler.queued + 1
            # All but the one job that runs were still queued: run() owns them, so its
            # cancellation cancelled them (shielded) rather than leave them to be billed.
            assert sb.stats.cancellations >= N // 2 - 1  # one job of theirs may be running
            assert all(not t.done() for t in tasks[: N // 2])
            for task in tasks[: N // 2]:
                task.cancel()
            await asyncio.wait(tasks)
            assert (scheduler.active, scheduler.queued, scheduler.heap_size) == (0, 0, 0)
            await until(lambda: not scheduler.running)
            assert sb.stats.cancellations == N - 1


async def test_ten_thousand_cancelled_waits_leave_nothing_behind() -> None:
    scheduler = PollScheduler(clock=anyio.current_time, sleep=anyio.sleep, budget=4)

    async def wait_far() -> None:
        loop = scheduler.join()
        try:
            await scheduler.until(anyio.current_time() + 3600)
        finally:
            scheduler.leave(loop)

    tasks = [asyncio.ensure_future(wait_far()) for _ in range(10_000)]
    await until(lambda: scheduler.queued == 10_000)
    assert scheduler.running
    for task in tasks[::2]:
        task.cancel()
    await asyncio.wait(tasks[::2])
    assert scheduler.active == scheduler.queued == 5_000
    assert scheduler.heap_size <= 2 * 5_000
    for task in tasks[1::2]:
        task.cancel()
    await asyncio.wait(tasks)
    assert (scheduler.active, scheduler.queued, scheduler.heap_size) == (0, 0, 0)
    await until(lambda: not scheduler.running)


# --- Deadlines on an injected clock ------------------------------------------------------


class QuietClock:
    """Fake time that passes only when the scheduler sleeps and every wait of the client is
    queued: no request is ever in flight while time jumps, so each wait sees its own
    timeline exactly. A sleep cut short (an earlier poll arrived) takes no time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.scheduler: PollScheduler | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        scheduler = self.scheduler
        assert scheduler is not None
        task = asyncio.current_task()
        if task is None or task.get_name() != "runcomfy-poll-scheduler":
            self.now += seconds  # not the scheduler's timer: as a plain fake clock
            await asyncio.sleep(0)
            return
        while scheduler.queued < scheduler.active:
            await asyncio.sleep(0.001)
        self.now += seconds


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "flaky-polls"])
async def test_concurrent_timeouts_end_at_their_deadlines(faults: bool) -> None:
    plan = FaultPlan(result=EndpointFaults(server_error=0.3, rate_limit=0.1),
                     retry_after_s=2.0) if faults else FaultPlan()
    clock = QuietClock()
    timeouts = [5.0, 12.5, 30.0, 61.0] * 10
    with sandbox(workers=1, faults=plan) as sb:
        async with client_of(sb, clock=clock, sleep=clock.sleep) as client:
            clock.scheduler = scheduler_of(client)
            ended: list[tuple[float, float, rc.WaitTimeoutError]] = []
            jobs = [await client.submit(STUCK, p) for p in prompts(len(timeouts))]

            async def wait(request_id: str, timeout: float) -> None:
                start = clock()
                with pytest.raises(rc.WaitTimeoutError) as info:
                    await client.wait(request_id, timeout=timeout, cancel_on_exit=True)
                ended.append((clock() - start, timeout, info.value))

            async with anyio.create_task_group() as tg:
                for job, timeout in zip(jobs, timeouts, strict=True):
                    tg.start_soon(wait, job.request_id, timeout)
    assert len(ended) == len(timeouts)
    for took, timeout, error in ended:
        # The last look is taken at the deadline (no time passes during requests here), or
        # within WAIT_LAST_LOOK_S of it when a 429 cool-down is on at the deadline.
        if faults:
            assert timeout - 1e-9 <= took <= timeout + WAIT_LAST_LOOK_S, (took, timeout)
        else:
            assert took == pytest.approx(timeout), (took, timeout)
        assert error.timeout == timeout
    # Every job but the one running was still queued, and each wait cancelled its own.
    assert sum(e.cancelled_remotely is True for _, _, e in ended) >= len(timeouts) - 1


async def test_without_a_deadline_failing_polls_end_when_the_retry_policy_gives_up() -> None:
    # Each poll is one request; its retries come from the heap, as the transport's would:
    # same policy, same hook, and the policy's last word is raised.
    clock = QuietClock()
    retries: list[rc.RetryEvent] = []
    with sandbox(workers=1, faults=FaultPlan(result=EndpointFaults(server_error=1.0))) as sb:
        def on_event(event: object) -> None:
            if isinstance(event, rc.RetryEvent):
                retries.append(event)

        async with client_of(sb, clock=clock, sleep=clock.sleep, on_event=on_event,
                             retry=rc.RetryPolicy(max_attempts=3)) as client:
            clock.scheduler = scheduler_of(client)
            job = await client.submit(STUCK, {"prompt": "never seen"})
            with pytest.raises(rc.ServerError):
                await client.wait(job.request_id, timeout=None)
            assert sb.stats.requests_by_endpoint["result"] == 3
    assert [event.attempt for event in retries] == [1, 2]
    assert all(event.request_id == job.request_id for event in retries)


# --- Lifetime --------------------------------------------------------------------------------


async def test_aclose_stops_the_scheduler_and_fails_waits_in_progress() -> None:
    with sandbox(workers=4) as sb:
        client = client_of(sb)
        scheduler = scheduler_of(client)
        task = asyncio.ensure_future(client.run(STUCK, {"prompt": "forever"}))
        await until(lambda: scheduler.queued == 1 and scheduler.running)
        await client.aclose()
        assert not scheduler.running
        with pytest.raises(rc.RunComfyError, match="closed"):
            await task
        with pytest.raises(rc.RunComfyError, match="closed"):
            await client.wait("3f1c9a2e-0000-4000-8000-000000000001")


async def test_two_clients_have_two_schedulers() -> None:
    with sandbox(workers=8) as sb:
        async with client_of(sb) as a, client_of(sb) as b:
            assert scheduler_of(a) is not scheduler_of(b)
            tasks = [asyncio.ensure_future(a.run(STUCK, p)) for p in prompts(3, "a")]
            tasks += [asyncio.ensure_future(b.run(STUCK, p)) for p in prompts(2, "b")]
            await until(lambda: scheduler_of(a).queued == 3 and scheduler_of(b).queued == 2)
            assert scheduler_of(a).running
            assert scheduler_of(b).running
            assert (scheduler_of(a).active, scheduler_of(b).active) == (3, 2)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            await until(lambda: not scheduler_of(a).running and not scheduler_of(b).running)


def test_a_scheduler_starts_afresh_on_a_new_event_loop() -> None:
    scheduler = PollScheduler(clock=anyio.current_time, sleep=anyio.sleep, budget=2)

    async def two_turns() -> float:
        loop = scheduler.join()
        try:
            start = anyio.current_time()
            await scheduler.until(start + 0.01)
            await scheduler.until(start + 0.02)
            return anyio.current_time() - start
        finally:
            scheduler.leave(loop)

    assert asyncio.run(two_turns()) >= 0.02
    assert asyncio.run(two_turns()) >= 0.02  # the first loop's driver is gone with it
    assert scheduler.active == 0


# --- Learning in submission order --------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def next_poll_at(self, model_id: str, age: float, polls: int) -> float:
        return age + 1.0

    def observe(self, model_id: str, duration: float) -> None:
        self.seen.append((model_id, duration))


def test_durations_are_learned_in_submission_order_not_finishing_order() -> None:
    recorder = Recorder()
    learner = Learner(recorder, max_held=3)
    first, second, third = (learner.enter("m") for _ in range(3))
    other = learner.enter("other")
    third.duration = 3.0
    learner.settle("m", third)
    second.duration = 2.0
    learner.settle("m", second)
    other.duration = 9.0
    learner.settle("other", other)  # another model's line is its own
    assert recorder.seen == [("other", 9.0)]
    first.duration = 10.0  # the longest, finished last: it held the others back
    learner.settle("m", first)
    assert recorder.seen == [("other", 9.0), ("m", 10.0), ("m", 2.0), ("m", 3.0)]
    assert learner.held("m") == 0

    # A wait that leaves without a duration gives up its place; one that never ends holds
    # back at most max_held others.
    gone, stuck, *later = (learner.enter("m") for _ in range(6))
    learner.settle("m", gone)
    for n, place in enumerate(later):
        place.duration = float(n)
        learner.settle("m", place)
    assert learner.held("m") == 0
    assert [d for m, d in recorder.seen[4:]] == [0.0, 1.0, 2.0, 3.0]
    stuck.duration = 99.0
    learner.settle("m", stuck)  # too late: its place was given up
    assert len(recorder.seen) == 8
