"""Every knob of ``client.map``, grouped by what it governs, validated when it is built.

``client.map(...)`` takes the knobs as flat keyword arguments, typed once in
:class:`MapKnobs` (so that an editor completes them); :class:`MapOptions` is the same set as
one value to keep and reuse, made of small groups: :class:`Limits`, :class:`Deadlines`,
:class:`Resubmit`, :class:`Budget` and :class:`Downloads`. The defaults are the groups' own:
:meth:`MapOptions.build` sets only the fields it is given.
"""

from __future__ import annotations

import inspect
import os
import ssl as ssl_
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs
from aiohttp.abc import AbstractResolver
from typing_extensions import TypedDict, Unpack

from .._constants import (
    BATCH_CANCEL_TIMEOUT_S,
    DOWNLOAD_ALLOWED_HOST_SUFFIXES,
    MAX_CONCURRENT_REQUESTS,
    MAX_IN_FLIGHT,
    SUBMIT_BURST,
    WAIT_TIMEOUT_S,
)
from ..core._validate import non_negative_int, positive_int, seconds_or_none, usd_or_none
from ._events import BatchEvent

if TYPE_CHECKING:
    from ..policies.adaptive_poll import PollPlanner

__all__ = [
    "Budget",
    "Deadlines",
    "Downloads",
    "Limits",
    "MapKnobs",
    "MapOptions",
    "Resubmit",
    "knob_default",
    "spells_out_knobs",
]


@attrs.frozen(kw_only=True)
class Limits:
    """How much a batch does at once.

    Args:
        max_in_flight: the most inputs submitted but not yet handed back to you. This bounds
            memory and what is at stake if the process dies.
        max_concurrent_requests: the most HTTP requests at once, submits and polls together.
        submit_rate: submits per second at most (None: no limit until the service says 429;
            then the rate adapts down, and back up).
        submit_burst: submits that may go out at once before ``submit_rate`` applies.
    """

    max_in_flight: int = attrs.field(default=MAX_IN_FLIGHT, validator=positive_int)
    max_concurrent_requests: int = attrs.field(
        default=MAX_CONCURRENT_REQUESTS, validator=positive_int
    )
    submit_rate: float | None = attrs.field(default=None, validator=seconds_or_none)
    submit_burst: int = attrs.field(default=SUBMIT_BURST, validator=positive_int)


@attrs.frozen(kw_only=True)
class Deadlines:
    """When a batch, or one of its jobs, stops waiting.

    Args:
        job_timeout: seconds from a job's submit (queue time included) to giving up on it:
            a queued job is then cancelled (``withdrawn``), a running one is ``timed_out``
            (a resumed batch collects it). None for no limit.
        batch: seconds for the whole batch; when they pass, no more inputs are pulled and
            pending jobs end as for ``job_timeout``.
        cancel: seconds allowed for cancelling queued jobs when the batch stops early.
    """

    job_timeout: float | None = attrs.field(default=WAIT_TIMEOUT_S, validator=seconds_or_none)
    batch: float | None = attrs.field(default=None, validator=seconds_or_none)
    cancel: float = attrs.field(default=BATCH_CANCEL_TIMEOUT_S, validator=seconds_or_none)


@attrs.frozen(kw_only=True)
class Resubmit:
    """When an input is submitted again. Each may pay for the same input more than once.

    Args:
        failed: how many times to resubmit an input whose job failed (0: never).
        unknown: resubmit an input whose submit outcome is unknown (a paid job may exist),
            in this run and when the batch is resumed. The default reports it instead.
    """

    failed: int = attrs.field(default=0, validator=non_negative_int)
    unknown: bool = False


@attrs.frozen(kw_only=True)
class Budget:
    """What a batch may spend, and whether it keeps an estimate of what it will.

    Args:
        max_spend: a cap in USD on what the batch's jobs cost, or None for none. Before each
            submit, what was spent plus the estimates of the jobs in flight plus this job's
            estimate must stay within it; the first input that would pass it stops the batch
            from submitting (jobs in flight finish and are collected; the rest end
            ``over_budget``, and a resumed batch with a larger cap sends only those). It is
            as exact as the catalog's prices and the service's reported costs.
        assume_run_s: the run time in seconds to assume for a model billed per second
            (needed for a cap on such a model: its cost is known only once a job ran).
        track: keep the running estimate (``progress.in_flight_usd``) without a cap; it
            costs one catalog request per model. Always on with ``max_spend``.
    """

    max_spend: float | None = attrs.field(default=None, validator=usd_or_none)
    assume_run_s: float | None = attrs.field(default=None, validator=seconds_or_none)
    track: bool = False

    @property
    def estimating(self) -> bool:
        return self.track or self.max_spend is not None


