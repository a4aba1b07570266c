"""Jobs and the FIFO queue with N workers that runs them.

No asyncio task per job: a waiting job is an entry in a deque, a running job is one
``loop.call_later`` timer, so 10,000 queued jobs cost memory and nothing else. Queue positions
come from `QueuePositions` in O(log n). A job's fate (run time, success, request id) is drawn
at submission from a random stream derived from (seed, submission number), so a run with the
same seed and the same submissions behaves the same.

Request ids are the exception when no seed was asked for: the drawn bits are mixed with a
salt chosen at random for each sandbox, so that two sandboxes never hand out the same id (a
client's journal or a test would otherwise mistake one sandbox's job for another's). The
draws themselves do not change, so run times and failures stay those of the default seed.
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from ._catalog import RegisteredModel
from ._images import ImageInput
from ._models import ModelSpec
from ._positions import QueuePositions
from ._stats import JobOutcome, JobRecord

ERROR_SHAPES: Final = 3
RENDER_SEED_BITS: Final = 31
FAILURE_MESSAGE: Final = "the model failed to generate an output (simulated by the sandbox)"


@attrs.frozen
class JobFate:
    """What the draws for one submission decided.

    Args:
        request_id: UUID-shaped id.
        duration_s: run time in model time (before the time scale).
        error: the error a failing job ends with (a string, an object or a list, by draw);
            None when the job succeeds.
        render_seed: colours come from it when the input has no palette and no seed.
    """

    request_id: str
    duration_s: float
    error: Any
    render_seed: int


def draw_fate(
    seed: int, index: int, spec: ModelSpec, *, id_salt: int = 0, failure_rate: float = 0.0
) -> JobFate:
    """The fate of the `index`-th submission to a sandbox seeded with `seed`.

    The same number of values is drawn whatever the model, so one job's model never shifts
    another job's draws.

    Args:
        seed, index: what the draws derive from.
        spec: the model (run time, own failure rate).
        id_salt: 128 bits mixed into the request id (0: the seeded id as drawn).
        failure_rate: a failure rate for every model, on top of the model's own: a job fails
            with probability ``1 - (1 - spec.failure_rate) * (1 - failure_rate)``.
    """
    rng = random.Random(f"runcomfy-sandbox-job:{seed}:{index}")
    request_id = str(uuid.UUID(int=rng.getrandbits(128) ^ id_salt, version=4))
    normal = rng.gauss(0.0, 1.0)
    fails = rng.random() < 1.0 - (1.0 - spec.failure_rate) * (1.0 - failure_rate)
    shape = rng.randrange(ERROR_SHAPES)
    render_seed = rng.getrandbits(RENDER_SEED_BITS)
    duration_s = spec.median_s * math.exp(spec.sigma * normal) if spec.median_s > 0 else 0.0
    return JobFate(
        request_id=request_id,
        duration_s=duration_s,
        error=_error(shape, request_id) if fails else None,
        render_seed=render_seed,
    )


def _error(shape: int, request_id: str) -> Any:
    """A failed job's error in one of the three shapes seen in the wild."""
    if shape == 0:
        return FAILURE_MESSAGE
    if shape == 1:
        return {"error_code": 500001, "error_message": FAILURE_MESSAGE}
    return [
        {
            "errorCode": "MODEL_EXECUTION_FAILED",
            "error": FAILURE_MESSAGE,
            "debugInfo": {"request_id": request_id, "node": "sandbox"},
        }
    ]


@attrs.define(slots=True, eq=False)
class Job:
    """One job the sandbox knows about.

    Args:
        owner: the token that submitted it; other tokens get 403.
        model: the model it runs on.
        inputs: its input object, as submitted.
        images: the decoded image inputs by field name.
        fate: what the draws decided.
        scaled_s: its run time in real seconds (model time times the time scale).
        record: its stats record; ``record.outcome`` is the job's state.
        slot: its queue slot while it waits.
        expires_at: sandbox-clock time after which it is forgotten.
    """

    owner: str
    model: RegisteredModel
    inputs: Mapping[str, Any]
    images: Mapping[str, ImageInput]
    fate: JobFate
    scaled_s: float
    record: JobRecord
    slot: int = -1
    expires_at: float = math.inf
    timer: asyncio.TimerHandle | None = None

    @property
    def request_id(self) -> str:
        """The id the client was given."""
        return self.fate.request_id

    @property
    def state(self) -> JobOutcome:
        """in_queue, in_progress, succeeded, failed or cancelled."""
        return self.record.outcome


