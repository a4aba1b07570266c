"""`Sandbox`: the local imitation of the RunComfy Model API, as an async context manager."""

from __future__ import annotations

import asyncio
import math
import secrets
import ssl
from collections.abc import Iterable, Mapping
from types import TracebackType

from aiohttp import web
from typing_extensions import Self

from ._api import Api
from ._cdn import CdnFiles
from ._constants import (
    API_PREFIX,
    CDN_TLS_HOST,
    DEFAULT_RETENTION_S,
    DEFAULT_SEED,
    DEFAULT_TIME_SCALE,
    DEFAULT_WORKERS,
    LOOPBACK_HOST,
    REQUEST_ID_SALT_BITS,
    SHUTDOWN_TIMEOUT_S,
)
from ._core import SandboxCore
from ._faults import CdnFaults, FaultPlan
from ._models import ModelRegistry, ModelSpec, ideogram_specs
from ._pillow import require_pillow
from ._stats import SandboxStats
from ._tls import CdnTls, SandboxResolver, make_cdn_tls
from ._tokens import TokenBook


def _origin(host: str, port: int, scheme: str = "http") -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _check_rate(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _check_balance(value: float | None) -> float | None:
    if value is not None and not (
        isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
    ):
        raise ValueError(f"balance_usd must be a finite number >= 0 or None, got {value!r}")
    return value


class Sandbox:
    """A RunComfy Model API on loopback: the API on one port, its file CDN on another.

    ``async with Sandbox() as sb:`` starts both servers; point a client at ``sb.base_url``
    with ``sb.token``. It serves the four Ideogram models from the bundled schemas plus any
    model given in `models` or registered later, each with its catalog price: a succeeded job
    is billed to the token that submitted it (``stats.spend_by_token``, `spent_usd`), and
    ``?include_cost=true`` on its result says how much.

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
            made for the run (needs ``trustme``); reach it with `resolver` and
            `cdn_ssl_context`.
        cdn_host: the CDN's host name in HTTPS mode.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        seed: int | None = None,
        workers: int = DEFAULT_WORKERS,
        time_scale: float = DEFAULT_TIME_SCALE,
        retention_s: float = DEFAULT_RETENTION_S,
        faults: FaultPlan = FaultPlan(),
        cdn_faults: CdnFaults = CdnFaults(),
        host: str = LOOPBACK_HOST,
        port: int = 0,
        cdn_port: int = 0,
        models: Iterable[ModelSpec] | None = None,
        failure_rate: float = 0.0,
        balance_usd: float | None = None,
        cdn_https: bool = False,
        cdn_host: str = CDN_TLS_HOST,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ValueError(f"time_scale must be finite and > 0, got {time_scale}")
        if not (retention_s >= 0):
            raise ValueError(f"retention_s must be >= 0, got {retention_s}")
        self._tokens = TokenBook(token)
        self._registry = ModelRegistry([*ideogram_specs(), *(models or ())])
        self._seed = DEFAULT_SEED if seed is None else seed
        self._id_salt = secrets.randbits(REQUEST_ID_SALT_BITS) if seed is None else 0
        self._failure_rate = _check_rate("failure_rate", failure_rate)
        self._balance_usd = _check_balance(balance_usd)
        self._cdn_https = cdn_https
        self._cdn_host = cdn_host
        self._cdn_tls: CdnTls | None = None
        self._workers = workers
        self._time_scale = time_scale
        self._retention_s = retention_s
        self._faults = faults
        self._cdn_faults = cdn_faults
        self._host = host
        self._port = port
        self._cdn_port = cdn_port
        self._core: SandboxCore | None = None
        self._api: Api | None = None
        self._cdn: CdnFiles | None = None
        self._api_runner: web.AppRunner | None = None
        self._cdn_runner: web.AppRunner | None = None

    # --- Life --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind both servers and start serving (what ``async with`` does)."""
        if self._core is not None:
            raise RuntimeError("this sandbox is already started")
        require_pillow()
        if self._cdn_https and self._cdn_tls is None:
            self._cdn_tls = make_cdn_tls(self._cdn_host)
        core = SandboxCore(
            seed=self._seed,
            time_scale=self._time_scale,
            workers=self._workers,
            retention_s=self._retention_s,
            tokens=self._tokens,
            registry=self._registry,
            faults=self._faults,
            cdn_faults=self._cdn_faults,
            loop=asyncio.get_running_loop(),
            id_salt=self._id_salt,
            failure_rate=self._failure_rate,
            balance_usd=self._balance_usd,
            cdn_tls=self._cdn_tls,
        )
        self._core = core
        try:
            self._cdn = CdnFiles(core)
            tls = self._cdn_tls
            self._cdn_runner, self._cdn_port = await self._serve(
                self._cdn.application(),
                self._cdn_port,
                None if tls is None else tls.server_context,
            )
            core.cdn_base = (
                _origin(self._host, self._cdn_port)
                if tls is None
                else _origin(tls.host, self._cdn_port, "https")
            )
            self._api = Api(core)
            self._api_runner, self._port = await self._serve(self._api.application(), self._port)
            core.api_base = _origin(self._host, self._port) + API_PREFIX
        except BaseException:
            await self.close()
            raise

    async def _serve(
        self, app: web.Application, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        try:
            await web.TCPSite(
                runner, self._host, port, reuse_address=True, ssl_context=ssl_context
            ).start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_port: int = runner.addresses[0][1]
        return runner, bound_port

    async def close(self) -> None:
        """Stop both servers and every job; the sandbox cannot be started again."""
        for runner in (self._api_runner, self._cdn_runner):
            if runner is not None:
                await runner.cleanup()
        self._api_runner = self._cdn_runner = None
        if self._cdn is not None:
            self._cdn.close()
        if self._core is not None:
            await self._core.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def restart(self, downtime_s: float = 0.0) -> None:
        """Take the API down (listening socket closed, connections dropped) and bring it
        back on the same port after `downtime_s` real seconds.

        Jobs, queue and tokens survive, and jobs keep running meanwhile: a restart in the
        middle of a batch. The CDN stays up.
        """
        core, api = self._running()
        if self._api_runner is not None:
            await self._api_runner.cleanup()
            self._api_runner = None
        core.stats.restarts += 1
        await asyncio.sleep(downtime_s)
        self._api_runner, _ = await self._serve(api.application(), self._port)

    def _running(self) -> tuple[SandboxCore, Api]:
        if self._core is None or self._api is None:
            raise RuntimeError("the sandbox is not started")
        return self._core, self._api

    # --- Where and who -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL, version included: ``http://127.0.0.1:PORT/v1``."""
        return self._running()[0].api_base

    @property
    def cdn_base_url(self) -> str:
        """The CDN's origin, ``http://127.0.0.1:PORT`` (files are under ``/files/``), or
        ``https://cdn.sandbox.runcomfy.net:PORT`` in HTTPS mode."""
        return self._running()[0].cdn_base

    @property
    def cdn_https(self) -> bool:
        """Whether the CDN serves HTTPS under `cdn_host`."""
        return self._cdn_https

    @property
    def cdn_host(self) -> str:
        """The CDN's host name in HTTPS mode (it resolves only through `resolver`)."""
        return self._cdn_host

    @property
    def cdn_ca_pem(self) -> bytes:
        """The PEM of the test CA behind the HTTPS CDN's certificate (HTTPS mode, started)."""
        return self._tls().ca_pem

    def cdn_ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts the HTTPS CDN's test CA (and nothing else)."""
        return self._tls().client_context()

    def resolver(self) -> SandboxResolver:
        """A new aiohttp resolver for a client's connector: the CDN's host name (in HTTPS
        mode) and ``localhost`` resolve to 127.0.0.1, any other name fails as unknown."""
        hosts = {self._cdn_host: LOOPBACK_HOST} if self._cdn_https else {}
        return SandboxResolver(hosts)

    def _tls(self) -> CdnTls:
        if self._cdn_tls is None:
            raise RuntimeError("the CDN serves HTTPS only with cdn_https=True, once started")
        return self._cdn_tls

    @property
    def port(self) -> int:
        """The API's port (0 before start when asked to pick one)."""
        return self._port

    @property
    def cdn_port(self) -> int:
        """The CDN's port."""
        return self._cdn_port

    @property
    def token(self) -> str:
        """The main bearer token."""
        return self._tokens.primary

    def add_token(self) -> str:
        """Issue another valid token; its jobs are 403 to the other tokens and back."""
        return self._tokens.issue()

    def revoke_token(self, token: str) -> None:
        """From now on `token` is answered 400004, as RunComfy answers a revoked token."""
        self._tokens.revoke(token)

    # --- Behaviour ---------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The seed of every draw (the default one when none was given)."""
        return self._seed

    @property
    def failure_rate(self) -> float:
        """The share of jobs that fail on every model, on top of each model's own."""
        return self._failure_rate

    @failure_rate.setter
    def failure_rate(self, rate: float) -> None:
        self._failure_rate = _check_rate("failure_rate", rate)
        if self._core is not None:
            self._core.failure_rate = self._failure_rate

    @property
    def balance_usd(self) -> float | None:
        """What each token may spend (None: no limit); assign to top up or lower it."""
        return self._balance_usd

    @balance_usd.setter
    def balance_usd(self, balance: float | None) -> None:
        self._balance_usd = _check_balance(balance)
        if self._core is not None:
            self._core.balance_usd = self._balance_usd

    def spent_usd(self, token: str | None = None) -> float:
        """What `token` (the main one when None) has been billed so far; unlike
        ``stats.spend_by_token``, a stats reset does not clear it."""
        core = self._running()[0]
        return core.spent.get(self.token if token is None else token, 0.0)

    @property
    def time_scale(self) -> float:
        """Real seconds per model second."""
        return self._time_scale

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        """The served models by id (a copy)."""
        return self._registry.specs()

    def register_model(self, spec: ModelSpec) -> None:
        """Serve another model (or replace one with the same id)."""
        self._registry.register(spec)

    @property
    def faults(self) -> FaultPlan:
        """The faults the API injects now."""
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self._faults = plan
        if self._core is not None:
            self._core.faults = plan

    @property
    def cdn_faults(self) -> CdnFaults:
        """The CDN's hostile answers now."""
        return self._cdn_faults

    @cdn_faults.setter
    def cdn_faults(self, faults: CdnFaults) -> None:
        self._cdn_faults = faults
        if self._core is not None:
            self._core.cdn_faults = faults

    @property
    def stats(self) -> SandboxStats:
        """What the sandbox saw (live; ``stats.snapshot()`` for a frozen copy)."""
        return self._running()[0].stats

    def clock(self) -> float:
        """The sandbox clock (monotonic seconds since start) that job records use."""
        return self._running()[0].queue.now()
