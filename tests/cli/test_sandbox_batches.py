"""``--sandbox`` batches across runs: the sandbox ends with each command, so its journal is
resumed in a new one, where nothing the old sandbox had is looked for (nothing was billed)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from runcomfy_async.cli._exit_codes import INTERRUPTED, SUCCESS, USAGE
from runcomfy_async.store._manifest import read_manifest
from runcomfy_async.store.journal import Journal

from .conftest import FAST, V3, LineReader, clean_env, cli, resume_command, start, write_prompts

PROMPTS = ["a fox", "a hen", "a cat"]
SANDBOX_BATCH = ("batch", "p.txt", "--model", V3, "--sandbox", "--sandbox-time-scale", FAST,
                 "--out", "out")


def latest_states(out: Path) -> dict[int, str]:
    return {record.index: record.state for record in read_manifest(out / "manifest.jsonl")}


def pngs(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.glob("*.png"))}


def test_resuming_a_finished_sandbox_batch_keeps_its_files_and_downloads_nothing(
    tmp_path: Path,
) -> None:
    write_prompts(tmp_path / "p.txt", PROMPTS)
    assert cli(*SANDBOX_BATCH, cwd=tmp_path).returncode == SUCCESS
    before = pngs(tmp_path / "out")
    resumed = cli(*SANDBOX_BATCH, "--resume", cwd=tmp_path)
    assert resumed.returncode == SUCCESS, resumed.stderr
    assert "download failed" not in resumed.stderr
    assert "not an allowed download host" not in resumed.stderr
    assert "(3 from the journal of an earlier run)" in resumed.stderr
    assert pngs(tmp_path / "out") == before


def test_a_sandbox_batch_stopped_before_its_files_were_journaled_resumes_by_sending_again(
    tmp_path: Path,
) -> None:
    """Killed after its files were written and before the journal recorded them: the old
    sandbox that served them is gone, so they are made again rather than fetched from it."""
    write_prompts(tmp_path / "p.txt", PROMPTS)
    assert cli(*SANDBOX_BATCH, cwd=tmp_path).returncode == SUCCESS

    async def forget_files() -> None:
        async with Journal(tmp_path / "out" / "journal.sqlite") as journal:
            for index in range(len(PROMPTS)):
                await journal.record_files(index, [])

    anyio.run(forget_files)
    resumed = cli(*SANDBOX_BATCH, "--resume", cwd=tmp_path)
    assert resumed.returncode == SUCCESS, resumed.stderr
    assert "download failed" not in resumed.stderr
    assert "not an allowed download host" not in resumed.stderr
    assert "3 input(s) whose jobs or files ended with the earlier run's sandbox" in resumed.stderr
    assert set(latest_states(tmp_path / "out").values()) == {"succeeded"}
    assert len(pngs(tmp_path / "out")) == len(PROMPTS)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX")
def test_ctrl_c_in_a_sandbox_batch_says_nothing_was_billed_and_its_resume_finishes_it(
    tmp_path: Path,
) -> None:
    count = 30
    write_prompts(tmp_path / "p.txt", [f"prompt {i}" for i in range(count)])
    # Jobs of ~0.4 s, four at a time: at Ctrl-C some are running in the sandbox.
    process = start("batch", "p.txt", "--model", V3, "--sandbox", "--sandbox-time-scale", "0.05",
                    "--max-in-flight", "4", "--out", "out", "--json", cwd=tmp_path)
    try:
        assert process.stdout is not None
        assert len(LineReader(process.stdout).lines(2)) == 2
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == INTERRUPTED, err
    assert "Nothing was billed" in err
    assert "will finish and be billed" not in err
    assert "collects" not in err
    command = resume_command(err)
    assert command[-2:] == ["--json", "--resume"]

    resumed = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                             env=clean_env(), timeout=120)
    assert resumed.returncode == SUCCESS, resumed.stderr
    assert f"{count} of {count} inputs finished" in resumed.stderr
    assert "expired" not in resumed.stderr
    assert set(latest_states(tmp_path / "out").values()) == {"succeeded"}
    assert len(pngs(tmp_path / "out")) == count


def test_a_sandbox_journal_is_not_resumed_against_a_service_nor_the_other_way_round(
    tmp_path: Path,
) -> None:
    write_prompts(tmp_path / "p.txt", PROMPTS)
    assert cli(*SANDBOX_BATCH, cwd=tmp_path).returncode == SUCCESS
    # A closed loopback port, should the refusal ever come too late: no request leaves.
    elsewhere = cli("batch", "p.txt", "--model", V3, "--out", "out", "--resume",
                    "--base-url", "http://127.0.0.1:9/v1", "--retries", "1",
                    env=clean_env(RUNCOMFY_API_TOKEN="t"), cwd=tmp_path)
    assert elsewhere.returncode == USAGE
    assert "Resume it with --sandbox" in elsewhere.stderr

    (tmp_path / "out" / "journal.sqlite.sandbox").unlink()
    into_sandbox = cli(*SANDBOX_BATCH, "--resume", cwd=tmp_path)
    assert into_sandbox.returncode == USAGE
    assert "Resume it without --sandbox" in into_sandbox.stderr
