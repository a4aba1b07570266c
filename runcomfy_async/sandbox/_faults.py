"""Faults on demand: what can go wrong between a client and RunComfy, drawn by seed.

A `FaultPlan` says, per endpoint, how often each kind of fault happens. `FaultDice` draws the
faults from one random stream per endpoint derived from the sandbox's seed, so the k-th request
to an endpoint meets the same fault in every run with the same seed and plan.

The kinds, and why each one matters to a client:

- ``rate_limit``: 429 with ``Retry-After`` (seconds or an HTTP-date): the client must wait.
- ``server_error``: 500/502/503/504 with a JSON or an HTML body (as a gateway would send).
- ``reset``: the connection is reset before any answer: the client cannot know what happened.
- ``slow``: the answer comes after a delay, to exercise the client's read timeouts.
- ``error_in_200``: HTTP 200 whose body carries ``error_code`` 500001, as some RunComfy
  endpoints do.
- ``accepted_then_dropped`` (submit only): the job is created and runs, but the connection is
  reset instead of answering: the ambiguous case a client must not blindly retry.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Final, Literal

import attrs

from ._checks import non_negative_finite, probability
from ._constants import (
    DEFAULT_RETRY_AFTER_S,
    DEFAULT_SERVER_ERROR_HTML_FRACTION,
    DEFAULT_SERVER_ERROR_STATUSES,
    DEFAULT_SLOW_S,
)

Endpoint = Literal["submit", "status", "result", "cancel", "models"]
ENDPOINTS: Final[tuple[Endpoint, ...]] = ("submit", "status", "result", "cancel", "models")

FaultKind = Literal[
    "rate_limit", "server_error", "reset", "slow", "error_in_200", "accepted_then_dropped"
]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "rate_limit",
    "server_error",
    "reset",
    "slow",
    "error_in_200",
    "accepted_then_dropped",
)
RetryAfterForm = Literal["seconds", "http-date"]


@attrs.frozen
class EndpointFaults:
    """How often each fault kind happens on one endpoint (probabilities summing to at most 1).

    Args:
        rate_limit: 429 with Retry-After.
        server_error: a 5xx answer (status and body form chosen by the plan).
        reset: the connection is reset before answering.
        slow: the answer is delayed by the plan's ``slow_s``.
        error_in_200: HTTP 200 with an ``error_code`` body.
        accepted_then_dropped: submit only: the job is created, the answer is a reset.
    """

    rate_limit: float = attrs.field(default=0.0, validator=probability)
    server_error: float = attrs.field(default=0.0, validator=probability)
    reset: float = attrs.field(default=0.0, validator=probability)
    slow: float = attrs.field(default=0.0, validator=probability)
    error_in_200: float = attrs.field(default=0.0, validator=probability)
    accepted_then_dropped: float = attrs.field(default=0.0, validator=probability)

    def __attrs_post_init__(self) -> None:
        if self.total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {self.total}, more than 1")

    def rates(self) -> tuple[tuple[FaultKind, float], ...]:
        """Each kind with its probability, in the order draws are matched against them."""
        return (
            ("rate_limit", self.rate_limit),
            ("server_error", self.server_error),
            ("reset", self.reset),
            ("slow", self.slow),
            ("error_in_200", self.error_in_200),
            ("accepted_then_dropped", self.accepted_then_dropped),
        )

    @property
    def total(self) -> float:
        """The probability that a request meets any fault."""
        return sum(rate for _, rate in self.rates())

    def pick(self, draw: float) -> FaultKind | None:
        """The fault that a uniform draw in [0, 1) falls on, or None for no fault."""
        edge = 0.0
        for kind, rate in self.rates():
            edge += rate
            if draw < edge:
                return kind
        return None


NO_FAULTS: Final = EndpointFaults()


def _int_tuple(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


def _server_statuses(
    _instance: object, attribute: attrs.Attribute[tuple[int, ...]], value: tuple[int, ...]
) -> None:
    if not value or any(not (500 <= status <= 599) for status in value):
        raise ValueError(f"{attribute.name} must be a non-empty tuple of 5xx codes: {value!r}")


@attrs.frozen
class FaultPlan:
    """Which faults the API answers with, per endpoint, and how they look.

    ``FaultPlan()`` injects nothing. ``FaultPlan.uniform(rate_limit=0.05)`` sets the same rates
    on every endpoint. Assign a new plan to ``sandbox.faults`` to change it at run time.

    Args:
        submit, status, result, cancel, models: the rates for each endpoint (``models`` covers
            the catalog, its categories and the one-model call).
        retry_after_s: the wait a 429 asks for.
        retry_after_form: ``"seconds"`` (``Retry-After: 1``) or ``"http-date"``.
        slow_s: the delay of a slow answer, in real seconds (not scaled: it is about sockets).
        server_error_statuses: the statuses a server error is drawn from.
        server_error_html_fraction: the share of server errors answered with an HTML page
            rather than a JSON body.
    """

    submit: EndpointFaults = NO_FAULTS
    status: EndpointFaults = NO_FAULTS
    result: EndpointFaults = NO_FAULTS
    cancel: EndpointFaults = NO_FAULTS
    models: EndpointFaults = NO_FAULTS
    retry_after_s: float = attrs.field(default=DEFAULT_RETRY_AFTER_S, validator=non_negative_finite)
    retry_after_form: RetryAfterForm = attrs.field(
        default="seconds", validator=attrs.validators.in_(("seconds", "http-date"))
    )
    slow_s: float = attrs.field(default=DEFAULT_SLOW_S, validator=non_negative_finite)
    server_error_statuses: tuple[int, ...] = attrs.field(
        default=DEFAULT_SERVER_ERROR_STATUSES, converter=_int_tuple, validator=_server_statuses
    )
    server_error_html_fraction: float = attrs.field(
        default=DEFAULT_SERVER_ERROR_HTML_FRACTION, validator=probability
    )

    def __attrs_post_init__(self) -> None:
        for endpoint in ENDPOINTS:
            if endpoint != "submit" and self.for_endpoint(endpoint).accepted_then_dropped:
                raise ValueError(f"accepted_then_dropped applies to submit only, not {endpoint}")

    @classmethod
    def uniform(
        cls,
        *,
        rate_limit: float = 0.0,
        server_error: float = 0.0,
        reset: float = 0.0,
        slow: float = 0.0,
        error_in_200: float = 0.0,
        accepted_then_dropped: float = 0.0,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        retry_after_form: RetryAfterForm = "seconds",
        slow_s: float = DEFAULT_SLOW_S,
    ) -> FaultPlan:
        """The same rates on every endpoint (``accepted_then_dropped`` on submit only)."""
        others = EndpointFaults(
            rate_limit=rate_limit,
            server_error=server_error,
            reset=reset,
            slow=slow,
            error_in_200=error_in_200,
        )
        return cls(
            submit=attrs.evolve(others, accepted_then_dropped=accepted_then_dropped),
            status=others,
            result=others,
            cancel=others,
            models=others,
            retry_after_s=retry_after_s,
            retry_after_form=retry_after_form,
            slow_s=slow_s,
        )

    def for_endpoint(self, endpoint: Endpoint) -> EndpointFaults:
        """The rates for one endpoint."""
        faults: EndpointFaults = getattr(self, endpoint)
        return faults


@attrs.frozen
class InjectedFault:
    """One fault drawn for one request.

    Args:
        kind: what happens.
        status: the HTTP status a server error answers with (0 for other kinds).
        html: whether a server error's body is an HTML page.
    """

    kind: FaultKind
    status: int = 0
    html: bool = False


class FaultDice:
    """Draws faults for requests, one deterministic stream per endpoint."""

    __slots__ = ("_streams",)

    def __init__(self, seed: int) -> None:
        self._streams = {
            endpoint: random.Random(f"runcomfy-sandbox-faults:{seed}:{endpoint}")
            for endpoint in ENDPOINTS
        }

    def roll(self, endpoint: Endpoint, plan: FaultPlan) -> InjectedFault | None:
        """The fault for the next request on `endpoint`, or None.

        An endpoint without faults draws nothing, so turning faults on for one endpoint does
        not shift the streams of the others.
        """
        rates = plan.for_endpoint(endpoint)
        if rates is NO_FAULTS or rates.total == 0.0:
            return None
        stream = self._streams[endpoint]
        kind = rates.pick(stream.random())
        if kind is None:
            return None
        if kind == "server_error":
            return InjectedFault(
                kind,
                status=stream.choice(plan.server_error_statuses),
                html=stream.random() < plan.server_error_html_fraction,
            )
        return InjectedFault(kind)


def _origin(_instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError(f"{attribute.name} must be an http(s) origin, got {value!r}")


@attrs.frozen
class CdnFaults:
    """Hostile answers from the CDN, for download tests. Each knob applies to every file.

    Args:
        redirect_to: an origin (``"http://localhost:8123"``): a file asked for on any other
            origin answers 302 to the same path there. Pointing it at the CDN's own port under
            another host name gives a cross-host redirect that lands on the real file, so a
            test can see which headers followed the redirect.
        huge_body_bytes: answer this many bytes (declared in Content-Length, streamed) instead
            of the file, to test a client's size cap.
        content_type: the Content-Type to declare instead of the file's.
    """

    redirect_to: str | None = attrs.field(default=None, validator=_origin)
    huge_body_bytes: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    content_type: str | None = None
