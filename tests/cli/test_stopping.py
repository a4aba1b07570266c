"""How a batch stops besides Ctrl-C: SIGTERM, a closed standard output, a folder or disk that
no longer takes files. Each stops cleanly, says it in one line, exits with its own code, and
prints the command that resumes the batch when there is one to resume."""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from runcomfy_async import AsyncRunComfy
from runcomfy_async.cli._exit_codes import (
    BROKEN_PIPE,
    CANT_CREATE,
    INTERRUPTED,
    IO_ERROR,
    SUCCESS,
    TERMINATED,
)
from runcomfy_async.core._lifecycle import InputState
from runcomfy_async.sandbox import ThreadedSandbox
from runcomfy_async.store.journal import Journal

from .conftest import (
    CLI,
    V3,
    LineReader,
    against,
    cdn,
    cli,
    resume_command,
    start,
    write_prompts,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and limits")

INPUTS = 30


@pytest.fixture
def slow_sandbox() -> Iterator[ThreadedSandbox]:
    """Jobs of ~0.4 s on 4 workers: a 30-input batch takes seconds, time to stop it."""
    with ThreadedSandbox(time_scale=0.05, workers=4, seed=7) as sb:
        yield sb


def start_batch(
    sandbox: ThreadedSandbox, folder: Path, *extra: str, **popen: object
) -> subprocess.Popen[str]:
    write_prompts(folder / "p.txt", [f"prompt {i}" for i in range(INPUTS)])
    return start("batch", str(folder / "p.txt"), "--model", V3, "--out", str(folder / "out"),
                 "--json", *cdn(sandbox), *extra, env=against(sandbox), **popen)


def stop_after_outcomes(process: subprocess.Popen[str], signum: int) -> str:
    assert process.stdout is not None
    try:
        assert len(LineReader(process.stdout).lines(2)) == 2
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return err


async def submitted_request_ids(journal: Path) -> list[str]:
    async with Journal(journal) as opened:
        entries = await opened.entries(states=[InputState.SUBMITTED])
    return [entry.request_id for entry in entries if entry.request_id]


async def service_states(sandbox: ThreadedSandbox, request_ids: list[str]) -> dict[str, str]:
    async with AsyncRunComfy(sandbox.token, sandbox.base_url, allow_insecure_http=True) as client:
        return {rid: (await client.status(rid)).state.value for rid in request_ids}


def listed_as_not_cancelled(err: str) -> list[str]:
    line = next(line for line in err.splitlines() if "could not be cancelled" in line)
    return re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", line)


def test_ids_that_could_not_be_cancelled_are_listed_once(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    process = start_batch(slow_sandbox, tmp_path, "--max-in-flight", "4")
    err = stop_after_outcomes(process, signal.SIGINT)
    assert process.returncode == INTERRUPTED, err
    listed = listed_as_not_cancelled(err)
    assert listed, err
    for request_id in listed:
        assert err.count(request_id) == 1, err
    assert "batch stopped early" not in err
    # Every job the journal still holds open is either listed, or one the service had
    # already finished whose files were not yet fetched (resuming collects it; it was
    # never a job to cancel).
    still_open = anyio.run(submitted_request_ids, tmp_path / "out" / "journal.sqlite")
    assert set(listed) <= set(still_open)
    unlisted = [rid for rid in still_open if rid not in listed]
    states = anyio.run(service_states, slow_sandbox, unlisted)
    assert all(state == "succeeded" for state in states.values()), (states, err)


def test_sigterm_stops_a_batch_as_ctrl_c_does(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    process = start_batch(slow_sandbox, tmp_path)
    err = stop_after_outcomes(process, signal.SIGTERM)
    assert process.returncode == TERMINATED, err
    assert "terminated: stopping" in err
    assert "queued job(s) were cancelled before they ran" in err
    resumed = subprocess.run(resume_command(err), capture_output=True, text=True,
                             env=against(slow_sandbox), timeout=120)
    assert resumed.returncode == SUCCESS, resumed.stderr
    assert f"{INPUTS} of {INPUTS} inputs finished" in resumed.stderr


def test_a_closed_standard_output_stops_the_batch_quietly(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    """``batch --json | head -1``."""
    with open(tmp_path / "stderr", "w+", encoding="utf-8") as err_file:
        process = start_batch(slow_sandbox, tmp_path, stderr=err_file)
        try:
            assert process.stdout is not None
            assert process.stdout.readline()
            process.stdout.close()  # what head does once it has its line
            process.wait(timeout=60)
        finally:
            process.kill()
        err_file.seek(0)
        err = err_file.read()
    assert process.returncode == BROKEN_PIPE, err
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert "error:" not in err
    assert resume_command(err)[-1] == "--resume"


def test_an_out_folder_that_cannot_be_made_is_one_line_and_exit_73(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    write_prompts(tmp_path / "p.txt", ["a fox"])
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    done = cli("batch", str(tmp_path / "p.txt"), "--model", V3, "--out",
               str(tmp_path / "taken" / "out"), *cdn(slow_sandbox), env=against(slow_sandbox))
    assert done.returncode == CANT_CREATE, done.stderr
    assert done.stderr.count("error:") == 1
    assert "Traceback" not in done.stderr
    assert slow_sandbox.stats.requests_by_endpoint.get("submit", 0) == 0


def test_a_file_that_cannot_be_written_stops_the_batch_with_exit_74_and_a_resume(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    # The first input's file name is taken by a folder: writing it fails as on a full disk.
    (tmp_path / "out" / "000000-prompt-0.png").mkdir(parents=True)
    process = start_batch(slow_sandbox, tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == IO_ERROR, err
    assert err.count("error:") == 1
    assert "error: cannot write into" in err
    assert "Traceback" not in err
    assert resume_command(err)[-1] == "--resume"


def unmeasured(env: dict[str, str]) -> dict[str, str]:
    """The environment without coverage's subprocess measuring: under a file-size limit that
    stands for a full disk, coverage's own data file would hit the limit at exit."""
    return {key: value for key, value in env.items() if not key.startswith("COVERAGE_")}


def limit_file_size(limit: int) -> None:
    # Python ignores SIGXFSZ: a write past the limit fails with EFBIG, as on a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


# A line of the plain progress display: "[0:03] 20/60 finished (33%) · ...".
PROGRESS_LINE = re.compile(r"^\[\d+:\d\d\] \d+/\d+ finished")


@pytest.mark.parametrize(
    ("inputs", "limit"),
    [(8, 40_000), (60, 400_000)],
    ids=["while jobs run", "with jobs still queued to cancel"],
)
def test_a_full_disk_under_the_journal_is_one_line_and_exit_74(
    slow_sandbox: ThreadedSandbox, tmp_path: Path, inputs: int, limit: int
) -> None:
    """Whatever else the stop has to say is said once: with jobs still queued, each one
    cancelled is a journal write that fails too, and they are counted in one line."""
    write_prompts(tmp_path / "p.txt", [f"prompt {i}" for i in range(inputs)])
    done = subprocess.run(
        [*CLI, "batch", str(tmp_path / "p.txt"), "--model", V3, "--out", str(tmp_path / "out"),
         *cdn(slow_sandbox)],
        capture_output=True, text=True, env=unmeasured(against(slow_sandbox)), timeout=120,
        preexec_fn=lambda: limit_file_size(limit),
    )
    assert done.returncode == IO_ERROR, done.stderr
    said = [line for line in done.stderr.splitlines() if not PROGRESS_LINE.match(line)]
    errors = [line for line in said if line.startswith("error: ")]
    unjournaled = [line for line in said if "the journal could not record it" in line]
    resume = [line for line in said if "To resume: " in line]
    assert len(errors) == 1, done.stderr
    assert len(unjournaled) <= 1, done.stderr
    assert len(resume) <= 1, done.stderr
    assert len(said) == len(errors) + len(unjournaled) + len(resume), done.stderr

    async def started() -> bool:
        async with Journal(tmp_path / "out" / "journal.sqlite") as journal:
            return await journal.max_index() is not None

    assert ("To resume: " in done.stderr) == anyio.run(started)
