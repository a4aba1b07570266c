"""A field the model does not have (a typo, often) is refused before anything is sent, with
the nearest field's name, unless --allow-unknown-fields says to send it anyway."""

from __future__ import annotations

from pathlib import Path

from runcomfy_async.cli._exit_codes import DATA_ERROR, SUCCESS
from runcomfy_async.cli._input_check import unknown_fields
from runcomfy_async.sandbox import ThreadedSandbox

from .conftest import FLAKY, SCHEMA, V3, against, cdn, cli

TYPOS = '{"prompt": "a fox", "aspect": "1:1", "sed": 4}'


def test_a_batch_with_misspelled_fields_is_refused_with_did_you_mean(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(f'{{"prompt": "fine"}}\n{TYPOS}\n', encoding="utf-8")
    done = cli("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"),
               env=against(sandbox))
    assert done.returncode == DATA_ERROR, done.stderr
    assert "line 2: aspect: got '1:1'; not a field of this model: did you mean " \
        "'aspect_ratio'?" in done.stderr
    assert "line 2: sed: got 4; not a field of this model: did you mean 'seed'?" in done.stderr
    assert "--allow-unknown-fields" in done.stderr
    assert sandbox.stats.total_requests == 0


def test_run_refuses_a_misspelled_field_of_a_catalog_model_before_submitting(
    sandbox: ThreadedSandbox,
) -> None:
    done = cli("run", FLAKY, "--input", '{"prompt": "a fox", "sed": 4}', env=against(sandbox))
    assert done.returncode == DATA_ERROR, done.stderr
    assert "did you mean 'seed'?" in done.stderr
    assert sandbox.stats.requests_by_endpoint.get("submit", 0) == 0


def test_allow_unknown_fields_sends_them(sandbox: ThreadedSandbox, tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(TYPOS + "\n", encoding="utf-8")
    done = cli("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"),
               "--allow-unknown-fields", *cdn(sandbox), env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr
    run = cli("run", V3, "--input", TYPOS, "--allow-unknown-fields", env=against(sandbox))
    assert run.returncode == SUCCESS, run.stderr
    assert sandbox.stats.jobs_created == 2


def test_a_schema_that_admits_other_fields_is_taken_at_its_word() -> None:
    assert unknown_fields({"sed": 4}, {**SCHEMA, "additionalProperties": True}) == []
    assert unknown_fields({"sed": 4}, {"type": "object"}) == []
    (problem,) = unknown_fields({"zzz": 4}, SCHEMA)
    assert "its fields: prompt, seed" in problem.allowed
