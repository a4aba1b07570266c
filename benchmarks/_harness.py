"""What every benchmark shares: the sandbox process, CPU pinning, probes, tables, JSON.

Each benchmark module has ``run(quick: bool) -> dict``; the dict it returns carries its
figures (``figures``), display tables (``tables``), its goals (``goals``) and notes
(``notes``).
`__main__` adds the metadata and writes ``OUT/NAME.json``; `report` renders the README from
those files, so no figure is ever typed by hand.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import json
import math
import multiprocessing
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import psutil

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# With two cores or more, the sandbox gets the first core this process may use and the
# process under test the second, so neither steals the other's CPU and a client's CPU
# figure is its own. Read at import, before `pin_client` narrows this process's mask.
_USABLE_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
SANDBOX_CPU = _USABLE_CPUS[0] if len(_USABLE_CPUS) >= 2 else 0
CLIENT_CPU = _USABLE_CPUS[1] if len(_USABLE_CPUS) >= 2 else 1

# Longest wait for the sandbox process to answer a command (a stats snapshot of 100,000
# job records takes a few seconds; anything near this means it hung).
ANSWER_TIMEOUT_S = 120.0

# The one model every zero-time benchmark uses, and the one with run times.
ZERO_MODEL = "bench/zero-time"
TIMED_MODEL = "bench/lognormal"


def prompts(n: int) -> list[dict[str, str]]:
    """``n`` distinct, valid inputs for the benchmark models."""
    return [{"prompt": f"p{i}"} for i in range(n)]


# --- Cores ---------------------------------------------------------------------------------


def _cpu_pair() -> tuple[int, int] | None:
    if len(_USABLE_CPUS) < 2:
        return None
    return SANDBOX_CPU, CLIENT_CPU


def pin_client() -> dict[str, Any]:
    """Pin this process (the client under test) to its core; say what was done."""
    pair = _cpu_pair()
    if pair is None:
        return {"pinned": False, "reason": "fewer than two cores"}
    try:
        os.sched_setaffinity(0, {pair[1]})
    except OSError as exc:
        return {"pinned": False, "reason": f"sched_setaffinity failed: {exc}"}
    return {"pinned": True, "sandbox_cpu": pair[0], "client_cpu": pair[1]}


def sandbox_cpu() -> int | None:
    """The core the sandbox process pins itself to, or None when not pinning."""
    pair = _cpu_pair()
    return None if pair is None else pair[0]


def cpu_seconds() -> float:
    """CPU seconds (user + system) used by this process so far."""
    return time.process_time()


# --- The sandbox process -------------------------------------------------------------------


def model(
    model_id: str, *, median_s: float = 0.0, sigma: float = 0.0, failure_rate: float = 0.0
) -> dict[str, Any]:
    """A model for the sandbox config."""
    return {
        "model_id": model_id,
        "median_s": median_s,
        "sigma": sigma,
        "failure_rate": failure_rate,
        "output_kind": "image",
    }


class SandboxProcess:
    """A sandbox serving from a child process (pinned to its own core when there are two).

    ``with SandboxProcess(workers=64, time_scale=0.05, models=[...]) as sb:`` gives
    ``sb.base_url`` and ``sb.token``; ``sb.stats()`` asks for a snapshot of its counters.
    Its calls block: use them between measurements, not inside one.
    """

    def __init__(
        self,
        *,
        models: Sequence[dict[str, Any]],
        workers: int = 64,
        time_scale: float = 1.0,
        seed: int = 0,
        faults: dict[str, Any] | None = None,
        stats_file: Path | None = None,
    ) -> None:
        self.config: dict[str, Any] = {
            "seed": seed,
            "workers": workers,
            "time_scale": time_scale,
            "models": list(models),
            "faults": faults,
            "cpu": sandbox_cpu(),
            "stats_file": str(stats_file) if stats_file else None,
        }
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self.base_url = ""
        self.token = ""
        self.pid = 0

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        # stderr goes to a file rather than a pipe: a pipe nobody reads could fill and block
        # the sandbox in the middle of a measurement.
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._sandbox_server", json.dumps(self.config)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        # A thread reads the answers, so that a sandbox that hangs or dies makes a call
        # fail after ANSWER_TIMEOUT_S instead of blocking the benchmark (and CI) for ever.
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(
            target=self._pump, args=(self._proc.stdout,), name="sandbox-reader", daemon=True
        )
        self._reader.start()
        self._hello(self._read())

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put("")  # end of output: the process is gone

    def _hello(self, hello: dict[str, Any]) -> None:
        self.base_url = hello["base_url"]
        self.token = hello["token"]
        self.pid = hello["pid"]

    def fresh(self) -> None:
        """Replace the sandbox by a new one from the same config: new ports and token, jobs
        numbered from 0 again (so the same seed gives the same run times), zero counters."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"cmd": "fresh"}) + "\n")
        self._proc.stdin.flush()
        self._hello(self._read())

    def _read(self) -> dict[str, Any]:
        assert self._proc is not None
        try:
            line = self._lines.get(timeout=ANSWER_TIMEOUT_S)
        except queue.Empty:
            raise RuntimeError(
                f"the sandbox process did not answer within {ANSWER_TIMEOUT_S:g} s: "
                f"{self._stderr_text()}"
            ) from None
        if not line:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            raise RuntimeError(f"the sandbox process ended: {self._stderr_text()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text: str = self._stderr.read()
        return text[-4000:]

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        answer = self._read()
        if not answer.get("ok"):
            raise RuntimeError(f"sandbox command {command} failed: {answer}")
        return answer

    def stats(self, *, jobs: bool = False) -> dict[str, Any]:
        """The sandbox's counters now (with one record per job when ``jobs``)."""
        stats: dict[str, Any] = self._ask({"cmd": "stats", "jobs": jobs})["stats"]
        return stats

    def reset_stats(self) -> None:
        self._ask({"cmd": "reset"})

    def cpu_seconds(self) -> float:
        """CPU seconds the sandbox process has used so far."""
        return float(self._ask({"cmd": "cpu"})["cpu_s"])

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()  # the sandbox's cue to stop
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.terminate()  # our own child, by its handle
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def requests_in(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Requests per endpoint between two stats snapshots, and their total as ``total``."""
    b = before["requests_by_endpoint"]
    a = after["requests_by_endpoint"]
    delta = {k: int(a.get(k, 0)) - int(b.get(k, 0)) for k in set(a) | set(b)}
    delta = {k: v for k, v in delta.items() if v}
    delta["total"] = int(after["total_requests"]) - int(before["total_requests"])
    return delta


def statuses_in(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Answers per HTTP status between two stats snapshots."""
    b = before["responses_by_status"]
    a = after["responses_by_status"]
    delta = {k: int(a.get(k, 0)) - int(b.get(k, 0)) for k in set(a) | set(b)}
    return {k: v for k, v in sorted(delta.items()) if v}


# --- Isolation -----------------------------------------------------------------------------


def run_isolated(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a fresh interpreter (spawned) and return its result.

    For figures that a process's history would distort: peak RSS, memory growth.
    ``fn`` must be a module-level function; its result must pickle.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


# --- Probes --------------------------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident set size now."""
    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports it in KiB)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak * (1 if sys.platform == "darwin" else 1024))


class RssSampler:
    """Samples this process's RSS from a thread every ``interval`` seconds.

    A thread rather than a task: it keeps sampling even when the event loop is too busy
    to run a task, which is exactly when memory may peak.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._process = psutil.Process()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), int(self._process.memory_info().rss)))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


class LoopLagProbe:
    """A task that sleeps ``period`` in a loop and records how late each wake-up is.

    The overshoot is the event loop's responsiveness: how long any callback (a timer, an
    arriving answer) waits because the loop is busy elsewhere.
    """

    def __init__(self, period: float = 0.010) -> None:
        self.period = period
        self.samples: list[tuple[float, float]] = []  # (when, overshoot in seconds)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.period)
            now = loop.time()
            self.samples.append((now, max(0.0, now - start - self.period)))

    async def __aenter__(self) -> LoopLagProbe:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def between(self, start: float, end: float) -> list[float]:
        """Overshoots of wake-ups between two ``loop.time()`` instants."""
        return [lag for when, lag in self.samples if start <= when <= end]


class MachineLoad:
    """How much CPU *other* processes used while a benchmark ran, in cores.

    Machine-wide busy time, minus this process's CPU and its children's (the sandbox, the
    loader, spawned clients: all waited for by the end, so ``RUSAGE_CHILDREN`` has them).
    On a shared machine this says how disturbed a run was.
    """

    def __init__(self) -> None:
        self.other_cores: float | None = None
        self.loadavg_before: float | None = None

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    @staticmethod
    def _ours() -> float:
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def __enter__(self) -> MachineLoad:
        with contextlib.suppress(OSError):
            self.loadavg_before = round(os.getloadavg()[0], 2)
        self._t0, self._busy0, self._ours0 = time.monotonic(), self._busy(), self._ours()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self._t0
        other = (self._busy() - self._busy0) - (self._ours() - self._ours0)
        self.other_cores = round(max(0.0, other) / wall, 2) if wall > 0 else None


# --- Statistics ----------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def oracle_makespan(durations: Sequence[float], slots: int) -> float:
    """When the last job ends if ``slots`` run jobs back to back with no gap at all.

    Jobs start in the order given (submission order), each on the first slot to free up:
    what a client with zero detection lag and zero request time would achieve.
    """
    free = [0.0] * slots
    end = 0.0
    for duration in durations:
        start = heapq.heappop(free)
        finish = start + duration
        end = max(end, finish)
        heapq.heappush(free, finish)
    return end


def max_concurrent(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals that overlap at one instant."""
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at the same instant
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


