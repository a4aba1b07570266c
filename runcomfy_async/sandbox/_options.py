"""`SandboxOptions`: how a sandbox is set up, every setting named, defaulted and checked once.

`Sandbox` and `ThreadedSandbox` take the same settings, as ``options=SandboxOptions(...)``, as
keyword arguments of the same names, or both (the keywords then change the options given).
Either way one `SandboxOptions` is built, so the two classes cannot drift apart in what they
accept, and a setting changed on a running sandbox (``sb.faults = ...``) becomes a new
`SandboxOptions` and goes through the same checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ._checks import (
    non_negative,
    non_negative_finite,
    positive_finite,
    probability,
    whole_number,
)
from ._constants import (
    ANY_PORT,
    CDN_TLS_HOST,
    DEFAULT_RETENTION_S,
    DEFAULT_SEED,
    DEFAULT_TIME_SCALE,
    DEFAULT_WORKERS,
    LOOPBACK_HOST,
    MAX_PORT,
)
from ._faults import CdnFaults, FaultPlan
from ._models import ModelSpec


def _model_tuple(models: Iterable[ModelSpec] | None) -> tuple[ModelSpec, ...]:
    return () if models is None else tuple(models)


def _bare_string(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # The value is not repeated: for the token, the message must not carry it.
    if not isinstance(value, str) or not value or value != value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string without surrounding spaces")


@attrs.frozen(kw_only=True)
class SandboxOptions:
    """How a sandbox is set up; every argument is checked here, when the options are built.

    Args:
        token: the main bearer token; a random one when None.
        seed: makes job fates (run time, failure, request id) and faults repeatable. When
            None, the draws use the default seed but request ids are salted at random, so
            that no two sandboxes hand out the same id.
        workers: how many jobs run at once; the rest wait in a FIFO queue.
        time_scale: real seconds per model second (0.01 runs 100 times faster).
        retention_s: how long a finished job stays readable, in real seconds.
        faults: the faults the API injects (change later with ``sb.faults = ...``).
        cdn_faults: the CDN's hostile answers (change later with ``sb.cdn_faults = ...``).
        host: the address both servers bind.
        port, cdn_port: 0 picks free ports.
        models: more models to serve besides the Ideogram ones (same id: replaces it).
        failure_rate: the share of jobs that fail, on every model (Ideogram ones included),
            on top of each model's own ``failure_rate``; failed jobs carry an error shaped as
            a string, an object or a list of ``{errorCode, error, debugInfo}``, by draw.
        balance_usd: what each token may spend; once its succeeded jobs cost that much, its
            submits are refused with 402 / 400002. None: no limit.
        cdn_https: serve the CDN over HTTPS as `cdn_host`, with a certificate from a test CA
            made for the run (needs ``trustme``); reach it with the sandbox's ``resolver()``
            and ``cdn_ssl_context()``.
        cdn_host: the CDN's host name in HTTPS mode.
    """

    token: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_bare_string), repr=False
    )
    seed: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(int))
    )
    workers: int = attrs.field(default=DEFAULT_WORKERS, validator=whole_number(1))
    time_scale: float = attrs.field(default=DEFAULT_TIME_SCALE, validator=positive_finite)
    retention_s: float = attrs.field(default=DEFAULT_RETENTION_S, validator=non_negative)
    faults: FaultPlan = attrs.field(
        factory=FaultPlan, validator=attrs.validators.instance_of(FaultPlan)
    )
    cdn_faults: CdnFaults = attrs.field(
        factory=CdnFaults, validator=attrs.validators.instance_of(CdnFaults)
    )
    host: str = attrs.field(default=LOOPBACK_HOST, validator=_bare_string)
    port: int = attrs.field(default=ANY_PORT, validator=whole_number(ANY_PORT, MAX_PORT))
    cdn_port: int = attrs.field(default=ANY_PORT, validator=whole_number(ANY_PORT, MAX_PORT))
    models: tuple[ModelSpec, ...] = attrs.field(
        default=(),
        converter=_model_tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(ModelSpec)),
    )
    failure_rate: float = attrs.field(default=0.0, validator=probability)
    balance_usd: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(non_negative_finite)
    )
    cdn_https: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    cdn_host: str = attrs.field(default=CDN_TLS_HOST, validator=_bare_string)

    @property
    def draw_seed(self) -> int:
        """The seed every draw uses: `seed`, or the default one when it is None."""
        return DEFAULT_SEED if self.seed is None else self.seed


SETTINGS: Final = frozenset(field.name for field in attrs.fields(SandboxOptions))
# What a running sandbox can change; the others shape servers and queues already built.
LIVE_SETTINGS: Final = frozenset({"faults", "cdn_faults", "failure_rate", "balance_usd"})


def build_options(options: SandboxOptions | None, changes: Mapping[str, Any]) -> SandboxOptions:
    """`options` (the defaults when None) with `changes` made, all of them checked.

    Raises TypeError for a setting that does not exist, naming the ones that do, and the
    options' own ValueError for a value out of range.
    """
    unknown = sorted(set(changes) - SETTINGS)
    if unknown:
        raise TypeError(
            f"no sandbox setting {', '.join(map(repr, unknown))}; "
            f"the settings are {', '.join(sorted(SETTINGS))}"
        )
    if options is None:
        return SandboxOptions(**changes)
    if not isinstance(options, SandboxOptions):
        raise TypeError(f"options must be a SandboxOptions, got {options!r}")
    return attrs.evolve(options, **changes)
