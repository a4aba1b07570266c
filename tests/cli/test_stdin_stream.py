"""``batch -``: standard input is streamed, checked line by line as the batch pulls it, so an
endless stream works in bounded memory and a stream that never ends still stops at Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runcomfy_async.cli._exit_codes import DATA_ERROR, INTERRUPTED, SUCCESS
from runcomfy_async.sandbox import ThreadedSandbox

from .conftest import V3, LineReader, against, cdn, cli, start

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX")

LINES = 200_000
FEEDER = (
    "import sys\n"
    f"for i in range({LINES}):\n"
    "    sys.stdout.write('{\"prompt\": \"prompt %d\"}\\n' % i)\n"
)


def batch_from_stdin(sandbox: ThreadedSandbox, out: Path, *extra: str, **popen: object
                     ) -> subprocess.Popen[str]:
    return start("batch", "-", "--model", V3, "--out", str(out), "--json", *cdn(sandbox), *extra,
                 env=against(sandbox), **popen)


def test_a_long_stream_is_submitted_from_before_it_ends(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    feeder = subprocess.Popen([sys.executable, "-c", FEEDER], stdout=subprocess.PIPE)
    process = batch_from_stdin(sandbox, tmp_path / "out", stdin=feeder.stdout)
    assert feeder.stdout is not None
    feeder.stdout.close()  # the batch holds the only reading end
    try:
        assert process.stdout is not None
        (first,) = LineReader(process.stdout).lines(1, timeout=120)
        # The feeder is still writing (blocked on a full pipe): the batch did not wait for
        # the end of its input before submitting.
        assert feeder.poll() is None
        assert json.loads(first)["state"] == "succeeded"
        assert sandbox.stats.jobs_created < LINES
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        feeder.kill()
        feeder.wait(timeout=30)
    assert process.returncode == INTERRUPTED, err
    assert "(with the same input on standard input)" in err


def test_a_stream_that_never_ends_stops_at_the_first_ctrl_c(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    process = batch_from_stdin(sandbox, tmp_path / "out", stdin=subprocess.PIPE)
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write("".join(f'{{"prompt": "a fox {i}"}}\n' for i in range(3)))
        process.stdin.flush()  # and never closed: a FIFO with no writer leaving
        assert len(LineReader(process.stdout).lines(3)) == 3
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == INTERRUPTED, err
    assert "3 of 3 inputs read finished" in err
    assert "To resume: " in err


def test_an_invalid_line_stops_the_stream_after_the_lines_before_it(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    lines = '{"prompt": "a fox"}\n{"prompt": "a hen"}\n{"prompt": 5}\n{"prompt": "a cat"}\n'
    done = cli("batch", "-", "--model", V3, "--out", str(tmp_path / "out"), *cdn(sandbox),
               env=against(sandbox), stdin=lines)
    assert done.returncode == DATA_ERROR, done.stderr
    assert "standard input: line 3: prompt: got 5" in done.stderr
    assert "nothing after line 3 was read" in done.stderr
    assert "To resume: " in done.stderr
    assert sandbox.stats.jobs_created == 2


def test_skip_invalid_goes_on_after_an_invalid_line(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    lines = '{"prompt": "a fox"}\nnot json\n{"prompt": "a cat"}\n'
    done = cli("batch", "-", "--model", V3, "--out", str(tmp_path / "out"), "--skip-invalid",
               *cdn(sandbox), env=against(sandbox), stdin=lines)
    assert done.returncode == SUCCESS, done.stderr
    assert "standard input: line 2: not valid JSON" in done.stderr
    assert "1 invalid line(s) skipped" in done.stderr
    assert sandbox.stats.jobs_created == 2
