"""Write the figures of the last full reliability run into RELIABILITY.md.

Usage (from the repository root)::

    RUNCOMFY_RELIABILITY_REPORT=tests/reliability/last_full_run.json \\
        .venv/bin/pytest -m "slow or not slow" tests/reliability
    .venv/bin/python tests/reliability/render_report.py \\
        tests/reliability/last_full_run.json RELIABILITY.md

(``-m "slow or not slow"``: the full run is every test, the slow ones with the others;
``-m slow`` alone would leave the others out of the figures.)

Everything between the ``<!-- figures:start -->`` and ``<!-- figures:end -->`` markers of
the Markdown file is replaced; the rest of it is left alone. No figure is typed by hand.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

START = "<!-- figures:start -->"
END = "<!-- figures:end -->"
FAULT_ORDER = ("server_error", "rate_limit", "reset", "slow", "error_in_200",
               "accepted_then_dropped")
STATE_ORDER = ("succeeded", "failed", "unknown", "timed_out", "withdrawn", "cancelled",
               "expired", "refused", "not_sent")


def _kinds(counts: Mapping[str, int], order: tuple[str, ...]) -> str:
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return ", ".join(f"{k} {counts[k]:,}" for k in keys) or "none"


def _batch_rows(title: str, sections: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
    if not sections:
        return [f"### {title}", "", "_not run_", ""]
    head = "| | " + " | ".join(name for name, _ in sections) + " |"
    rows = [f"### {title}", "", head, "|---" * (len(sections) + 1) + "|"]

    def row(label: str, render: Any) -> None:
        rows.append(f"| {label} | " + " | ".join(render(s) for _, s in sections) + " |")

    if "seeds" in sections[0][1]:
        row("seeds", lambda s: f"{s['seeds']}")
        row("kills (SIGKILL)", lambda s: f"{s['kills']}")
        row("kills that landed mid-batch", lambda s: f"{s['crashes']}")
        row("outcomes replayed from the journal", lambda s: f"{s['replayed_from_journal']:,}")
    else:
        row("wall time", lambda s: f"{s['seconds']} s")
    row("inputs", lambda s: f"{s['inputs']:,}")
    row("jobs the sandbox created", lambda s: f"{s['jobs_created']:,}")
    row("faults injected", lambda s: _kinds(s["faults_by_kind"], FAULT_ORDER))
    row("outcomes", lambda s: _kinds(s["outcomes_by_state"], STATE_ORDER))
    row("inputs submitted more than once", lambda s: f"{s['inputs_submitted_twice']}")
    row("inputs run (billed) more than once", lambda s: f"{s.get('inputs_billed_twice', 0)}")
    row("jobs with no request id in the journal (answer lost)", lambda s: f"{s['orphan_jobs']}")
    row("files checked (size and sha256)", lambda s: f"{s['files_checked']:,}")
    row("credentials seen by the CDN", lambda s: f"{s['cdn_credentials_seen']}")
    return [*rows, ""]


def render(data: Mapping[str, Any]) -> str:
    run = data.get("run", {})
    tests = run.get("tests", {})
    lines = [
        START,
        "",
        f"Last full run: **{run.get('started_at', '?')}** (UTC), commit `{run.get('commit', '?')}`,"
        f" Python {run.get('python', '?')} on {run.get('platform', '?')}; "
        f"{run.get('seconds', '?')} s; exit status {run.get('exit_status', '?')}; tests: "
        + ", ".join(f"{v} {k}" for k, v in tests.items() if v) + ".",
        "",
        f"Command: `{run.get('command', '?')}` with "
        "`RUNCOMFY_RELIABILITY_REPORT=tests/reliability/last_full_run.json`"
        + "".join(f", `{k}={v}`" for k, v in sorted(run.get("environment", {}).items()))
        + ".",
        "",
    ]
    lines += _batch_rows("Chaos soak", [
        (name, data[key]) for name, key in (
            ("report unknown outcomes", "chaos_soak_report_unknown"),
            ("`resubmit_unknown=True`", "chaos_soak_resubmit"),
        ) if key in data
    ])
    lines += _batch_rows("Crash and resume", [
        (name, data[key]) for name, key in (
            ("report unknown outcomes", "crash_resume_report_unknown"),
            ("`resubmit_unknown`", "crash_resume_resubmit"),
        ) if key in data
    ])
    secrets = data.get("secrets")
    lines += ["### Secrets", ""]
    if secrets:
        leaks = secrets["leaks_found"]
        lines += [
            f"- Errors provoked and examined: {secrets['errors_examined']} "
            f"({len(secrets['error_kinds'])} kinds: {', '.join(secrets['error_kinds'])}).",
            f"- Searched: {secrets['log_lines']:,} log lines at DEBUG, "
            f"{secrets['reprs_examined']} reprs, every error's text, traceback and pickle, "
            f"{secrets['files_scanned']} files (journal, manifest, downloads); "
            f"{secrets['cdn_requests']} CDN requests watched.",
            "- Leaks found: **" + str(secrets["leaks_total"]) + "** ("
            + ", ".join(f"{k} {v}" for k, v in sorted(leaks.items())) + ").",
            "- Errors from which the token is still *reachable* through a suppressed "
            f"`__context__` (a bug this suite found; fixed): "
            f"{secrets['errors_with_token_reachable_through_suppressed_context']}.",
        ]
    else:
        lines.append("_not run_")
    cli = data.get("cli_secrets")
    if cli:
        lines += [
            f"- Command line (`batch --json -vv` under faults): {cli['files_scanned']} files, "
            f"{cli['stdout_lines']} stdout lines, {cli['stderr_lines']} stderr lines searched; "
            f"leaks found: **{cli['leaks']}**.",
        ]
    lines += ["", END]
    return "\n".join(lines)


def main(report: str, markdown: str) -> None:
    data = json.loads(Path(report).read_text())
    path = Path(markdown)
    text = path.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    path.write_text(before + render(data) + after)


if __name__ == "__main__":
    main(*sys.argv[1:3])
