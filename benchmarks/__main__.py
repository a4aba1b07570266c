"""``python -m benchmarks NAME [--quick] [--out DIR]``, ``all``, and ``report``.

- ``NAME``: one benchmark (``throughput``, ``instructions``, ``polling``, ``scale``,
  ``storm``, ``sandbox``, ``concurrent_runs``, ``downloads``, ``startup``);
  prints its tables and writes ``DIR/NAME.json`` (default ``benchmarks/results/``).
- ``all``: every benchmark, each in a fresh interpreter (so that one's memory and threads
  cannot colour the next one's figures, and a crash in one does not stop the others).
- ``report``: regenerate ``benchmarks/README.md`` from ``DIR/*.json``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

from ._harness import (
    REPO_ROOT,
    RESULTS_DIR,
    MachineLoad,
    library_source_hash,
    metadata,
    pin_client,
    print_result,
    write_result,
)

BENCHMARKS = (
    "sandbox", "throughput", "instructions", "polling", "scale", "storm", "concurrent_runs",
    "downloads", "startup",
)
INVOKED_AS_ENV = "RUNCOMFY_BENCHMARKS_INVOKED_AS"


def _run_one(name: str, quick: bool, out: Path, argv: list[str]) -> int:
    pinning = pin_client()
    module = importlib.import_module(f"benchmarks.{name}")
    print(f"=== {name} ({'quick' if quick else 'full'} form) ===", flush=True)
    meta = metadata(name, quick, argv, pinning)
    # Under `all`, the command that was typed, besides this benchmark's own.
    meta["invoked_as"] = os.environ.get(INVOKED_AS_ENV, meta["command"])
    started = time.perf_counter()
    with MachineLoad() as load:
        result = module.run(quick)
    elapsed = time.perf_counter() - started
    meta["seconds"] = round(elapsed, 1)
    meta["other_load_cores"] = load.other_cores
    meta["loadavg_before"] = load.loadavg_before
    # Spawned clients and the sandbox import the library afresh: if its files changed
    # during the run, the figures may mix two versions of it.
    meta["library_changed_during_run"] = library_source_hash() != meta["library_source_sha256"]
    document = {"meta": meta, **result}
    print_result(document)
    if meta["library_changed_during_run"]:
        print("  WARNING: the library's sources changed during the run", flush=True)
    path = write_result(out, name, document)
    print(f"  wrote {path} ({elapsed:.1f} s)", flush=True)
    return 0


def _out_args(out: Path) -> list[str]:
    """``--out DIR`` as a reader would type it: left out for the default, else relative to
    the repository when inside it."""
    if out == RESULTS_DIR.resolve():
        return []
    try:
        return ["--out", str(out.relative_to(REPO_ROOT))]
    except ValueError:
        return ["--out", str(out)]


def _run_all(quick: bool, out: Path, argv: list[str]) -> int:
    failed = []
    started = time.perf_counter()
    env = {**os.environ, INVOKED_AS_ENV: "python -m benchmarks " + " ".join(argv)}
    for name in BENCHMARKS:
        command = [sys.executable, "-m", "benchmarks", name, *_out_args(out)]
        if quick:
            command.append("--quick")
        code = subprocess.run(command, cwd=REPO_ROOT, env=env).returncode
        if code != 0:
            failed.append(name)
    print(f"=== all: {len(BENCHMARKS) - len(failed)}/{len(BENCHMARKS)} ran "
          f"in {time.perf_counter() - started:.0f} s ===")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=(*BENCHMARKS, "all", "report"))
    parser.add_argument("--quick", action="store_true", help="the seconds-long CI form")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="where NAME.json files go (report: where they are read from)")
    parser.add_argument("--readme", type=Path, default=Path(__file__).parent / "README.md",
                        help="report: the file to write")
    args = parser.parse_args(args_list)
    out = args.out.resolve()
    if args.name == "report":
        from .report import write_report

        path = write_report(out, args.readme)
        print(f"wrote {path}")
        return 0
    if args.name == "all":
        return _run_all(args.quick, out, args_list)
    return _run_one(args.name, args.quick, out, args_list)


if __name__ == "__main__":
    sys.exit(main())