class JobQueue:
    """Jobs by id, a FIFO of waiting ones, and N workers running them on loop timers.

    Args:
        workers: how many jobs run at once.
        retention_s: how long a finished job is kept (sandbox-clock seconds).
        loop: the loop whose timers run the jobs.
        epoch: the loop time the sandbox clock counts from.
        on_end: called with each job as it ends (succeeded, failed or cancelled).
    """

    def __init__(
        self,
        *,
        workers: int,
        retention_s: float,
        loop: asyncio.AbstractEventLoop,
        epoch: float,
        on_end: Callable[[Job], None] | None = None,
    ) -> None:
        self._workers = workers
        self._retention_s = retention_s
        self._loop = loop
        self._epoch = epoch
        self._jobs: dict[str, Job] = {}
        self._waiting: deque[Job] = deque()
        self._waiting_count = 0
        self._positions = QueuePositions()
        self._busy = 0
        self._finished: deque[Job] = deque()
        self._on_end = on_end

    def now(self) -> float:
        """The sandbox clock: monotonic seconds since the sandbox started."""
        return self._loop.time() - self._epoch

    def add(self, job: Job) -> None:
        """Queue a new job; it starts at once if a worker is free."""
        self._expire()
        self._jobs[job.request_id] = job
        job.slot = self._positions.append()
        self._waiting.append(job)
        self._waiting_count += 1
        self._dispatch()

    def get(self, request_id: str) -> Job | None:
        """The job with this id, or None if unknown or expired."""
        self._expire()
        return self._jobs.get(request_id)

    def position(self, job: Job) -> int:
        """How many waiting jobs are ahead of a waiting `job` (0: it is next)."""
        return self._positions.waiting_before(job.slot)

    def cancel(self, job: Job) -> bool:
        """Cancel `job` if it still waits; say whether it did."""
        if job.state != "in_queue":
            return False
        self._leave_queue(job)
        self._end(job, "cancelled")
        return True

    def close(self) -> None:
        """Stop every running job's timer (the sandbox is going away)."""
        for job in self._jobs.values():
            if job.timer is not None:
                job.timer.cancel()
                job.timer = None

    def _leave_queue(self, job: Job) -> None:
        self._positions.remove(job.slot)
        self._waiting_count -= 1
        if self._waiting_count == 0:
            # Nobody waits: only cancelled jobs remain in the deque. Start afresh so that the
            # position tree does not grow for ever in a long run.
            self._waiting.clear()
            self._positions.clear()

    def _dispatch(self) -> None:
        # A loop, not recursion: a run of zero-time jobs finishes here one after another.
        while self._busy < self._workers and self._waiting_count:
            job = self._waiting.popleft()
            if job.state != "in_queue":
                continue
            self._leave_queue(job)
            job.record.started_s = self.now()
            job.record.outcome = "in_progress"
            if job.scaled_s <= 0:
                self._end(job, "failed" if job.fate.error is not None else "succeeded")
            else:
                self._busy += 1
                job.timer = self._loop.call_later(job.scaled_s, self._on_timer, job)

    def _on_timer(self, job: Job) -> None:
        job.timer = None
        self._busy -= 1
        self._end(job, "failed" if job.fate.error is not None else "succeeded")
        self._dispatch()

    def _end(self, job: Job, outcome: JobOutcome) -> None:
        now = self.now()
        job.record.outcome = outcome
        job.record.finished_s = now
        job.expires_at = now + self._retention_s
        # The retention is the same for every job, so expiry order is finishing order.
        self._finished.append(job)
        if self._on_end is not None:
            self._on_end(job)

    def _expire(self) -> None:
        finished = self._finished
        if not finished:
            return
        now = self.now()
        while finished and finished[0].expires_at <= now:
            del self._jobs[finished.popleft().request_id]
