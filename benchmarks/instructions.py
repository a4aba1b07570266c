"""1b. instructions: the throughput benchmark counted in CPU instructions per job.

The jobs/s of §1 drift with whatever else runs on the shared machine; a count of the
instructions the client executes per job does not. The same two variants as §1 (the
minimal aiohttp loop and ``client.map``, zero-time jobs, 2 requests each) run in a child
process under ``valgrind --tool=callgrind``, against a sandbox that serves from its own
process at full speed (not under valgrind). Each variant runs a short batch of N₁ jobs and
a long one of N₂ at the same concurrency, and

    instructions per job = (Ir(N₂) − Ir(N₁)) / (N₂ − N₁)

so that what a batch costs once (its session, its C connections, the ramp-up and the
drain) cancels out, as does the interpreter's start. Callgrind writes each round's count to
a file of its own (``--dump-before`` on a marker call that brackets every round), so one
interpreter start serves every round of a child. The full form runs two such children side
by side (one per core): two independent measurements of every figure, whose spread says how
well the count repeats.

The same count for two loops that stop at a layer of the library (``_layers``: the
transport only, then the API layer on it) says where client.map's instructions go: the
transport, the API layer and the batch engine each get their share of client.map's excess
over the aiohttp loop.

Callgrind executes the client some 30–50 times slower than the hardware while the sandbox
answers at its normal speed, so more answers are waiting each time the client's event loop
looks: a count under callgrind is the cost of a job to a client that is its own bottleneck,
which is the regime where the ratio of §1 by CPU per job applies. Two things are made to
not depend on the pace (see the notes): the adaptive planner's refit throttle reads a clock
slowed to match, and the cyclic garbage collector runs once at the end of each round.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._harness import (
    CLIENT_CPU,
    REPO_ROOT,
    SANDBOX_CPU,
    ZERO_MODEL,
    SandboxProcess,
    goal,
    model,
    sandbox_cpu,
    table,
)
from ._instructions_child import MARKER_FUNCTION
from ._layers import API, LAYERS, TRANSPORT
from .throughput import (
    CONCURRENCIES,
    GOAL_RATIO,
    SLOW_CONNECT_TIMEOUT_S,
    SLOW_TOTAL_TIMEOUT_S,
    VALGRIND_SLOWDOWN,
    VARIANTS,
)

LOOP, MAP = "aiohttp loop", "client.map"

# The measurement repeats when two runs agree within ± this fraction (the claim).
REPEAT_TOLERANCE = 0.005

# Callgrind without the cache and branch simulators: counting instructions needs neither.
CALLGRIND_OPTIONS = (
    "--tool=callgrind",
    "-q",
    "--cache-sim=no",
    "--branch-sim=no",
    f"--dump-before={MARKER_FUNCTION}",
)

# (N₁, N₂) per concurrency in the full form: 800 and 1,000 jobs apart. At C = 1,000 a
# batch's own cost is about that of 1,000 jobs, and varies by a few million instructions
# with the timing of its ramp-up: the longer difference keeps that well under ± 0.5 %.
FULL_LENGTHS = {64: (200, 1_000), 1_000: (1_000, 2_000)}

# A child that runs longer than this has hung (the full form's take a few minutes).
CHILD_TIMEOUT_S = 1800.0


def _plan(quick: bool) -> dict[str, Any]:
    """Batch lengths (N₁, N₂) per concurrency, and how many children measure them.

    N₁ ≥ C, so that both batches open all C connections and run at full concurrency for a
    while: only then do their fixed costs match. The quick form (CI) measures C = 64 only,
    once: an interpreter start under callgrind alone takes 20–30 s.
    """
    if quick:
        return {"lengths": {64: (64, 192)}, "children": 1, "warmup": 20}
    return {"lengths": {c: FULL_LENGTHS[c] for c in CONCURRENCIES}, "children": 2,
            "warmup": 100}


# The layers (transport, API: see `_layers`) are counted at the first concurrency only:
# where client.map's instructions go does not depend on it, and each adds two batches.
LAYER_CONCURRENCY = CONCURRENCIES[0]


def _rounds(lengths: dict[int, tuple[int, int]]) -> list[dict[str, Any]]:
    """Per concurrency: loop N₁, map N₁, map N₂, loop N₂ (each variant early and late);
    then, at ``LAYER_CONCURRENCY``, the same for the transport and API loops."""
    rounds = []
    for c, (n1, n2) in lengths.items():
        for name, n in ((LOOP, n1), (MAP, n1), (MAP, n2), (LOOP, n2)):
            rounds.append({"variant": name, "jobs": n, "concurrency": c})
    n1, n2 = lengths[LAYER_CONCURRENCY]
    for name, n in ((TRANSPORT, n1), (API, n1), (API, n2), (TRANSPORT, n2)):
        rounds.append({"variant": name, "jobs": n, "concurrency": LAYER_CONCURRENCY})
    return rounds


def _layers(results: list[dict[str, Any]]) -> dict[str, float]:
    """Instructions per job of each loop at ``LAYER_CONCURRENCY``, mean of the children."""
    c = LAYER_CONCURRENCY
    return {
        name: sum(_per_job(result["rounds"], c, name)["per_job"] for result in results)
        / len(results)
        for name in (LOOP, TRANSPORT, API, MAP)
    }


def _layer_rows(per_job: dict[str, float]) -> list[list[Any]]:
    """What each layer adds per job, and its share of client.map's excess over the loop."""
    excess = per_job[MAP] - per_job[LOOP]
    steps = [
        ("aiohttp loop (the baseline)", LOOP, None),
        ("transport (http/): one request, its timeouts, reading its answer", TRANSPORT, LOOP),
        ("API (api/, core/_parse.py): shield, witness, retry policy, typed results", API,
         TRANSPORT),
        ("batch engine (batch/): slots, rate, planner, outcomes", MAP, API),
    ]
    rows: list[list[Any]] = []
    for label, name, below in steps:
        if below is None:
            rows.append([label, per_job[name] / 1e6, None, None])
            continue
        added = per_job[name] - per_job[below]
        rows.append([label, per_job[name] / 1e6, added / 1e6,
                     f"{added / excess:.0%}" if excess else "–"])
    return rows


