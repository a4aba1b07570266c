"""One-job commands and the model catalog, as a subprocess against a sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from runcomfy_async.cli._exit_codes import DATA_ERROR, JOBS_FAILED, SUCCESS
from runcomfy_async.sandbox import ThreadedSandbox

from .conftest import BROKEN, V3, against, cdn, cli


def test_run_waits_downloads_and_prints_the_file_path(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    done = cli("run", V3, "--prompt", "a red fox", "--input", '{"aspect_ratio": "1:1"}',
               "--out", str(tmp_path), *cdn(sandbox), env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr
    (path,) = done.stdout.splitlines()
    assert Path(path).name == "000000-a-red-fox.png"
    with Image.open(path) as image:
        assert image.size == (1024, 1024)
    assert "succeeded" in done.stderr


def test_submit_prints_the_request_id_that_status_wait_and_result_take(
    sandbox: ThreadedSandbox,
) -> None:
    env = against(sandbox)
    submitted = cli("submit", V3, "--input", '{"prompt": "a hen"}', env=env)
    assert submitted.returncode == SUCCESS, submitted.stderr
    request_id = submitted.stdout.strip()
    assert f"wait {request_id}" in submitted.stderr
    assert cli("status", request_id, env=env).returncode == SUCCESS
    waited = cli("wait", request_id, "--json", env=env)
    assert waited.returncode == SUCCESS, waited.stderr
    result = json.loads(waited.stdout)
    assert (result["request_id"], result["state"]) == (request_id, "succeeded")
    assert len(result["outputs"]) == 1
    again = cli("result", request_id, env=env)
    assert again.stdout.splitlines() == result["outputs"]
    assert cli("status", request_id, env=env).stdout.strip() == "succeeded"


def test_cancelling_a_finished_job_is_too_late_and_exits_1(sandbox: ThreadedSandbox) -> None:
    env = against(sandbox)
    request_id = cli("submit", V3, "--prompt", "a cat", env=env).stdout.strip()
    cli("wait", request_id, env=env)
    done = cli("cancel", request_id, env=env)
    assert done.returncode == JOBS_FAILED
    assert done.stdout.strip() == "not_cancellable"


def test_a_failed_job_exits_1_with_the_servers_message(sandbox: ThreadedSandbox) -> None:
    done = cli("run", BROKEN, "--prompt", "doomed", env=against(sandbox))
    assert done.returncode == JOBS_FAILED
    assert "failed" in done.stderr
    assert "simulated by the sandbox" in done.stderr
    assert done.stdout == ""


def test_run_refuses_an_invalid_input_before_sending_it(sandbox: ThreadedSandbox) -> None:
    done = cli("run", V3, "--prompt", "a fox", "--input", '{"rendering_speed": "WARP"}',
               env=against(sandbox))
    assert done.returncode == DATA_ERROR
    assert "rendering_speed: got 'WARP'; one of 'TURBO', 'BALANCED', 'QUALITY'" in done.stderr
    assert sandbox.stats.total_requests == 0


def test_models_list_names_every_model(sandbox: ThreadedSandbox) -> None:
    done = cli("models", "list", env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr
    for model_id in (V3, "ideogram/ideogram-v3/edit", "ideogram/ideogram-v2/generate", BROKEN):
        assert model_id in done.stdout


def test_models_get_shows_each_field_with_type_required_default_and_allowed_values(
    sandbox: ThreadedSandbox,
) -> None:
    # Wide enough that every row stays on one line.
    done = cli("models", "get", V3, env={**against(sandbox), "COLUMNS": "200"})
    assert done.returncode == SUCCESS, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:] if line.strip()}
    assert "yes" in rows["prompt"].split()
    assert '"16:9"' in rows["aspect_ratio"]
    assert "one of '16:9', '4:3', '1:1'" in rows["aspect_ratio"]
    assert "integer" in rows["seed"]
    assert "a string" not in rows["prompt"]  # nothing to say beyond its type
    assert "from 0 to 2147483647" in rows["seed"]
