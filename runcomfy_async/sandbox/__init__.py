"""A local imitation of the RunComfy Model API, for tests, benchmarks and offline use.

``async with Sandbox() as sb:`` serves the API on loopback (``sb.base_url``, ``sb.token``)
with a second origin for output files (``sb.cdn_base_url``; over HTTPS under a RunComfy-like
name with ``cdn_https=True``, reached with ``sb.resolver()`` and ``sb.cdn_ssl_context()``), a
FIFO job queue, faults and job failures on demand, billing (a cost per job, a spend per token,
an optional balance) and counters to assert on. `ThreadedSandbox` runs one in a background
thread for sync code; the ``runcomfy_sandbox`` pytest fixture yields one.
``python -m runcomfy_async.sandbox`` serves one standalone.

It shares the bundled schemas with the client, never its code, so that it catches the
client's mistakes instead of repeating them. Drawing output images needs Pillow (the
``sandbox`` extra).
"""

from ._faults import CdnFaults, EndpointFaults, FaultPlan
from ._models import ModelSpec
from ._pillow import SandboxDependencyError
from ._sandbox import Sandbox
from ._stats import CdnSighting, JobRecord, SandboxStats, StatsSnapshot
from ._threaded import ThreadedSandbox
from ._tls import SandboxResolver

__all__ = [
    "CdnFaults",
    "CdnSighting",
    "EndpointFaults",
    "FaultPlan",
    "JobRecord",
    "ModelSpec",
    "Sandbox",
    "SandboxDependencyError",
    "SandboxResolver",
    "SandboxStats",
    "StatsSnapshot",
    "ThreadedSandbox",
]
