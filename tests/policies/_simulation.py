"""A batch polled by a planner, in simulated time: what its decisions cost and how late they are.

No event loop and no network: each job's run time is given, a poll takes ``rtt`` seconds
(its answer reflects the job as it was when the poll was sent), a finished job frees its slot
at once and the next job is submitted (accepted one ``rtt`` later, at most one acceptance per
``submit_interval``). The planner's clock is the simulation's, so refit throttles and
cold-start rules behave as they would in a real batch of that speed, and the figures are
exactly the same on every machine.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics

import attrs

from runcomfy_async.policies.adaptive_poll import PollPlanner

MODEL = "m/x"


class SimClock:
    """The simulation's monotonic clock, handed to the planner as ``clock``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@attrs.frozen
class Run:
    """What one simulated batch cost."""

    polls_per_job: float
    mean_lag: float  # finish on the server to the answer that says so, seconds
    first_lags: tuple[float, ...]  # the lags of the first jobs to finish, in order
    makespan: float
    polls_before_first_finish: int  # polls answered before any job was seen finished


def lognormal(n: int, median: float, sigma: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [median * math.exp(rng.gauss(0.0, sigma)) for _ in range(n)]


def simulate(
    planner: PollPlanner,
    clock: SimClock,
    durations: list[float],
    *,
    slots: int,
    rtt: float,
    submit_interval: float = 0.0,
    first: int = 8,
) -> Run:
    """Run ``durations`` (in submission order) through ``planner``; see the module's text."""
    # (time, sequence, job, is_poll): polls answered, and submits accepted, in the order in
    # which the planner hears of them.
    events: list[tuple[float, int, int, bool]] = []
    seq = 0
    started: dict[int, float] = {}  # job -> accepted at
    polls = [0] * len(durations)
    lags: list[float] = []
    blind = 0
    next_job = 0
    last_accept = -math.inf

    def push(at: float, job: int, is_poll: bool) -> None:
        nonlocal seq
        heapq.heappush(events, (at, seq, job, is_poll))
        seq += 1

    def submit(at: float) -> None:
        nonlocal next_job, last_accept
        if next_job < len(durations):
            last_accept = max(at + rtt, last_accept + submit_interval)
            push(last_accept, next_job, False)
            next_job += 1

    for _ in range(slots):
        submit(0.0)
    while events:
        at, _, job, is_poll = heapq.heappop(events)
        if not is_poll:
            clock.now = started[job] = at
            push(at + max(0.0, planner.next_poll_at(MODEL, 0.0, 0)) + rtt, job, True)
            continue
        clock.now = answered = at
        polls[job] += 1
        blind += not lags
        finished = started[job] + durations[job]
        if finished <= answered - rtt:  # the answer says how the job was when the poll left
            lags.append(answered - finished)
            planner.observe(MODEL, durations[job])
            submit(answered)
            continue
        age = answered - started[job]
        due = started[job] + max(age, planner.next_poll_at(MODEL, age, polls[job]))
        push(due + rtt, job, True)
    return Run(
        polls_per_job=sum(polls) / len(durations),
        mean_lag=statistics.fmean(lags),
        first_lags=tuple(lags[:first]),
        makespan=clock.now,
        polls_before_first_finish=blind,
    )
