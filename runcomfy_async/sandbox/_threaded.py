"""`ThreadedSandbox`: a `Sandbox` on its own event loop in a background thread.

For synchronous code: sync tests (the pytest fixture), benchmarks that drive a client in
another loop or process, and code under any async framework. Every call hops onto the
sandbox's loop and waits for the answer, so nothing is touched from two threads at once.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, TypeVar

from typing_extensions import Self

from ._constants import THREAD_START_TIMEOUT_S
from ._faults import CdnFaults, FaultPlan
from ._models import ModelSpec
from ._options import SandboxOptions
from ._sandbox import Sandbox
from ._stats import StatsSnapshot
from ._tls import SandboxResolver

T = TypeVar("T")


class ThreadedSandbox:
    """A started `Sandbox` serving from a background thread; a sync context manager.

    ``with ThreadedSandbox(time_scale=0.01) as sb:`` takes the same arguments as `Sandbox`
    (``options=`` and/or any `SandboxOptions` setting by name) and offers the same calls,
    synchronously. `stats` is a frozen snapshot taken on the sandbox's loop (read it again for
    fresh numbers); `reset_stats()` clears the counters.
    """

    def __init__(self, options: SandboxOptions | None = None, **settings: Any) -> None:
        self._sandbox = Sandbox(options, **settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop thread and the sandbox on it; return once it serves."""
        if self._thread is not None:
            raise RuntimeError("this sandbox is already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="runcomfy-sandbox", daemon=True
        )
        self._thread.start()
        try:
            self._await(self._sandbox.start())
        except BaseException:
            self._stop_loop()
            raise

    def close(self) -> None:
        """Stop the sandbox and its thread."""
        if self._thread is None:
            return
        try:
            self._await(self._sandbox.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _await(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the sandbox is not started")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(THREAD_START_TIMEOUT_S if timeout is None else timeout)

    def _call(self, function: Callable[[], T]) -> T:
        async def call() -> T:
            return function()

        return self._await(call())

    def _change(self, **settings: Any) -> None:
        self._call(lambda: self._sandbox._change(**settings))

    # --- The same calls as Sandbox, synchronous ----------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL, ``http://127.0.0.1:PORT/v1``."""
        return self._sandbox.base_url

    @property
    def cdn_base_url(self) -> str:
        """The CDN's origin."""
        return self._sandbox.cdn_base_url

    @property
    def cdn_https(self) -> bool:
        """Whether the CDN serves HTTPS under `cdn_host`."""
        return self._sandbox.cdn_https

    @property
    def cdn_host(self) -> str:
        """The CDN's host name in HTTPS mode."""
        return self._sandbox.cdn_host

    @property
    def cdn_ca_pem(self) -> bytes:
        """The PEM of the HTTPS CDN's test CA."""
        return self._sandbox.cdn_ca_pem

    def cdn_ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts the HTTPS CDN's test CA."""
        return self._sandbox.cdn_ssl_context()

    def resolver(self) -> SandboxResolver:
        """A new aiohttp resolver mapping the sandbox's host names to 127.0.0.1."""
        return self._sandbox.resolver()

    @property
    def port(self) -> int:
        """The API's port."""
        return self._sandbox.port

    @property
    def cdn_port(self) -> int:
        """The CDN's port."""
        return self._sandbox.cdn_port

    @property
    def token(self) -> str:
        """The main bearer token."""
        return self._sandbox.token

    @property
    def options(self) -> SandboxOptions:
        """The settings now."""
        return self._sandbox.options

    @property
    def seed(self) -> int:
        """The seed of every draw."""
        return self._sandbox.seed

    @property
    def time_scale(self) -> float:
        """Real seconds per model second."""
        return self._sandbox.time_scale

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        """The served models by id (a copy)."""
        return self._call(lambda: self._sandbox.models)

    @property
    def failure_rate(self) -> float:
        """The share of jobs that fail on every model."""
        return self._sandbox.failure_rate

    @failure_rate.setter
    def failure_rate(self, rate: float) -> None:
        self._change(failure_rate=rate)

    @property
    def balance_usd(self) -> float | None:
        """What each token may spend (None: no limit)."""
        return self._sandbox.balance_usd

    @balance_usd.setter
    def balance_usd(self, balance: float | None) -> None:
        self._change(balance_usd=balance)

    def spent_usd(self, token: str | None = None) -> float:
        """What `token` (the main one when None) has been billed so far."""
        return self._call(lambda: self._sandbox.spent_usd(token))

    def add_token(self) -> str:
        """Issue another valid token."""
        return self._call(self._sandbox.add_token)

    def revoke_token(self, token: str) -> None:
        """From now on `token` is answered 400004."""
        self._call(lambda: self._sandbox.revoke_token(token))

    def register_model(self, spec: ModelSpec) -> None:
        """Serve another model (or replace one with the same id)."""
        self._call(lambda: self._sandbox.register_model(spec))

    @property
    def faults(self) -> FaultPlan:
        """The faults the API injects now."""
        return self._sandbox.faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self._change(faults=plan)

    @property
    def cdn_faults(self) -> CdnFaults:
        """The CDN's hostile answers now."""
        return self._sandbox.cdn_faults

    @cdn_faults.setter
    def cdn_faults(self, faults: CdnFaults) -> None:
        self._change(cdn_faults=faults)

    @property
    def stats(self) -> StatsSnapshot:
        """A frozen snapshot of the counters, taken on the sandbox's loop."""
        return self._call(lambda: self._sandbox.stats.snapshot())

    def reset_stats(self) -> None:
        """Clear the counters."""
        self._call(lambda: self._sandbox.stats.reset())

    def clock(self) -> float:
        """The sandbox clock that job records use."""
        return self._call(self._sandbox.clock)

    def restart(self, downtime_s: float = 0.0) -> None:
        """Restart the API on the same port after `downtime_s`; jobs survive."""
        self._await(self._sandbox.restart(downtime_s), timeout=THREAD_START_TIMEOUT_S + downtime_s)