def _instructions(path: Path) -> int:
    """The total instruction count (Ir) of one callgrind output file."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no summary line in callgrind output {path}")


class _Child:
    """One valgrind process running every round of the plan against the sandbox."""

    def __init__(self, index: int, valgrind: str, plan: dict[str, Any], work: Path) -> None:
        self.index = index
        self.out = work / f"callgrind.{index}.out"
        self._stdout = (work / f"child.{index}.stdout").open("w+", encoding="utf-8")
        self._stderr = (work / f"child.{index}.stderr").open("w+", encoding="utf-8")
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        env.pop("PYTHONMALLOC", None)
        self.started = time.perf_counter()
        self.ended: float | None = None
        self.timed_out = False
        self.proc = subprocess.Popen(
            [valgrind, *CALLGRIND_OPTIONS, f"--callgrind-out-file={self.out}",
             sys.executable, "-m", "benchmarks._instructions_child", json.dumps(plan)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            env=env,
        )
        if sandbox_cpu() is not None:
            # Side by side, the children take a core each (the sandbox, which answers a few
            # hundred requests a second here, shares the second).
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {(CLIENT_CPU, SANDBOX_CPU)[index % 2]})

    def finished(self) -> bool:
        """Whether the child has ended, noting when (or killing it once it has hung)."""
        if self.ended is None:
            if self.proc.poll() is None:
                if time.perf_counter() - self.started < CHILD_TIMEOUT_S:
                    return False
                self.proc.kill()  # our own child, by its handle
                self.proc.wait()
                self.timed_out = True
            self.ended = time.perf_counter()
        return True

    def result(self) -> dict[str, Any]:
        """The child's rounds with their counts; raises if it failed."""
        assert self.ended is not None
        code = None if self.timed_out else self.proc.returncode
        seconds = self.ended - self.started
        self._stdout.seek(0)
        self._stderr.seek(0)
        stdout, stderr = self._stdout.read(), self._stderr.read()
        self._stdout.close()
        self._stderr.close()
        if code != 0:
            raise RuntimeError(
                f"the callgrind child {self.index} "
                f"{'timed out' if code is None else f'exited with {code}'}: {stderr[-3000:]}"
            )
        rounds = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        for r in rounds:
            r["child"] = self.index
            r["instructions"] = _instructions(Path(f"{self.out}.{r['dump']}"))
        return {"seconds": seconds, "rounds": rounds}