@attrs.frozen(kw_only=True)
class Downloads:
    """Where and from where a batch downloads its outputs.

    Args:
        folder: the folder every output is downloaded into (with ``manifest.jsonl``).
        hosts: host suffixes downloads may come from.
        origins: extra exact origins downloads may come from (e.g. a sandbox CDN).
        resolver: how download host names are resolved (a sandbox's ``sb.resolver()`` maps
            its RunComfy-like CDN name to loopback).
        ssl: the TLS context for downloads (a sandbox's ``sb.cdn_ssl_context()``); the
            system's trust store when None.
    """

    folder: str | os.PathLike[str]
    hosts: Sequence[str] = DOWNLOAD_ALLOWED_HOST_SUFFIXES
    origins: Sequence[str] = ()
    resolver: AbstractResolver | None = None
    ssl: ssl_.SSLContext | None = None


@attrs.frozen(kw_only=True)
class MapOptions:
    """How ``client.map`` runs a batch.

    Args:
        limits: how much runs at once.
        deadlines: per-job and whole-batch time limits.
        resubmit: when an input may be paid for again.
        budget: a cap on what the batch spends, and its running estimate.
        journal: a path to a SQLite journal: with one, a batch survives crashes and is
            resumed by running it again with the same inputs and journal.
        downloads: where to download outputs, if anywhere.
        poll: how pending jobs are polled (default: :class:`~runcomfy_async.AdaptivePoll`,
            which learns each model's durations).
        ordered: hand outcomes back in input order (completed ones wait, at most
            ``max_in_flight`` of them) rather than as they complete.
        fail_fast: raise :class:`~runcomfy_async.BatchAbortedError` at the first outcome
            that is not a success, after cancelling what is still queued.
        validate: check plain-dict inputs against the model's live schema before sending.
        include_cost: ask for each job's cost in its final result (on by default: it costs
            nothing, and it is what ``outcome.cost_usd`` and ``progress.spent_usd`` report).
        on_event: called with every :class:`~runcomfy_async.BatchEvent`.
    """

    limits: Limits = Limits()
    deadlines: Deadlines = Deadlines()
    resubmit: Resubmit = Resubmit()
    budget: Budget = Budget()
    journal: str | os.PathLike[str] | None = None
    downloads: Downloads | None = None
    poll: PollPlanner | None = None
    ordered: bool = False
    fail_fast: bool = False
    validate: bool = False
    include_cost: bool = True
    on_event: Callable[[BatchEvent], Any] | None = None

    @classmethod
    def build(cls, **knobs: Unpack[MapKnobs]) -> MapOptions:
        """The options from the flat keywords ``client.map`` takes (:class:`MapKnobs`); a
        keyword not given keeps the default of the field it sets.

        Raises:
            TypeError: a keyword that is not one of :class:`MapKnobs`.
            ConfigurationError: a value out of range (from the group that holds it).
        """
        fields: dict[str | None, dict[str, Any]] = {}
        for knob, value in knobs.items():
            place = _KNOB_FIELDS.get(knob)
            if place is None:
                raise TypeError(f"unexpected keyword argument {knob!r}: not one of MapKnobs")
            group, field = place
            fields.setdefault(group, {})[field] = value
        downloads = fields.pop("downloads", {})
        groups: dict[str, Any] = {
            group: _GROUPS[group](**settings)
            for group, settings in fields.items() if group is not None
        }
        return cls(
            **fields.get(None, {}), **groups,
            downloads=Downloads(**downloads) if downloads.get("folder") is not None else None,
        )


