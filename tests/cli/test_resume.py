"""Ctrl-C in the middle of a batch, and the resume it prints: nothing paid twice.

Jobs cancelled while still queued at Ctrl-C never ran and were never billed: the resume
submits those inputs again, so "paid twice" is counted by jobs that ran (runs_by_input).
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from runcomfy_async import AsyncRunComfy
from runcomfy_async.cli._exit_codes import DATA_ERROR, INTERRUPTED
from runcomfy_async.sandbox import EndpointFaults, FaultPlan, ThreadedSandbox
from runcomfy_async.store._manifest import read_manifest
from runcomfy_async.store.journal import Journal

from .conftest import CLI, V3, against, cdn, cli, write_prompts

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


def reader_of(fifo: Path, timeout: float) -> int:
    """Wait (bounded) until something opens ``fifo`` for reading; return a write end that
    keeps the reader waiting for data, or fail."""
    until = time.monotonic() + timeout
    while True:
        try:
            # Without a reader, a non-blocking open for writing fails (ENXIO).
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            assert time.monotonic() < until, f"nothing opened {fifo} for reading"
            time.sleep(0.01)


def test_second_ctrl_c_exits_at_once_while_thumbnails_are_made(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    """The gallery's thumbnails are made after the first Ctrl-C has stopped the batch, and
    can take seconds; the second Ctrl-C still exits at once. A named pipe in the place of an
    image stands for a thumbnail that takes as long as the test wants."""
    process = start_batch(slow_sandbox, tmp_path)
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    (image,) = first["files"]
    Path(image["path"]).unlink()
    os.mkfifo(image["path"])
    process.send_signal(signal.SIGINT)
    writer = None
    try:
        writer = reader_of(Path(image["path"]), timeout=60)  # its thumbnail is being made
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
        if writer is not None:
            os.close(writer)
    assert process.returncode == INTERRUPTED, err
    assert "interrupted again: exiting now. The journal is consistent. To resume: " in err


# --- A journal that does not match the input file ---------------------------------------------


async def journal_jobs_in_flight(sandbox: ThreadedSandbox, journal: Path, count: int) -> None:
    """Journal `count` submitted jobs, as a run killed with them in flight leaves them."""
    async with Journal(journal) as opened, AsyncRunComfy(
        api_token=sandbox.token, base_url=sandbox.base_url
    ) as client:
        for index in range(count):
            given = {"prompt": f"prompt {index}"}
            await opened.record_intent(index, V3, given)
            job = await client.submit(V3, given)
            await opened.record_submitted(index, job.request_id)


def test_resuming_with_a_shorter_input_file_counts_the_journaled_jobs_beyond_it(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    anyio.run(journal_jobs_in_flight, sandbox, out / "journal.sqlite", 16)
    short = write_prompts(tmp_path / "short.txt", [f"prompt {i}" for i in range(5)])
    resumed = cli("batch", str(short), "--model", V3, "--out", str(out), "--resume",
                  *cdn(sandbox), env=against(sandbox))
    assert resumed.returncode == 0, resumed.stderr
    # Every journaled job was collected (none paid again) and counted: 5 given, 11 beyond.
    assert sandbox.stats.jobs_created == 16
    assert sorted(r.index for r in read_manifest(out / "manifest.jsonl")) == list(range(16))
    assert "16 of 16 inputs finished" in resumed.stderr
    assert "11 collected from the journal beyond the input file" in resumed.stderr
    assert "16/16 finished (100%)" in resumed.stderr
    assert "of 5 inputs" not in resumed.stderr
    assert "/5 finished" not in resumed.stderr


def test_a_lost_journal_refuses_to_pay_again_and_prints_no_resume_command(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    source = write_prompts(tmp_path / "p.txt", [f"prompt {i}" for i in range(6)])
    args = ("batch", str(source), "--model", V3, "--out", str(tmp_path / "out"), *cdn(sandbox))
    first = cli(*args, env=against(sandbox))
    assert first.returncode == 0, first.stderr
    for path in (tmp_path / "out").glob("journal.sqlite*"):
        path.unlink()
    created = sandbox.stats.jobs_created

    again = cli(*args, "--resume", env=against(sandbox))
    assert again.returncode == DATA_ERROR, again.stderr
    assert sandbox.stats.jobs_created == created, "nothing may be paid twice"
    assert "Restore the journal, or use a new output folder" in again.stderr
    # The command that just failed is not offered as the way on.
    assert "To resume" not in again.stderr
    assert "The journal is consistent" not in again.stderr
    assert "stopped the batch" in again.stderr
