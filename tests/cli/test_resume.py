"""Ctrl-C in the middle of a batch, and the resume it prints: nothing paid twice.

Jobs cancelled while still queued at Ctrl-C never ran and were never billed: the resume
submits those inputs again, so "paid twice" is counted by jobs that ran (runs_by_input).
"""

from __future__ import annotations

import collections
import json
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runcomfy_async.cli._exit_codes import INTERRUPTED
from runcomfy_async.sandbox import EndpointFaults, FaultPlan, ThreadedSandbox
from runcomfy_async.store._manifest import read_manifest

from .conftest import CLI, V3, against, cdn, write_prompts

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX")

INPUTS = 30
# Finished outcomes to wait for before pressing Ctrl-C: the batch is then well under way.
BEFORE_INTERRUPT = 5
FINAL_STATES = {"succeeded", "failed", "cancelled", "timed_out", "outcome_unknown", "expired"}


@pytest.fixture
def slow_sandbox() -> Iterator[ThreadedSandbox]:
    """Jobs of ~0.16 s on 4 workers: a 30-input batch takes over a second, time to interrupt."""
    with ThreadedSandbox(time_scale=0.02, workers=4, seed=5) as sb:
        yield sb


def start_batch(sandbox: ThreadedSandbox, folder: Path) -> subprocess.Popen[str]:
    inputs = write_prompts(folder / "p.txt", [f"prompt {i}" for i in range(INPUTS)])
    return subprocess.Popen(
        [*CLI, "batch", str(inputs), "--model", V3, "--out", str(folder / "out"), "--json",
         *cdn(sandbox)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=against(sandbox),
    )


def wait_for_outcomes(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    seen = [process.stdout.readline() for _ in range(BEFORE_INTERRUPT)]
    assert all(json.loads(line)["state"] == "succeeded" for line in seen)


def resume_command(stderr: str) -> list[str]:
    (line,) = [line for line in stderr.splitlines() if "To resume: " in line]
    return shlex.split(line.split("To resume: ", 1)[1])


def assert_every_input_paid_once_and_finished_once(sandbox: ThreadedSandbox, out: Path) -> None:
    runs = sandbox.stats.runs_by_input()
    assert len(runs) == INPUTS
    assert set(runs.values()) == {1}, "an input ran (and was billed) twice"
    lines_per_index = collections.Counter(record.index for record in read_manifest(
        out / "manifest.jsonl"))
    assert sorted(lines_per_index) == list(range(INPUTS))
    assert set(lines_per_index.values()) == {1}
    assert {record.state for record in read_manifest(out / "manifest.jsonl")} <= FINAL_STATES


def test_ctrl_c_stops_the_batch_and_prints_the_command_that_resumes_it(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    process = start_batch(slow_sandbox, tmp_path)
    wait_for_outcomes(process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == INTERRUPTED, err
    assert "interrupted: stopping" in err
    command = resume_command(err)
    assert command[: len(CLI)] == list(CLI)
    assert command[-1] == "--resume"
    assert "queued job(s) were cancelled before they ran" in err

    resumed = subprocess.run(command, capture_output=True, text=True, env=against(slow_sandbox),
                             timeout=60)
    # Withdrawn jobs are submitted again, so the resumed batch finishes every input.
    assert resumed.returncode == 0, resumed.stderr
    assert f"{INPUTS} of {INPUTS} inputs finished" in resumed.stderr
    assert_every_input_paid_once_and_finished_once(slow_sandbox, tmp_path / "out")
    states = {r.index: r.state for r in read_manifest(tmp_path / "out" / "manifest.jsonl")}
    assert set(states.values()) == {"succeeded"}


def test_second_ctrl_c_exits_at_once_and_the_journal_still_resumes(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    process = start_batch(slow_sandbox, tmp_path)
    wait_for_outcomes(process)
    # Cancels now take seconds to answer: the first Ctrl-C's clean-up is still under way
    # when the second one comes.
    slow_sandbox.faults = FaultPlan(cancel=EndpointFaults(slow=1.0), slow_s=5.0)
    process.send_signal(signal.SIGINT)
    assert process.stderr is not None
    assert "interrupted: stopping" in process.stderr.readline()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == INTERRUPTED, err
    assert "interrupted again: exiting now. The journal is consistent. To resume: " in err

    slow_sandbox.faults = FaultPlan()
    resumed = subprocess.run(resume_command(err), capture_output=True, text=True,
                             env=against(slow_sandbox), timeout=60)
    assert resumed.returncode in (0, 1), resumed.stderr
    assert_every_input_paid_once_and_finished_once(slow_sandbox, tmp_path / "out")
