"""The reliability suite's figures file: started fresh and stamped with how it was made.

With ``RUNCOMFY_RELIABILITY_REPORT=path`` set, the slow tests (and the secrets scan) write
their figures into that JSON file (``_support.record_figures``; the session's first write
starts it afresh), and this hook adds a ``run`` section (command, date, outcome) when the
session ends. Without the variable nothing is written. ``render_report.py`` turns the file
into RELIABILITY.md's figures.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ._support import REPORT_ENV, _written_this_run

_started = time.monotonic()
_started_at = datetime.now(timezone.utc)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    path = Path(target)
    data = json.loads(path.read_text()) if _written_this_run and path.exists() else {}
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    counts = {key: len(reporter.stats.get(key, [])) for key in
              ("passed", "failed", "xfailed", "xpassed", "skipped", "error")} if reporter else {}
    data["run"] = {
        # `python -m pytest` shows up as pytest's __main__.py in argv[0].
        "command": " ".join([_program(sys.argv[0]), shlex.join(sys.argv[1:])]),
        "started_at": _started_at.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - _started, 1),
        "exit_status": int(exitstatus),
        "tests": counts,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "commit": _commit(),
        "environment": {k: v for k, v in os.environ.items()
                        if k.startswith("RUNCOMFY_") and k != REPORT_ENV and "TOKEN" not in k
                        and "KEY" not in k},
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _commit() -> str:
    """The commit tested, marked when the library had uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False).stdout.strip()
        # --no-optional-locks: no index refresh, so nothing is written into .git.
        changed = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--",
                                  "runcomfy_async"],
                                 capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return "unknown"
    if not head:
        return "unknown"
    return head + (" + uncommitted library changes" if changed.stdout.strip() else "")


def _program(argv0: str) -> str:
    name = Path(argv0).name
    return "python -m pytest" if name == "__main__.py" else name