class MapKnobs(TypedDict, total=False):
    """The keywords of ``client.map`` and ``client.collect``: :class:`MapOptions` flattened,
    each with the default of the field it sets.

    :class:`Limits`: ``max_in_flight``, ``max_concurrent_requests``, ``submit_rate``,
    ``submit_burst``. :class:`Deadlines`: ``job_timeout``, ``deadline`` (its ``batch``),
    ``cancel_timeout`` (``cancel``). :class:`Resubmit`: ``resubmit_failed``,
    ``resubmit_unknown``. :class:`Budget`: ``max_spend``, ``assume_run_s``, ``track_cost``
    (``track``). :class:`Downloads`, made only when ``download_to`` (its ``folder``) is
    given: ``download_hosts``, ``download_origins``, ``download_resolver``,
    ``download_ssl``. The others are :class:`MapOptions`' own fields.
    """

    max_in_flight: int
    max_concurrent_requests: int
    submit_rate: float | None
    submit_burst: int
    job_timeout: float | None
    deadline: float | None
    cancel_timeout: float
    resubmit_failed: int
    resubmit_unknown: bool
    journal: str | os.PathLike[str] | None
    download_to: str | os.PathLike[str] | None
    download_hosts: Sequence[str]
    download_origins: Sequence[str]
    download_resolver: AbstractResolver | None
    download_ssl: ssl_.SSLContext | None
    poll: PollPlanner | None
    ordered: bool
    fail_fast: bool
    validate: bool
    include_cost: bool
    max_spend: float | None
    assume_run_s: float | None
    track_cost: bool
    on_event: Callable[[BatchEvent], Any] | None


_GROUPS: Final[dict[str, type[Any]]] = {
    "limits": Limits, "deadlines": Deadlines, "resubmit": Resubmit, "budget": Budget,
    "downloads": Downloads,
}
# Where each of MapKnobs goes: a group of MapOptions (None: MapOptions itself) and its field.
_KNOB_FIELDS: Final[dict[str, tuple[str | None, str]]] = {
    "max_in_flight": ("limits", "max_in_flight"),
    "max_concurrent_requests": ("limits", "max_concurrent_requests"),
    "submit_rate": ("limits", "submit_rate"),
    "submit_burst": ("limits", "submit_burst"),
    "job_timeout": ("deadlines", "job_timeout"),
    "deadline": ("deadlines", "batch"),
    "cancel_timeout": ("deadlines", "cancel"),
    "resubmit_failed": ("resubmit", "failed"),
    "resubmit_unknown": ("resubmit", "unknown"),
    "journal": (None, "journal"),
    "download_to": ("downloads", "folder"),
    "download_hosts": ("downloads", "hosts"),
    "download_origins": ("downloads", "origins"),
    "download_resolver": ("downloads", "resolver"),
    "download_ssl": ("downloads", "ssl"),
    "poll": (None, "poll"),
    "ordered": (None, "ordered"),
    "fail_fast": (None, "fail_fast"),
    "validate": (None, "validate"),
    "include_cost": (None, "include_cost"),
    "max_spend": ("budget", "max_spend"),
    "assume_run_s": ("budget", "assume_run_s"),
    "track_cost": ("budget", "track"),
    "on_event": (None, "on_event"),
}


def knob_default(knob: str) -> Any:
    """The value a batch runs with when ``knob`` is not given."""
    group, field = _KNOB_FIELDS[knob]
    default = attrs.fields_dict(MapOptions if group is None else _GROUPS[group])[field].default
    return None if default is attrs.NOTHING else default  # download_to: no downloads


_Method = TypeVar("_Method", bound=Callable[..., Any])


def spells_out_knobs(method: _Method) -> _Method:
    """Show a method's ``**knobs: Unpack[MapKnobs]`` to ``help()``, ``inspect`` and notebook
    completion as the keywords they are, with their defaults (type checkers and editors read
    the ``Unpack`` itself)."""
    signature = inspect.signature(method)
    kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    knobs = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=knob_default(name),
                          annotation=_hint_text(hint))
        for name, hint in MapKnobs.__annotations__.items()
    ]
    method.__dict__["__signature__"] = signature.replace(parameters=[*kept, *knobs])
    return method


def _hint_text(hint: Any) -> str:
    return str(getattr(hint, "__forward_arg__", hint))
