"""A local imitation of the RunComfy Model API, for tests, benchmarks and offline use.

``async with Sandbox() as sb:`` serves the API on loopback (``sb.base_url``, ``sb.token``)
with a second origin for output files (``sb.cdn_base_url``; over HTTPS under a RunComfy-like
name with ``cdn_https=True``, reached with ``sb.resolver()`` and ``sb.cdn_ssl_context()``), a
FIFO job queue, faults and job failures on demand, billing (a cost per job, a spend per token,
an optional balance) and counters to assert on. Its settings are one `SandboxOptions`, given
as ``options=`` or as keyword arguments. `ThreadedSandbox` runs one in a background thread for
sync code; the ``runcomfy_sandbox`` pytest fixture yields one.
``python -m runcomfy_async.sandbox`` serves one standalone.

It shares the bundled schemas with the client, never its code paths, so that it catches the
client's mistakes instead of repeating them (the package's lazy-import helper, ``_lazy``, is
plumbing, not a code path). Drawing output images needs Pillow (the ``sandbox`` extra).

The names below are imported on first use rather than with the package: the pytest plugin is
a module of this package, loaded into every pytest run of every project that installs it, and
must not pull in aiohttp's server, jsonschema and the rest until a test asks for a sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._faults import CdnFaults, EndpointFaults, FaultPlan
    from ._models import ModelSpec
    from ._options import SandboxOptions
    from ._pillow import SandboxDependencyError
    from ._sandbox import Sandbox
    from ._stats import CdnSighting, JobRecord, SandboxStats, StatsSnapshot
    from ._threaded import ThreadedSandbox
    from ._tls import SandboxResolver

# Each public name and the module it lives in.
_HOMES: Final = {
    "CdnFaults": "._faults",
    "CdnSighting": "._stats",
    "EndpointFaults": "._faults",
    "FaultPlan": "._faults",
    "JobRecord": "._stats",
    "ModelSpec": "._models",
    "Sandbox": "._sandbox",
    "SandboxDependencyError": "._pillow",
    "SandboxOptions": "._options",
    "SandboxResolver": "._tls",
    "SandboxStats": "._stats",
    "StatsSnapshot": "._stats",
    "ThreadedSandbox": "._threaded",
}

__all__ = [
    "CdnFaults",
    "CdnSighting",
    "EndpointFaults",
    "FaultPlan",
    "JobRecord",
    "ModelSpec",
    "Sandbox",
    "SandboxDependencyError",
    "SandboxOptions",
    "SandboxResolver",
    "SandboxStats",
    "StatsSnapshot",
    "ThreadedSandbox",
]


if not TYPE_CHECKING:
    # Hidden from type checkers, which would otherwise accept any name from this package.
    __getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)