def _per_job(rounds: list[dict[str, Any]], c: int, name: str) -> dict[str, Any]:
    """Instructions per job from one child's two batch lengths of a variant."""
    short, long = sorted(
        (r for r in rounds if r["concurrency"] == c and r["variant"] == name),
        key=lambda r: r["jobs"],
    )
    per_job = (long["instructions"] - short["instructions"]) / (long["jobs"] - short["jobs"])
    return {
        "per_job": per_job,
        # What a batch costs beyond its jobs: session, connections, ramp-up and drain.
        "per_batch": short["instructions"] - per_job * short["jobs"],
        "n1": short["jobs"],
        "n2": long["jobs"],
    }


def _spread(values: list[float]) -> float:
    """Half the range, as a fraction of the mean: ± how far the repeats lie apart."""
    mean = sum(values) / len(values)
    return (max(values) - min(values)) / 2 / mean if mean else 0.0


def _not_run(reason: str) -> dict[str, Any]:
    return {
        "figures": {"ran": False, "reason": reason},
        "tables": [],
        "goals": [
            goal(
                f"client.map within {GOAL_RATIO:.0%} of the aiohttp loop by instructions per "
                "job (loop ÷ client.map)",
                False,
                f"not run: {reason}",
            )
        ],
        "notes": [f"Not measured: {reason}."],
    }


