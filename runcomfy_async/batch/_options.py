"""Every knob of ``client.map``, validated when it is built."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .._constants import (
    BATCH_CANCEL_TIMEOUT_S,
    DOWNLOAD_ALLOWED_HOST_SUFFIXES,
    MAX_CONCURRENT_REQUESTS,
    MAX_IN_FLIGHT,
    SUBMIT_BURST,
    WAIT_TIMEOUT_S,
)
from ..core._errors import ConfigurationError
from ..policies.adaptive_poll import PollPlanner
from ._events import BatchEvent

__all__ = ["MapOptions"]


def _positive_int(name: str) -> Callable[[Any, Any, int], None]:
    def check(_: Any, __: Any, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")

    return check


def _non_negative_int(name: str) -> Callable[[Any, Any, int], None]:
    def check(_: Any, __: Any, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} must be an integer >= 0, got {value!r}")

    return check


def _seconds_or_none(name: str) -> Callable[[Any, Any, float | None], None]:
    def check(_: Any, __: Any, value: float | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0 < value < float("inf")
        ):
            raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class MapOptions:
    """How ``client.map`` runs a batch.

    Args:
        max_in_flight: the most inputs submitted but not yet handed back to you. This
            bounds memory and what is at stake if the process dies.
        max_concurrent_requests: the most HTTP requests at once, submits and polls together.
        submit_rate: submits per second at most (None: no limit until the server says 429;
            then the rate adapts down, and back up).
        submit_burst: submits that may go out at once before ``submit_rate`` applies.
        poll: how pending jobs are polled (default: :class:`~runcomfy_async.AdaptivePoll`,
            which learns each model's durations).
        job_timeout: seconds from a job's submit to giving up on it (a queued job is then
            cancelled remotely, and its outcome is ``TIMED_OUT``); None for no limit.
        deadline: seconds for the whole batch; when it passes, no more inputs are pulled
            and pending jobs end as for ``job_timeout``.
        ordered: hand outcomes back in input order (completed ones wait, at most
            ``max_in_flight`` of them) rather than as they complete.
        fail_fast: raise :class:`~runcomfy_async.BatchAbortedError` at the first outcome
            that is not a success, after cancelling what is still queued.
        resubmit_failed: how many times to resubmit an input whose job failed (0: never).
        resubmit_unknown: resubmit an input whose submit outcome was unknown. This may pay
            for the same job twice; the default reports it instead.
        validate: check plain-dict inputs against the model's live schema before sending.
        include_cost: ask for each job's cost in its final result.
        journal: a path to a SQLite journal: with one, a batch survives crashes and is
            resumed by running it again with the same inputs and journal.
        resume_unknown: on resume, resubmit inputs whose earlier submit had an unknown
            outcome (may pay twice; the default reports them).
        download_to: a folder to download every output into (with ``manifest.jsonl``).
        download_hosts: host suffixes downloads may come from.
        download_origins: extra exact origins downloads may come from (e.g. a sandbox CDN).
        on_event: called with every :class:`~runcomfy_async.BatchEvent`.
        cancel_timeout: seconds allowed for cancelling queued jobs when the batch stops early.
    """

    max_in_flight: int = attrs.field(
        default=MAX_IN_FLIGHT, validator=_positive_int("max_in_flight")
    )
    max_concurrent_requests: int = attrs.field(
        default=MAX_CONCURRENT_REQUESTS, validator=_positive_int("max_concurrent_requests")
    )
    submit_rate: float | None = attrs.field(default=None, validator=_seconds_or_none("submit_rate"))
    submit_burst: int = attrs.field(default=SUBMIT_BURST, validator=_positive_int("submit_burst"))
    poll: PollPlanner | None = None
    job_timeout: float | None = attrs.field(
        default=WAIT_TIMEOUT_S, validator=_seconds_or_none("job_timeout")
    )
    deadline: float | None = attrs.field(default=None, validator=_seconds_or_none("deadline"))
    ordered: bool = False
    fail_fast: bool = False
    resubmit_failed: int = attrs.field(default=0, validator=_non_negative_int("resubmit_failed"))
    resubmit_unknown: bool = False
    validate: bool = False
    include_cost: bool = False
    journal: str | os.PathLike[str] | None = None
    resume_unknown: bool = False
    download_to: str | os.PathLike[str] | None = None
    download_hosts: Sequence[str] = DOWNLOAD_ALLOWED_HOST_SUFFIXES
    download_origins: Sequence[str] = ()
    on_event: Callable[[BatchEvent], Any] | None = None
    cancel_timeout: float = attrs.field(
        default=BATCH_CANCEL_TIMEOUT_S, validator=_seconds_or_none("cancel_timeout")
    )
