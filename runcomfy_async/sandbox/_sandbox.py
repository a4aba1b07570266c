"""`Sandbox`: the local imitation of the RunComfy Model API, as an async context manager."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web
from typing_extensions import Self

from ._api import Api
from ._catalog import ModelRegistry
from ._cdn import CdnFiles
from ._constants import (
    API_PREFIX,
    LOOPBACK_HOST,
    REQUEST_ID_SALT_BITS,
    SHUTDOWN_TIMEOUT_S,
)
from ._core import SandboxCore
from ._faults import CdnFaults, FaultPlan
from ._ideogram import ideogram_specs
from ._models import ModelSpec
from ._options import LIVE_SETTINGS, SandboxOptions, build_options
from ._pillow import require_pillow
from ._stats import SandboxStats
from ._tls import CdnTls, SandboxResolver, make_cdn_tls
from ._tokens import TokenBook


def _origin(host: str, port: int, scheme: str = "http") -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


class Sandbox:
    """A RunComfy Model API on loopback: the API on one port, its file CDN on another.

    ``async with Sandbox() as sb:`` starts both servers; point a client at ``sb.base_url``
    with ``sb.token``. It serves the four Ideogram models from the bundled schemas plus any
    model given in ``models`` or registered later, each with its catalog price: a succeeded job
    is billed to the token that submitted it (``stats.spend_by_token``, `spent_usd`), and
    ``?include_cost=true`` on its result says how much.

    Args:
        options: the settings (`SandboxOptions`, which documents each one); the defaults when
            None.
        **settings: any `SandboxOptions` setting by name (``Sandbox(seed=1, workers=2)``),
            applied on top of `options`. An unknown name is a TypeError, a value out of range
            a ValueError, both raised here.
    """

    def __init__(self, options: SandboxOptions | None = None, **settings: Any) -> None:
        self._options = options = build_options(options, settings)
        self._tokens = TokenBook(options.token)
        self._registry = ModelRegistry([*ideogram_specs(), *options.models])
        self._id_salt = secrets.randbits(REQUEST_ID_SALT_BITS) if options.seed is None else 0
        self._cdn_tls: CdnTls | None = None
        self._port = options.port
        self._cdn_port = options.cdn_port
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
        options = self._options
        if options.cdn_https and self._cdn_tls is None:
            self._cdn_tls = make_cdn_tls(options.cdn_host)
        core = SandboxCore(
            options,
            tokens=self._tokens,
            registry=self._registry,
            loop=asyncio.get_running_loop(),
            id_salt=self._id_salt,
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
                _origin(options.host, self._cdn_port)
                if tls is None
                else _origin(tls.host, self._cdn_port, "https")
            )
            self._api = Api(core)
            self._api_runner, self._port = await self._serve(self._api.application(), self._port)
            core.api_base = _origin(options.host, self._port) + API_PREFIX
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
                runner, self._options.host, port, reuse_address=True, ssl_context=ssl_context
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
        return self._options.cdn_https

    @property
    def cdn_host(self) -> str:
        """The CDN's host name in HTTPS mode (it resolves only through `resolver`)."""
        return self._options.cdn_host

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
        options = self._options
        hosts = {options.cdn_host: LOOPBACK_HOST} if options.cdn_https else {}
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
    def options(self) -> SandboxOptions:
        """The settings now (assigning `faults`, `cdn_faults`, `failure_rate` or
        `balance_usd` replaces them)."""
        return self._options

    def _change(self, **settings: Any) -> None:
        """Check and apply changed `LIVE_SETTINGS`, at once for a running sandbox too."""
        fixed = settings.keys() - LIVE_SETTINGS
        if fixed:
            raise AttributeError(f"{', '.join(sorted(fixed))} cannot change after construction")
        self._options = attrs.evolve(self._options, **settings)
        if self._core is not None:
            self._core.options = self._options

    @property
    def seed(self) -> int:
        """The seed of every draw (the default one when none was given)."""
        return self._options.draw_seed

    @property
    def failure_rate(self) -> float:
        """The share of jobs that fail on every model, on top of each model's own."""
        return self._options.failure_rate

    @failure_rate.setter
    def failure_rate(self, rate: float) -> None:
        self._change(failure_rate=rate)

    @property
    def balance_usd(self) -> float | None:
        """What each token may spend (None: no limit); assign to top up or lower it."""
        return self._options.balance_usd

    @balance_usd.setter
    def balance_usd(self, balance: float | None) -> None:
        self._change(balance_usd=balance)

    def spent_usd(self, token: str | None = None) -> float:
        """What `token` (the main one when None) has been billed so far; unlike
        ``stats.spend_by_token``, a stats reset does not clear it."""
        core = self._running()[0]
        return core.spent.get(self.token if token is None else token, 0.0)

    @property
    def time_scale(self) -> float:
        """Real seconds per model second."""
        return self._options.time_scale

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
        return self._options.faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self._change(faults=plan)

    @property
    def cdn_faults(self) -> CdnFaults:
        """The CDN's hostile answers now."""
        return self._options.cdn_faults

    @cdn_faults.setter
    def cdn_faults(self, faults: CdnFaults) -> None:
        self._change(cdn_faults=faults)

    @property
    def stats(self) -> SandboxStats:
        """What the sandbox saw (live; ``stats.snapshot()`` for a frozen copy)."""
        return self._running()[0].stats

    def clock(self) -> float:
        """The sandbox clock (monotonic seconds since start) that job records use."""
        return self._running()[0].queue.now()