# --- Output --------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: numbers with ``digits`` significant digits, booleans as yes/no."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if value == 0:
            return "0"
        magnitude = math.floor(math.log10(abs(value)))
        decimals = max(0, digits - 1 - magnitude)
        return f"{value:,.{decimals}f}"
    return str(value)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """A display table, kept in the JSON so that the README renders exactly what ran."""
    return {
        "title": title,
        "columns": list(columns),
        "rows": [[fmt(cell) for cell in row] for row in rows],
    }


def goal(name: str, met: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "met": bool(met), "detail": detail}


def render_text(tbl: dict[str, Any]) -> str:
    """A table as aligned plain text, for the console."""
    columns: list[str] = tbl["columns"]
    rows: list[list[str]] = tbl["rows"]
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [tbl["title"], "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(cell.rjust(w) if i else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def render_markdown(tbl: dict[str, Any]) -> str:
    columns: list[str] = tbl["columns"]
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|",
    ]
    for row in tbl["rows"]:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def print_result(result: dict[str, Any]) -> None:
    for tbl in result.get("tables", []):
        print()
        print(render_text(tbl))
    goals = result.get("goals", [])
    if goals:
        print()
        for g in goals:
            print(f"  goal {'MET    ' if g['met'] else 'NOT MET'} {g['name']}: {g['detail']}")
    for note in result.get("notes", []):
        print(f"  note: {note}")
    sys.stdout.flush()


def _git(*args: str) -> str | None:
    # Read-only queries, for the record of what was measured.
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def metadata(
    name: str, quick: bool, argv: Sequence[str], pinning: dict[str, Any]
) -> dict[str, Any]:
    """Where, when and how a benchmark ran."""
    import aiohttp

    import runcomfy_async

    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "benchmark": name,
        "command": "python -m benchmarks " + " ".join(argv),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "form": "quick" if quick else "full",
        "quick": quick,
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "pinning": pinning,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "event_loop": "asyncio (default selector loop)",
        "runcomfy_async": runcomfy_async.__version__,
        "aiohttp": aiohttp.__version__,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(dirty) if dirty is not None else None,
        "library_source_sha256": library_source_hash(),
    }


def library_source_hash() -> str:
    """A hash of the library's source files as measured.

    The commit alone does not say what ran when the working tree has uncommitted changes;
    this does (same hash, same code), for every run.
    """
    import hashlib

    digest = hashlib.sha256()
    package = REPO_ROOT / "runcomfy_async"
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def write_result(out_dir: Path, name: str, result: dict[str, Any]) -> Path:
    """Write ``OUT/NAME.json`` atomically (a half-written file would break the report)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
