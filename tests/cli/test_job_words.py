"""What the one-job commands say: one vocabulary of states, -q and -v, and hints that lead
somewhere true."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from runcomfy_async.cli._exit_codes import JOBS_FAILED, SUCCESS, USAGE
from runcomfy_async.sandbox import ThreadedSandbox

from .conftest import BROKEN, V3, against, cdn, clean_env, cli, write_prompts

PEOPLE_WORDS = {"queued", "running", "succeeded", "failed", "cancelled"}
SERVICE_WORDS = ("in_queue", "in_progress", "completed")


@pytest.fixture
def slow_sandbox() -> Iterator[ThreadedSandbox]:
    """Jobs of a few seconds: long enough for a wait to see them queued or running."""
    with ThreadedSandbox(time_scale=0.3, workers=1, seed=3) as sb:
        yield sb


def test_quiet_run_says_nothing_but_prints_its_answer(sandbox: ThreadedSandbox) -> None:
    done = cli("run", V3, "--prompt", "a fox", "-q", env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("http://127.0.0.1")


def test_quiet_batch_leaves_out_progress_and_summary(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    inputs = write_prompts(tmp_path / "p.txt", ["a fox", "a hen"])
    done = cli("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"), "-q",
               *cdn(sandbox), env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr
    assert done.stderr == ""


def test_verbose_run_adds_the_jobs_timings(sandbox: ThreadedSandbox) -> None:
    done = cli("run", V3, "--prompt", "a fox", "-v", env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr
    assert " ran " in done.stderr
    assert "service state: succeeded" in done.stderr


def test_verbose_batch_adds_a_line_per_job(sandbox: ThreadedSandbox, tmp_path: Path) -> None:
    inputs = write_prompts(tmp_path / "p.txt", ["a fox", "a hen"])
    done = cli("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"), "-v",
               *cdn(sandbox), env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr
    for index in (0, 1):
        assert f"→ input {index} (line {index + 1}) submitted · request " in done.stderr
        assert f"✓ input {index} (line {index + 1}) succeeded · request " in done.stderr


def test_states_are_said_in_one_vocabulary_and_json_keeps_the_services_word(
    sandbox: ThreadedSandbox,
) -> None:
    env = against(sandbox)
    request_id = cli("submit", V3, "--prompt", "a hen", env=env).stdout.strip()
    assert cli("wait", request_id, env=env).returncode == SUCCESS
    assert cli("status", request_id, env=env).stdout.strip() == "succeeded"
    status = json.loads(cli("status", request_id, "--json", env=env).stdout)
    assert (status["state"], status["raw_state"]) == ("succeeded", "completed")
    failed = cli("submit", BROKEN, "--prompt", "doomed", env=env).stdout.strip()
    cli("wait", failed, env=env)
    assert cli("status", failed, env=env).stdout.strip() == "failed"


def test_a_wait_reports_progress_in_the_same_words(slow_sandbox: ThreadedSandbox) -> None:
    done = cli("run", V3, "--prompt", "a fox", env=against(slow_sandbox))
    assert done.returncode == SUCCESS, done.stderr
    said = [line.rsplit(": ", 1)[-1] for line in done.stderr.splitlines() if ": " in line]
    assert said, done.stderr
    assert set(said) <= PEOPLE_WORDS, done.stderr
    assert not any(word in done.stderr for word in SERVICE_WORDS)


def test_the_wait_suggested_after_submit_reaches_the_same_service(
    sandbox: ThreadedSandbox,
) -> None:
    env = clean_env(RUNCOMFY_API_TOKEN=sandbox.token)  # the base URL only on the command line
    submitted = cli("submit", V3, "--prompt", "a hen", "--base-url", sandbox.base_url, env=env)
    assert submitted.returncode == SUCCESS, submitted.stderr
    (hint,) = [line for line in submitted.stderr.splitlines() if "follow it with: " in line]
    command = shlex.split(hint.split("follow it with: ", 1)[1])
    assert command[command.index("--base-url") + 1] == sandbox.base_url
    waited = cli(*command[3:], env=env)  # after the interpreter, -m and the module
    assert waited.returncode == SUCCESS, waited.stderr


def test_a_refused_download_names_the_option_that_allows_it(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    inputs = write_prompts(tmp_path / "p.txt", ["a fox"])
    batch = cli("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"),
                env=against(sandbox))
    run = cli("run", V3, "--prompt", "a fox", "--out", str(tmp_path / "one"),
              env=against(sandbox))
    for done in (batch, run):
        assert done.returncode == JOBS_FAILED, done.stderr
        assert f"--download-origin {sandbox.cdn_base_url}" in done.stderr


def test_cancelling_a_finished_job_does_not_warn_of_billing(sandbox: ThreadedSandbox) -> None:
    env = against(sandbox)
    request_id = cli("submit", V3, "--prompt", "a cat", env=env).stdout.strip()
    cli("wait", request_id, env=env)
    done = cli("cancel", request_id, env=env)
    assert done.returncode == JOBS_FAILED
    assert "will finish and be billed" not in done.stderr
    assert "has already succeeded: there is nothing to cancel" in done.stderr


def test_plain_http_to_another_machine_is_refused_with_what_the_cli_can_do() -> None:
    done = cli("status", "abc", "--base-url", "http://example.com/v1",
               env=clean_env(RUNCOMFY_API_TOKEN="t"))
    assert done.returncode == USAGE
    assert "allow_insecure_http" not in done.stderr
    assert "https://" in done.stderr
    assert "loopback" in done.stderr
