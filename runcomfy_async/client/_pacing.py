"""When one wait polls next: on a :class:`PollSchedule`, or where its model's jobs finish.

A wait given a schedule (its own ``poll=``, or the client's) polls at once, then after
``schedule.delay(0)``, ``delay(1)``...: what ``wait`` always did. A ``run`` on a client
built without ``poll=`` knows its model and the moment its job was accepted, so it asks the
client's :class:`~runcomfy_async.AdaptivePoll` instead, the planner batches use, fed with
the durations of this client's earlier jobs of the same model.

Those durations are fed in the order the jobs were submitted, not in the order they finish.
When many jobs start together (500 concurrent ``run`` calls), the first to finish are the
shortest: a planner fitted on them believes jobs end about now, whatever now is, and polls
densely for ever. In submission order the durations are a fair sample, however the jobs
overlap. A job that leaves without a duration (cancelled, timed out) gives up its place.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .._constants import WAIT_LEARN_MAX_HELD
from ..core._wire import JobResult, JobState
from ..policies import PollSchedule
from ..policies.adaptive_poll import PollPlanner

__all__ = ["Learner", "Pacing"]


class _Place:
    """One job's place in its model's submission order."""

    __slots__ = ("duration", "given_up", "settled")

    def __init__(self) -> None:
        self.duration: float | None = None
        self.settled = False
        self.given_up = False


class _Line:
    """A model's places in submission order, and how many settled ones wait behind."""

    __slots__ = ("held", "places")

    def __init__(self) -> None:
        self.places: deque[_Place] = deque()
        self.held = 0


class Pacing:
    """One wait's poll times: ``first`` once, then ``next`` after every answer.

    Args:
        clock: the client's clock.
        schedule: the schedule to follow; None to ask ``learner`` (then give ``model_id``
            and ``submitted``).
        rand: the jitter's source of randomness.
        learner: the client's learner.
        model_id: the job's model.
        submitted: when the job was accepted, on ``clock``.
    """

    __slots__ = ("_clock", "_learner", "_model_id", "_place", "_rand", "_schedule",
                 "_submitted", "polls")

    def __init__(
        self,
        clock: Callable[[], float],
        schedule: PollSchedule | None,
        rand: Callable[[], float],
        *,
        learner: Learner | None = None,
        model_id: str | None = None,
        submitted: float = 0.0,
    ) -> None:
        self._clock = clock
        self._schedule = schedule
        self._rand = rand
        self._learner = learner
        self._model_id = model_id or ""
        self._submitted = submitted
        self._place = learner.enter(self._model_id) if learner is not None else None
        self.polls = 0

    def first(self) -> float:
        """When to poll first: at once on a schedule, where the planner says otherwise."""
        if self._learner is None:
            return self._clock()
        return self._submitted + self._learner.planner.next_poll_at(self._model_id, 0.0, 0)

    def next(self) -> float:
        """When to poll after an answer that did not end the job (counted here)."""
        now = self._clock()
        self.polls += 1
        if self._learner is None:
            assert self._schedule is not None
            return now + self._schedule.delay(self.polls - 1, self._rand)
        age = now - self._submitted
        return max(now, self._submitted + self._learner.planner.next_poll_at(
            self._model_id, age, self.polls
        ))

    def over(self, result: JobResult | None) -> None:
        """The wait ends, with the job's final result or without one (cancelled, expired)."""
        place, self._place = self._place, None
        if place is None or self._learner is None:
            return
        if result is not None and result.state in (JobState.SUCCEEDED, JobState.FAILED):
            if result.created_at is not None and result.finished_at is not None:
                place.duration = (result.finished_at - result.created_at).total_seconds()
            else:
                place.duration = self._clock() - self._submitted
        self._learner.settle(self._model_id, place)


class Learner:
    """The client's planner, and the submission order its durations are fed in.

    Args:
        planner: learns each model's durations and places polls.
        max_held: how many finished jobs one unfinished earlier job may hold back; past
            that, its place is given up (a wait without a deadline may last for ever).
    """

    def __init__(self, planner: PollPlanner, *, max_held: int = WAIT_LEARN_MAX_HELD) -> None:
        self.planner = planner
        self._max_held = max_held
        self._lines: dict[str, _Line] = {}

    def enter(self, model_id: str) -> _Place:
        """A job of ``model_id`` was accepted: its place, after every earlier one."""
        place = _Place()
        line = self._lines.get(model_id)
        if line is None:
            line = self._lines[model_id] = _Line()
        line.places.append(place)
        return place

    def settle(self, model_id: str, place: _Place) -> None:
        """A job's wait is over; feed what is now in order to the planner."""
        line = self._lines.get(model_id)
        if line is None or place.given_up or place.settled:
            return
        place.settled = True
        line.held += 1
        places = line.places
        while places and (places[0].settled or line.held > self._max_held):
            first = places.popleft()
            if not first.settled:
                first.given_up = True  # it held back too many: it is not waited for
                continue
            line.held -= 1
            if first.duration is not None:
                self.planner.observe(model_id, first.duration)
        if not places:
            del self._lines[model_id]

    def held(self, model_id: str) -> int:
        """Places still in ``model_id``'s line (for tests)."""
        line = self._lines.get(model_id)
        return len(line.places) if line is not None else 0
