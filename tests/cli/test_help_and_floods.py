"""Help that says each thing once, the sandbox command without Pillow, and a batch of failures
that does not bury the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runcomfy_async._constants import FAILURE_LINES_EVERY, FAILURE_LINES_SHOWN
from runcomfy_async.cli._exit_codes import JOBS_FAILED, SUCCESS, UNAVAILABLE
from runcomfy_async.sandbox import ThreadedSandbox

from .conftest import BROKEN, clean_env, cli, write_prompts

COMMANDS = [("run",), ("submit",), ("status",), ("result",), ("wait",), ("cancel",),
            ("batch",), ("models", "list"), ("models", "get")]
# A help text this long repeats what the top-level help says (batch's own options take ~50).
HELP_LINES_AT_MOST = 60


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_commands_help_points_to_the_global_options_instead_of_repeating_them(
    command: tuple[str, ...],
) -> None:
    done = cli(*command, "--help")
    assert done.returncode == SUCCESS
    assert "exit codes:" not in done.stdout
    assert "--token-file FILE" not in done.stdout
    assert "--sandbox-time-scale" not in done.stdout
    assert "--help" in done.stdout.split("described in:")[-1]
    assert len(done.stdout.splitlines()) <= HELP_LINES_AT_MOST, done.stdout


def test_global_options_still_work_after_the_command() -> None:
    done = cli("status", "abc", "--base-url", "http://127.0.0.1:1/v1", "--retries", "1", "-q",
               env=clean_env(RUNCOMFY_API_TOKEN="t"))
    assert "unrecognized arguments" not in done.stderr
    assert "usage:" not in done.stderr


def test_job_timeout_help_says_it_counts_time_in_the_queue() -> None:
    text = " ".join(cli("batch", "--help").stdout.split())
    option = text.split("--job-timeout S")[-1].split("--journal")[0]
    assert "queue included" in option


SANDBOX_FORMS = {
    "runcomfy-async sandbox": (
        "from runcomfy_async.cli import main\n"
        "sys.exit(main(['sandbox', '--port', '0']))\n"
    ),
    "python -m runcomfy_async.sandbox": (
        "import runpy\n"
        "sys.argv[1:] = ['--port', '0']\n"
        "runpy.run_module('runcomfy_async.sandbox', run_name='__main__', alter_sys=True)\n"
    ),
}


@pytest.mark.parametrize("form", SANDBOX_FORMS)
def test_the_sandbox_command_without_pillow_is_one_line_and_exit_69(form: str) -> None:
    hide_pillow = (
        "import sys\n"
        "sys.modules['PIL'] = None  # as if Pillow were not installed\n"
        + SANDBOX_FORMS[form]
    )
    done = subprocess.run([sys.executable, "-c", hide_pillow], capture_output=True, text=True,
                          env=clean_env(), timeout=60)
    assert done.returncode == UNAVAILABLE, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Pillow" in done.stderr
    assert "pip install" in done.stderr


def test_a_flood_of_failures_is_summarised(sandbox: ThreadedSandbox, tmp_path: Path) -> None:
    count = FAILURE_LINES_SHOWN + FAILURE_LINES_EVERY + 30
    inputs = write_prompts(tmp_path / "p.txt", [f"doomed {i}" for i in range(count)])
    done = cli("batch", str(inputs), "--model", BROKEN, "--out", str(tmp_path / "out"),
               env=clean_env(RUNCOMFY_API_TOKEN=sandbox.token,
                             RUNCOMFY_MODEL_API_BASE=sandbox.base_url))
    assert done.returncode == JOBS_FAILED
    lines = done.stderr.splitlines()
    assert sum(line.startswith("✗ input ") for line in lines) == FAILURE_LINES_SHOWN
    (more,) = [line for line in lines if line.startswith("✗ … ")]
    assert f"{FAILURE_LINES_EVERY} more failures not shown" in more
    hidden = count - FAILURE_LINES_SHOWN
    assert f"{hidden} failure line(s) were not shown" in done.stderr
    assert f"{count} failed" in done.stderr
