"""Serving a sandbox standalone: ``python -m runcomfy_async.sandbox``.

`serve_main` parses the arguments, starts a `Sandbox`, prints one JSON line
``{"base_url", "cdn_base_url", "token"}`` (benchmarks and scripts read it; with
``--cdn-https`` it adds ``cdn_ca_file``, the test CA's PEM, and ``cdn_host``, which a client
must resolve to 127.0.0.1 itself), and serves until SIGINT or SIGTERM. The CLI reuses it as
its ``sandbox`` subcommand (``runcomfy-async sandbox``), so every option here is there too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from ._constants import (
    DEFAULT_RETENTION_S,
    DEFAULT_RETRY_AFTER_S,
    DEFAULT_SEED,
    DEFAULT_SLOW_S,
    DEFAULT_TIME_SCALE,
    DEFAULT_WORKERS,
    LOOPBACK_HOST,
)
from ._faults import ENDPOINTS, FAULT_KINDS, Endpoint, EndpointFaults, FaultKind, FaultPlan
from ._pillow import SandboxDependencyError
from ._sandbox import Sandbox
from ._stats import StatsSnapshot

# The exit status of a server that cannot start for want of a package (sysexits'
# EX_UNAVAILABLE, as `runcomfy-async` says it).
_EXIT_UNAVAILABLE: Final = 69
# Short names for the command line, besides the fault kinds' own names.
KIND_NAMES: Final[dict[str, FaultKind]] = {
    "429": "rate_limit",
    "5xx": "server_error",
    "200error": "error_in_200",
    "dropped": "accepted_then_dropped",
    **{kind: kind for kind in FAULT_KINDS},
}


def fault_plan(
    entries: Sequence[str],
    *,
    retry_after_s: float = DEFAULT_RETRY_AFTER_S,
    retry_after_form: str = "seconds",
    slow_s: float = DEFAULT_SLOW_S,
) -> FaultPlan:
    """A `FaultPlan` from ``[ENDPOINT:]KIND=P`` entries (``429=0.05``, ``submit:reset=0.1``).

    Without an endpoint a rate applies to every endpoint (``dropped`` to submit only). Raises
    ValueError naming the entry that is wrong.
    """
    rates: dict[Endpoint, dict[str, float]] = {endpoint: {} for endpoint in ENDPOINTS}
    for entry in entries:
        target, _, value = entry.partition("=")
        endpoint_name, _, kind_name = target.rpartition(":")
        kind = KIND_NAMES.get(kind_name)
        if kind is None:
            raise ValueError(f"{entry!r}: the kind is one of {', '.join(KIND_NAMES)}")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"{entry!r}: the rate must be a number") from None
        if endpoint_name:
            if endpoint_name not in ENDPOINTS:
                raise ValueError(f"{entry!r}: the endpoint is one of {', '.join(ENDPOINTS)}")
            endpoints = [e for e in ENDPOINTS if e == endpoint_name]
        else:
            endpoints = ["submit"] if kind == "accepted_then_dropped" else list(ENDPOINTS)
        for endpoint in endpoints:
            rates[endpoint][kind] = rate
    if retry_after_form not in ("seconds", "http-date"):
        raise ValueError("the Retry-After form is 'seconds' or 'http-date'")
    return FaultPlan(
        submit=EndpointFaults(**rates["submit"]),
        status=EndpointFaults(**rates["status"]),
        result=EndpointFaults(**rates["result"]),
        cancel=EndpointFaults(**rates["cancel"]),
        models=EndpointFaults(**rates["models"]),
        retry_after_s=retry_after_s,
        retry_after_form="http-date" if retry_after_form == "http-date" else "seconds",
        slow_s=slow_s,
    )


def failure_rates(entries: Sequence[str]) -> tuple[float, dict[str, float]]:
    """The rate for every model and the rates per model, from ``[MODEL=]P`` entries
    (``0.2``, ``ideogram/ideogram-v3/edit=1``). Raises ValueError naming a wrong entry."""
    everywhere = 0.0
    per_model: dict[str, float] = {}
    for entry in entries:
        model_id, _, value = entry.rpartition("=")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"{entry!r}: the rate must be a number") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{entry!r}: the rate is a probability from 0 to 1")
        if model_id:
            per_model[model_id] = rate
        else:
            everywhere = rate
    return everywhere, per_model


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The standalone server's arguments."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local imitation of the RunComfy Model API until SIGINT/SIGTERM. "
        'Prints one JSON line {"base_url", "cdn_base_url", "token"} once it serves.',
    )
    parser.add_argument("--host", default=LOOPBACK_HOST, help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="API port (0: a free one)")
    parser.add_argument("--cdn-port", type=int, default=0, help="file CDN port (0: a free one)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="jobs run at once")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help="real seconds per model second (0.01: 100x faster)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"seed of every draw; request ids repeat only when it is given (default: draws "
        f"seeded {DEFAULT_SEED}, ids unique to this run)",
    )
    parser.add_argument("--token", default=None, help="bearer token (default: a random one)")
    parser.add_argument(
        "--retention-s",
        type=float,
        default=DEFAULT_RETENTION_S,
        help="how long finished jobs stay readable",
    )
    parser.add_argument(
        "--fault-rate",
        action="append",
        default=[],
        metavar="[ENDPOINT:]KIND=P",
        help="inject a fault: KIND is 429, 5xx, reset, slow, 200error or dropped (submit); "
        f"ENDPOINT is one of {', '.join(ENDPOINTS)} (default: all). Repeatable.",
    )
    parser.add_argument(
        "--retry-after",
        type=float,
        default=DEFAULT_RETRY_AFTER_S,
        help="seconds a 429 asks the client to wait",
    )
    parser.add_argument(
        "--retry-after-form",
        choices=("seconds", "http-date"),
        default="seconds",
        help="how a 429 writes Retry-After",
    )
    parser.add_argument(
        "--slow-s", type=float, default=DEFAULT_SLOW_S, help="delay of a slow answer"
    )
    parser.add_argument(
        "--failure-rate",
        action="append",
        default=[],
        metavar="[MODEL=]P",
        help="the share of jobs that fail, on every model (P) or on one model (MODEL=P), "
        "Ideogram models included; failed jobs carry a string, object or list error. "
        "Repeatable.",
    )
    parser.add_argument(
        "--balance",
        type=float,
        default=None,
        metavar="USD",
        help="what each token may spend; then submits answer 402 / 400002 (default: no limit)",
    )
    parser.add_argument(
        "--cdn-https",
        action="store_true",
        help="serve output files over HTTPS as cdn.sandbox.runcomfy.net with a test CA "
        "(needs trustme); the JSON line then names the CA file",
    )
    parser.add_argument(
        "--stats-file", type=Path, default=None, help="write the stats as JSON here on exit"
    )
    return parser


def serve_main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the standalone sandbox; return the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        faults = fault_plan(
            args.fault_rate,
            retry_after_s=args.retry_after,
            retry_after_form=args.retry_after_form,
            slow_s=args.slow_s,
        )
        everywhere, per_model = failure_rates(args.failure_rate)
        sandbox = Sandbox(
            token=args.token,
            seed=args.seed,
            workers=args.workers,
            time_scale=args.time_scale,
            retention_s=args.retention_s,
            faults=faults,
            host=args.host,
            port=args.port,
            cdn_port=args.cdn_port,
            failure_rate=everywhere,
            balance_usd=args.balance,
            cdn_https=args.cdn_https,
        )
        served = sandbox.models
        for model_id, rate in per_model.items():
            if model_id not in served:
                raise ValueError(f"--failure-rate: no model {model_id!r} is served")
            sandbox.register_model(attrs.evolve(served[model_id], failure_rate=rate))
    except ValueError as exc:
        parser.error(str(exc))
    except SandboxDependencyError as exc:
        return _unavailable(parser, exc)
    final_stats: list[StatsSnapshot] = []
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(sandbox, final_stats))
    except SandboxDependencyError as exc:
        # Pillow (or, with --cdn-https, cryptography) is not installed: what to install, in
        # one line, rather than a traceback.
        return _unavailable(parser, exc)
    except OSError as exc:
        # Typically the port is taken: say so in one line rather than a traceback.
        sys.stderr.write(f"{parser.prog}: cannot serve: {exc}\n")
        return 1
    finally:
        if args.stats_file is not None and final_stats:
            stats = final_stats[0].to_json_dict()
            args.stats_file.write_text(json.dumps(stats, indent=1), encoding="utf-8")
    return 0


def _unavailable(parser: argparse.ArgumentParser, error: SandboxDependencyError) -> int:
    sys.stderr.write(f"{parser.prog}: error: {error}\n")
    return _EXIT_UNAVAILABLE


async def _serve(sandbox: Sandbox, final_stats: list[StatsSnapshot]) -> None:
    """Serve until a signal; leave the stats in `final_stats` however it ends."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Where the loop cannot take signal handlers (Windows), Ctrl-C still ends asyncio.run.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with sandbox:
        with tempfile.TemporaryDirectory(prefix="runcomfy-sandbox-") as folder:
            try:
                line: dict[str, Any] = {
                    "base_url": sandbox.base_url,
                    "cdn_base_url": sandbox.cdn_base_url,
                    "token": sandbox.token,
                }
                if sandbox.cdn_https:
                    ca_file = Path(folder) / "cdn-ca.pem"
                    ca_file.write_bytes(sandbox.cdn_ca_pem)
                    line.update(cdn_ca_file=str(ca_file), cdn_host=sandbox.cdn_host)
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
                await stop.wait()
            finally:
                final_stats.append(sandbox.stats.snapshot())
