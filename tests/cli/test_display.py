"""What a person sees: the live display on a terminal, progress lines, and the gallery page."""

from __future__ import annotations

import io
import os
import re
import select
import struct
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.console import Console

from runcomfy_async import JobFailedError
from runcomfy_async.batch import JobCompleted, Outcome, OutcomeState
from runcomfy_async.cli._console import Streams
from runcomfy_async.cli._exit_codes import JOBS_FAILED
from runcomfy_async.cli._gallery import latest_records, render_gallery
from runcomfy_async.cli._progress import LineDisplay, format_duration
from runcomfy_async.core._files import StoredFile
from runcomfy_async.core._wire import JobResult, JobState
from runcomfy_async.sandbox import ThreadedSandbox
from runcomfy_async.store._manifest import ManifestRecord

from .conftest import CLI, FLAKY, against, cdn, write_prompts

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the command line with standard error on a pseudo-terminal; return what it drew."""
    import fcntl
    import pty
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    process = subprocess.Popen([*CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=follower, env=env)
    os.close(follower)
    drawn = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is gone: the process ended
                break
            if not chunk:
                break
            drawn += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(leader)
    return process.returncode, drawn.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_a_terminal_gets_a_live_display_with_failures_above_it(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    inputs = write_prompts(tmp_path / "p.txt", [f"flaky {i}" for i in range(8)])
    code, drawn = run_on_a_terminal(
        ["batch", str(inputs), "--model", FLAKY, "--out", str(tmp_path / "out"), *cdn(sandbox)],
        {**against(sandbox), "TERM": "xterm-256color"},
    )
    assert code == JOBS_FAILED
    assert "\x1b[?25l" in drawn  # a live display hides the cursor...
    assert "\x1b[?25h" in drawn  # ...and shows it again at the end
    text = ANSI.sub("", drawn)
    assert "━" in text  # the bar
    assert "8/8" in text
    assert "succeeded" in text
    assert "failed" in text
    assert "✗ input" in text
    assert "gallery:" in text


def test_format_duration_reads_like_a_clock() -> None:
    assert [format_duration(s) for s in (0, 7.4, 754, 3723)] == ["0:00", "0:07", "12:34", "1:02:03"]


def failed_outcome() -> Outcome:
    result = JobResult(request_id="req-9", state=JobState.FAILED, error=[{"error": "GPU on fire"}])
    return Outcome(index=3, input={"prompt": "x"}, model_id="m/x", request_id="req-9",
                   state=OutcomeState.FAILED, result=result, error=JobFailedError(result))


def test_a_failure_line_names_the_input_its_line_the_request_and_the_error() -> None:
    err = io.StringIO()
    streams = Streams(out=Console(file=io.StringIO()), err=Console(file=err, width=200))
    display = LineDisplay(streams, total=10, lines={3: 12})
    display.on_event(JobCompleted(outcome=failed_outcome()))
    assert err.getvalue().strip() == "✗ input 3 (line 12) failed · request req-9: GPU on fire"


def record(index: int, state: str, prompt: str, **extra: object) -> ManifestRecord:
    return ManifestRecord(index=index, model_id="m/x", input={"prompt": prompt}, state=state,
                          **extra)  # type: ignore[arg-type]


def test_the_gallery_shows_the_last_record_of_each_input() -> None:
    records = latest_records([
        record(1, "succeeded", "b"), record(0, "cancelled", "a"), record(0, "succeeded", "a"),
    ])
    assert [(r.index, r.state) for r in records] == [(0, "succeeded"), (1, "succeeded")]


def test_the_gallery_escapes_every_text_and_links_files_relatively() -> None:
    stored = StoredFile(url="http://cdn/x.png", path="000000-a b#c.png", sha256="0", size=1,
                        content_type="image/png")
    page = render_gallery(
        [
            record(0, "succeeded", "<b>bold</b>", files=(stored,)),
            record(1, "failed", "fine", error={"message": "<img src=x onerror=alert(1)>"}),
        ],
        now=datetime(2030, 1, 2, tzinfo=timezone.utc),
    )
    assert "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="000000-a%20b%23c.png"' in page
    assert "2030-01-02 00:00:00 UTC" in page