def run(quick: bool) -> dict[str, Any]:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return _not_run("valgrind is not installed (Debian: apt-get install valgrind)")
    plan = _plan(quick)
    lengths: dict[int, tuple[int, int]] = plan["lengths"]
    rounds_plan = _rounds(lengths)
    warmup = [{"variant": name, "jobs": plan["warmup"], "concurrency": LAYER_CONCURRENCY}
              for name in [*VARIANTS, *LAYERS]]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="runcomfy-callgrind-") as tmp, SandboxProcess(
        models=[model(ZERO_MODEL)], workers=64
    ) as sb:
        before = sb.stats()
        child_plan = {"base_url": sb.base_url, "token": sb.token, "warmup": warmup,
                      "rounds": rounds_plan}
        children = [_Child(i, valgrind, child_plan, Path(tmp)) for i in range(plan["children"])]
        # Poll every child on each pass, so that each one's end is noted when it comes.
        while [child for child in children if not child.finished()]:
            time.sleep(0.5)
        results = [child.result() for child in children]
        after = sb.stats()
    wall = time.perf_counter() - started
    rounds = [r for result in results for r in result["rounds"]]
    jobs_sent = plan["children"] * sum(
        int(r["jobs"]) for r in [*warmup, *rounds_plan]
    )
    requests = int(after["total_requests"]) - int(before["total_requests"])
    failures = sum(int(r["failures"]) for r in rounds)

    measured = sorted(lengths)
    figures: dict[str, Any] = {
        "ran": True,
        "lengths": {str(c): list(lengths[c]) for c in measured},
        "children": plan["children"],
        "by_concurrency": {},
        "rounds": rounds,
        "child_seconds": [result["seconds"] for result in results],
        "requests_per_job": requests / jobs_sent,
        "failures": failures,
    }
    summary: list[list[Any]] = []
    goals: list[dict[str, Any]] = []
    spreads: list[float] = []
    for c in measured:
        per_child = {
            name: [_per_job(result["rounds"], c, name) for result in results] for name in VARIANTS
        }
        means = {
            name: sum(m["per_job"] for m in per_child[name]) / len(per_child[name])
            for name in VARIANTS
        }
        ratios = [
            loop["per_job"] / ours["per_job"]
            for loop, ours in zip(per_child[LOOP], per_child[MAP], strict=True)
        ]
        ratio = means[LOOP] / means[MAP]
        entry = {
            "per_job": means,
            "ratio": ratio,
            "ratio_by_child": ratios,
            "by_child": per_child,
            "spread": {name: _spread([m["per_job"] for m in per_child[name]])
                       for name in VARIANTS},
        }
        figures["by_concurrency"][str(c)] = entry
        spreads += list(entry["spread"].values())
        n1, n2 = lengths[c]
        for name in VARIANTS:
            values = [m["per_job"] for m in per_child[name]]
            per_batch = sum(m["per_batch"] for m in per_child[name]) / len(values)
            summary.append([
                c, name, f"{n1:,} / {n2:,}", *(v / 1e6 for v in values),
                means[name] / 1e6,
                f"± {entry['spread'][name]:.2%}" if len(values) > 1 else "–",
                per_batch / 1e6,
            ])
        summary.append([
            c, "loop ÷ client.map", "", *ratios, ratio,
            f"± {_spread(ratios):.2%}" if len(ratios) > 1 else "–", None,
        ])
        goals.append(goal(
            f"client.map within {GOAL_RATIO:.0%} of the aiohttp loop by instructions per job "
            f"at concurrency {c:,} (loop ÷ client.map ≥ {GOAL_RATIO:.2f})",
            ratio >= GOAL_RATIO,
            f"{ratio:.2f}: {means[LOOP] / 1e6:.3f} M instructions per job for the loop, "
            f"{means[MAP] / 1e6:.3f} M for client.map "
            f"({(means[MAP] - means[LOOP]) / 1e6:+.3f} M)",
        ))
    layers = _layers(results)
    figures["layers"] = {"concurrency": LAYER_CONCURRENCY, "per_job": layers}
    if plan["children"] > 1:
        worst = max(spreads)
        goals.append(goal(
            f"the counts repeat within ± {REPEAT_TOLERANCE:.1%} across independent runs",
            worst <= REPEAT_TOLERANCE,
            f"widest spread ± {worst:.2%} over {plan['children']} runs",
        ))
    goals.append(goal(
        "every job succeeded, with 2 requests each",
        failures == 0 and requests == 2 * jobs_sent,
        f"{failures} failures; {requests / jobs_sent:.3f} requests per job "
        "(sandbox's count, warm-up included)",
    ))
    run_columns = [f"run {i + 1}, M/job" for i in range(plan["children"])]
    rows = [
        [r["child"] + 1, r["concurrency"], r["variant"], r["jobs"], r["instructions"] / 1e6,
         r["seconds"], r["failures"]]
        for r in sorted(rounds, key=lambda r: (r["child"], r["dump"]))
    ]
    notes = [
        f"valgrind {_valgrind_version(valgrind)}, options: {' '.join(CALLGRIND_OPTIONS)}; "
        "PYTHONHASHSEED=0. Each child first runs a warm-up batch of each variant "
        f"({plan['warmup']} jobs), then freezes what it holds out of the cyclic collector's "
        "sight (gc.freeze). The collector is paused during each round and runs once at its "
        "end, inside the count: its work is counted as the garbage the round left, not at "
        "instants that depend on timing (running freely, it walks whatever is in flight when "
        "it runs, and the count varies by 1–2 % from run to run; its share is then a few % "
        "higher, for both variants).",
        (f"{plan['children']} child processes side by side, one per core"
         if plan["children"] > 1 else "One child process")
        + f": {wall:.0f} s in all ("
        + ", ".join(f"{s:.0f} s" for s in figures["child_seconds"])
        + " per child). Seconds per round are under callgrind, not the client's speed.",
        "'per batch' is what a batch costs beyond its jobs (session, C connections, ramp-up "
        "and drain): Ir(N₁) − N₁ × the instructions per job.",
        "In the child, both variants' timeouts are lengthened (connect "
        f"{SLOW_CONNECT_TIMEOUT_S:g} s, read and total {SLOW_TOTAL_TIMEOUT_S:g} s) so that "
        "none expires at valgrind's pace; the same timers are armed, so the work per job is "
        "unchanged. The adaptive planner's refit throttle (at most one refit per "
        f"interval) reads a clock slowed {VALGRIND_SLOWDOWN:g}-fold, so that refits fall on "
        "as many jobs as at full speed rather than on as few as valgrind's pace and the "
        "machine's load allow.",
    ]
    if 1_000 not in lengths:
        notes.append("The quick form measures concurrency 64 only; the full form adds 1,000.")
    return {
        "figures": figures,
        "tables": [
            table(
                "instructions: millions of CPU instructions per job (Ir under callgrind), "
                "from the difference of two batch lengths N₁ / N₂",
                ["concurrency", "variant", "N₁ / N₂", *run_columns, "mean", "spread",
                 "per batch, M"],
                summary,
            ),
            table(
                f"instructions: where client.map's go, layer by layer, at concurrency "
                f"{LAYER_CONCURRENCY} (loops that stop at each layer, same two requests per "
                "job)",
                ["down to", "M/job", "added, M/job", "share of client.map − loop"],
                _layer_rows(layers),
            ),
            table(
                "instructions: every round, in the order run",
                ["run", "concurrency", "variant", "jobs", "instructions, M",
                 "seconds under callgrind", "failures"],
                rows,
            ),
        ],
        "goals": goals,
        "notes": notes,
    }


def _valgrind_version(valgrind: str) -> str:
    try:
        out = subprocess.run([valgrind, "--version"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip().removeprefix("valgrind-") or "?"
