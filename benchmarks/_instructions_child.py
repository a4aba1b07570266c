"""The client side of ``benchmarks.instructions``, run under callgrind.

``valgrind --tool=callgrind --dump-before=getppid ... python -m benchmarks._instructions_child
PLAN_JSON`` runs the throughput benchmark's variants against a sandbox that serves from
another process (not under valgrind), one round after another, and calls ``os.getppid()``
(the marker, which nothing else here calls) right before and right after each measured round:
callgrind then writes the instructions of each stretch between two markers to a file of its
own, so one interpreter start (about a billion instructions under valgrind's ~50-fold
slowdown) serves every round.

PLAN_JSON: ``{base_url, token, warmup: [ROUND], rounds: [ROUND]}`` with ROUND
``{variant, jobs, concurrency}``. Prints one JSON line per measured round:
``{variant, jobs, concurrency, failures, seconds, dump}``, where ``dump`` is the number of
callgrind's dump that holds the round (its file is ``OUT.DUMP``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from typing import Any

from ._layers import LAYERS
from .throughput import VARIANTS

# Called through the C library, where callgrind sees it by name.
MARKER_FUNCTION = "getppid"


class _Address:
    """The sandbox's address, as the variants take it."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token


class _Marker:
    """Counts the marker's calls: callgrind numbers its dumps the same way, from 1."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        os.getppid()
        self.calls += 1
        return self.calls


def _run(address: _Address, spec: dict[str, Any]) -> int:
    variant = VARIANTS.get(spec["variant"]) or LAYERS[spec["variant"]]
    return asyncio.run(
        variant(address, int(spec["jobs"]), int(spec["concurrency"]), [], slow=True)
    )


def main(argv: list[str]) -> int:
    plan = json.loads(argv[0])
    address = _Address(plan["base_url"], plan["token"])
    for spec in plan.get("warmup", []):  # first calls: lazy imports, caches, the allocator
        _run(address, spec)
    # The cyclic collector's work is counted once per round, as one collection at its end
    # over the garbage the round left. Left to run freely, it runs at instants that depend on
    # timing and walks whatever is in flight then (and, for a full collection, the whole
    # import-time heap): the count would vary by 1-2 % from run to run. Frozen, what the
    # interpreter and the imports hold is out of its sight, so that the end-of-round
    # collection walks the round's objects only.
    gc.collect()
    gc.freeze()
    marker = _Marker()
    for spec in plan["rounds"]:
        gc.collect()
        gc.disable()
        marker()
        t0 = time.perf_counter()
        failures = _run(address, spec)
        gc.collect()
        dump = marker()
        gc.enable()
        seconds = time.perf_counter() - t0
        print(json.dumps({**spec, "failures": failures, "seconds": seconds, "dump": dump}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
