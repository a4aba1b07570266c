"""Cost on the command line: ``batch --dry-run`` before anything is sent, the money on the
progress line and in the summary, ``--budget``, and a balance that runs out mid-batch.

Against a sandbox that bills each succeeded job from its catalog price (per output file, or
per model second of run time) and can be given a balance.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from runcomfy_async.batch import BatchProgress
from runcomfy_async.cli._console import Streams
from runcomfy_async.cli._exit_codes import (
    BUDGET_REACHED,
    DATA_ERROR,
    NO_PERMISSION,
    SUCCESS,
    USAGE,
)
from runcomfy_async.cli._gallery import render_gallery
from runcomfy_async.cli._progress import LineDisplay
from runcomfy_async.sandbox import ModelSpec, ThreadedSandbox
from runcomfy_async.store._manifest import ManifestRecord, read_manifest

from .conftest import FAST, SCHEMA, V3, against, cdn, cli, resume_command, write_prompts

pytestmark = pytest.mark.timeout(120)

PRICE = 0.25  # adds up exactly in binary, so that sums compare exactly
PER_IMAGE = "test/per-image"
PER_SECOND = "test/per-second"
SECOND_PRICE = 0.5
RUN_S = 2.0  # the per-second model's every run (no spread), in model seconds
V3_PRICE = 0.06  # the sandbox's price of an Ideogram v3 image


@pytest.fixture
def priced() -> Iterator[ThreadedSandbox]:
    """A fast sandbox with the Ideogram models and two priced test models."""
    with ThreadedSandbox(
        time_scale=float(FAST),
        seed=5,
        models=[
            ModelSpec(PER_IMAGE, SCHEMA, median_s=1.0, base_price_usd=PRICE,
                      pricing_note="per image, any size"),
            ModelSpec(PER_SECOND, SCHEMA, output_kind="video", median_s=RUN_S,
                      base_price_usd=SECOND_PRICE, price_unit="second"),
        ],
    ) as sb:
        yield sb


def mixed_jsonl(path: Path) -> Path:
    """Seven inputs for two models billed per output: 4 at $0.06, 3 at $0.25."""
    lines = [{"prompt": f"fox {i}"} for i in range(4)]
    lines += [{"prompt": f"owl {i}", "model_id": PER_IMAGE} for i in range(3)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def batch_args(sandbox: ThreadedSandbox, source: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", str(source), "--model", V3, "--out", str(out), *cdn(sandbox), *extra]


def states(out: Path) -> dict[int, str]:
    return {record.index: record.state for record in read_manifest(out / "manifest.jsonl")}


def paid_twice(sandbox: ThreadedSandbox) -> list[str]:
    return [key for key, n in sandbox.stats.runs_by_input().items() if n > 1]


# --- --dry-run ---------------------------------------------------------------------------------


def test_a_dry_run_prints_the_estimate_sends_nothing_and_creates_no_folder(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = mixed_jsonl(tmp_path / "in.jsonl")
    out = tmp_path / "out"
    done = cli(*batch_args(priced, source, out, "--dry-run"), env=against(priced))
    assert done.returncode == SUCCESS, done.stderr
    text = done.stdout
    assert f"{V3}\n    4 jobs × 1 output = 4 outputs, at $0.06 per output" in text
    assert "estimated: $0.24" in text
    assert f"{PER_IMAGE}\n    3 jobs × 1 output = 3 outputs, at $0.25 per output" in text
    assert "estimated: $0.75" in text
    assert "pricing note: per image, any size" in text
    assert "Total: 7 jobs, 7 outputs: estimated $0.99" in text
    assert "?" not in text  # priced per output: nothing uncertain
    assert "Nothing was sent" in text
    assert priced.stats.jobs_created == 0
    assert not out.exists()


def test_the_dry_run_estimate_equals_what_the_real_run_is_billed(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = mixed_jsonl(tmp_path / "in.jsonl")
    out = tmp_path / "out"
    dry = cli(*batch_args(priced, source, out, "--dry-run", "--json"), env=against(priced))
    assert dry.returncode == SUCCESS, dry.stderr
    (line,) = dry.stdout.splitlines()  # one JSON object, nothing else on standard output
    estimate = json.loads(line)
    assert (estimate["jobs"], estimate["outputs"], estimate["certain"]) == (7, 7, True)
    assert [model["model_id"] for model in estimate["models"]] == [V3, PER_IMAGE]
    assert estimate["models"][1]["price_unit"] == "output"
    assert priced.stats.jobs_created == 0
    assert not out.exists()

    run = cli(*batch_args(priced, source, out, "--json"), env=against(priced))
    assert run.returncode == SUCCESS, run.stderr
    assert estimate["total_usd"] == pytest.approx(4 * V3_PRICE + 3 * PRICE)
    assert priced.spent_usd() == pytest.approx(estimate["total_usd"])
    # Each outcome line carries its reported cost, and they add up to the bill.
    outcomes = [json.loads(text) for text in run.stdout.splitlines()]
    assert sum(outcome["cost_usd"] for outcome in outcomes) == pytest.approx(priced.spent_usd())


def test_a_per_second_model_is_marked_uncertain_or_rests_on_the_assumption(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = write_prompts(tmp_path / "p.txt", ["a", "b", "c"])
    out = tmp_path / "out"
    base = ["batch", str(source), "--model", PER_SECOND, "--out", str(out), "--dry-run"]
    unknown = cli(*base, env=against(priced))
    assert unknown.returncode == SUCCESS, unknown.stderr
    assert "at $0.50 per second" in unknown.stdout
    assert "? unknown: it is billed per second of run time: cannot be estimated without " \
        "--assume-seconds" in unknown.stdout
    assert "Total: 3 jobs, 3 outputs: estimated unknown ? 3 jobs cannot be estimated" \
        in unknown.stdout

    assumed = cli(*base, "--assume-seconds", str(RUN_S), env=against(priced))
    assert assumed.returncode == SUCCESS, assumed.stderr
    assert "estimated: ~$3.00 ? assumes each job runs 2 s (--assume-seconds)" in assumed.stdout
    assert "estimated ~$3.00 ? rests on --assume-seconds 2" in assumed.stdout
    as_json = json.loads(cli(*base, "--assume-seconds", "2", "--json",
                             env=against(priced)).stdout)
    assert as_json["total_usd"] == 3 * SECOND_PRICE * RUN_S
    assert as_json["certain"] is False
    assert as_json["models"][0]["assumed_run_s"] == RUN_S
    assert priced.stats.jobs_created == 0
    assert not out.exists()


def test_a_dry_run_refuses_invalid_inputs_as_a_real_run_does(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "ok"}\n{"prompt": 7}\n{"prompt": "fine"}\n', encoding="utf-8")
    out = tmp_path / "out"
    refused = cli(*batch_args(priced, source, out, "--dry-run"), env=against(priced))
    assert refused.returncode == DATA_ERROR
    assert "1 of 3 inputs invalid; nothing was sent" in refused.stderr
    assert refused.stdout == ""
    skipping = cli(*batch_args(priced, source, out, "--dry-run", "--skip-invalid"),
                   env=against(priced))
    assert skipping.returncode == SUCCESS, skipping.stderr
    assert "Total: 2 jobs, 2 outputs: estimated $0.12" in skipping.stdout
    assert priced.stats.jobs_created == 0
    assert not out.exists()


def test_a_dry_run_reads_standard_input_to_its_end(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    lines = "".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(5))
    out = tmp_path / "out"
    done = cli("batch", "-", "--model", V3, "--out", str(out), "--dry-run", "--json",
               env=against(priced), stdin=lines)
    assert done.returncode == SUCCESS, done.stderr
    assert json.loads(done.stdout)["jobs"] == 5
    assert priced.stats.jobs_created == 0
    assert not out.exists()


@pytest.mark.parametrize("budget", ["-1", "five", "nan", "inf"])
def test_budget_must_be_an_amount_of_zero_or_more(budget: str, tmp_path: Path) -> None:
    done = cli("batch", "p.txt", "--out", str(tmp_path / "out"), "--budget", budget)
    assert done.returncode == USAGE
    assert "--budget" in done.stderr
    assert "US dollars" in done.stderr


def test_a_budget_on_a_per_second_model_needs_assume_seconds_before_anything_is_sent(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = write_prompts(tmp_path / "p.txt", ["a", "b"])
    out = tmp_path / "out"
    done = cli("batch", str(source), "--model", PER_SECOND, "--out", str(out), *cdn(priced),
               "--budget", "5", env=against(priced))
    assert done.returncode == USAGE
    assert "--assume-seconds" in done.stderr
    assert "assume_run_s" not in done.stderr
    assert priced.stats.jobs_created == 0
    assert not out.exists()
    # With a run time to assume, the budget can be kept.
    kept = cli("batch", str(source), "--model", PER_SECOND, "--out", str(out), *cdn(priced),
               "--budget", "5", "--assume-seconds", str(RUN_S), env=against(priced))
    assert kept.returncode == SUCCESS, kept.stderr
    assert priced.spent_usd() == pytest.approx(2 * SECOND_PRICE * RUN_S)


# --- What was spent --------------------------------------------------------------------------


def test_the_progress_line_and_summary_show_what_was_spent(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = write_prompts(tmp_path / "p.txt", [f"p{i}" for i in range(5)])
    done = cli(*batch_args(priced, source, tmp_path / "out", "--budget", "10"),
               env=against(priced))
    assert done.returncode == SUCCESS, done.stderr
    # The last progress line (standard error is not a terminal: plain lines).
    (progress,) = [line for line in done.stderr.splitlines() if line.startswith("[")][-1:]
    assert "$0.30 spent of $10.00 budget" in progress
    assert "spent $0.30 (as reported by the service)" in done.stderr
    assert (tmp_path / "out" / "index.html").read_text(encoding="utf-8").count(
        "total cost <b>$0.30</b>") == 1


# --- A budget --------------------------------------------------------------------------------


def test_a_budget_stops_before_it_is_passed_and_a_larger_one_finishes_the_batch(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = write_prompts(tmp_path / "p.txt", [f"p{i}" for i in range(10)])
    out = tmp_path / "out"
    stopped = cli(*batch_args(priced, source, out, "--budget", "0.30", "--max-in-flight", "3"),
                  env=against(priced))
    assert stopped.returncode == BUDGET_REACHED, stopped.stderr
    err = stopped.stderr
    assert "stopped at the budget: spent $0.30 of $0.30; 5 input(s) not sent" in err
    assert "raise --budget (now $0.30) by editing it" in err
    assert "5 succeeded, 5 held back" in err
    assert "✗" not in err  # held back inputs are not failure lines
    assert priced.spent_usd() <= 0.30 + 1e-9
    assert sorted(states(out).values()) == ["over_budget"] * 5 + ["succeeded"] * 5
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<span class="state tone-held">held back</span>' in page
    assert '<p class="note">' in page
    assert '<p class="error">' not in page

    command = resume_command(err)
    assert "--budget" in command
    command[command.index("--budget") + 1] = "1"
    resumed = subprocess.run(command, capture_output=True, text=True, env=against(priced),
                             timeout=90)
    assert resumed.returncode == SUCCESS, resumed.stderr
    assert set(states(out).values()) == {"succeeded"}
    assert priced.stats.jobs_created == 10
    assert paid_twice(priced) == []
    assert priced.spent_usd() == pytest.approx(10 * V3_PRICE)


def test_a_budget_of_zero_sends_nothing(priced: ThreadedSandbox, tmp_path: Path) -> None:
    source = write_prompts(tmp_path / "p.txt", ["a", "b", "c"])
    done = cli(*batch_args(priced, source, tmp_path / "out", "--budget", "0", "-q"),
               env=against(priced))
    assert done.returncode == BUDGET_REACHED, done.stderr
    # Quiet, but how to go on is still said.
    assert "3 input(s) not sent" in done.stderr
    assert "To resume: " in done.stderr
    assert priced.stats.jobs_created == 0


# --- An empty balance ------------------------------------------------------------------------


def balance_resume(stderr: str) -> list[str]:
    (line,) = [line for line in stderr.splitlines() if "top up and resume with: " in line]
    return shlex.split(line.split("top up and resume with: ", 1)[1])


def test_a_balance_running_out_stops_the_batch_and_a_top_up_resumes_it(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = write_prompts(tmp_path / "p.txt", [f"p{i}" for i in range(8)])
    out = tmp_path / "out"
    priced.balance_usd = 3 * V3_PRICE
    # One job at a time: each is billed before the next submit, so the balance runs out
    # exactly at the fourth input.
    stopped = cli(*batch_args(priced, source, out, "--max-in-flight", "1"), env=against(priced))
    assert stopped.returncode == NO_PERMISSION, stopped.stderr
    err = stopped.stderr
    assert "your RunComfy balance ran out after 3 job(s); top up and resume with: " in err
    assert "5 input(s) not sent (held back, not failed)" in err
    assert "the batch stops submitting" not in err  # said once, in the command's words
    recorded = states(out)
    assert sorted(recorded.values()) == ["over_budget"] * 4 + ["refused"] + ["succeeded"] * 3

    priced.balance_usd = None  # topped up
    resumed = subprocess.run(balance_resume(err), capture_output=True, text=True,
                             env=against(priced), timeout=90)
    assert resumed.returncode == SUCCESS, resumed.stderr
    assert set(states(out).values()) == {"succeeded"}
    assert priced.stats.jobs_created == 8
    assert paid_twice(priced) == []


def test_a_dry_run_says_a_resume_would_cost_less(
    priced: ThreadedSandbox, tmp_path: Path
) -> None:
    source = write_prompts(tmp_path / "p.txt", ["a", "b"])
    out = tmp_path / "out"
    assert cli(*batch_args(priced, source, out), env=against(priced)).returncode == SUCCESS
    done = cli(*batch_args(priced, source, out, "--dry-run"), env=against(priced))
    assert done.returncode == SUCCESS, done.stderr
    assert "holds an earlier run of this batch" in done.stderr


# --- The gallery and the progress line, without a batch -------------------------------------


def test_the_gallery_shows_held_back_inputs_apart_from_failures_and_the_total_cost() -> None:
    held = {"type": "BudgetExceededError", "message": "not sent: past its budget of $0.3"}
    records = [
        ManifestRecord(index=0, model_id=V3, input={"prompt": "a"}, state="succeeded",
                       request_id="r0", cost_usd=0.06),
        ManifestRecord(index=1, model_id=V3, input={"prompt": "b"}, state="over_budget",
                       error=held),
        ManifestRecord(index=2, model_id=V3, input={"prompt": "c"}, state="failed",
                       request_id="r2", error={"message": "GPU on fire"}),
    ]
    page = render_gallery(records)
    assert "total cost <b>$0.06</b>" in page
    counts = dict(re.findall(r'data-filter="([^"]+)".*?<span class="count">([\d,]+)<', page))
    assert counts == {
        "all": "3", "state:succeeded": "1", "state:failed": "1", "state:over_budget": "1",
        "failures": "1",  # held back is not a failure
    }
    assert '<span class="state tone-held">held back</span>' in page
    assert '<p class="note">not sent: past its budget of $0.3</p>' in page
    assert '<p class="error">GPU on fire</p>' in page


def test_the_progress_line_shows_money_only_once_some_is_known() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=300, color_system=None)
    display = LineDisplay(Streams(out=console, err=console), 10, {}, budget=5.0)
    display.progress = BatchProgress(succeeded=4, running=2, spent_usd=1.2, in_flight_usd=1.8)
    line = display.status_line().plain
    assert "· $1.20 spent · ~$3.00 total of $5.00 budget" in line
    display.progress = BatchProgress(succeeded=10, spent_usd=3.0)
    finished = display.status_line().plain
    assert "· $3.00 spent of $5.00 budget" in finished
    assert "total" not in finished  # nothing in flight: the spent is the total
    unbudgeted = LineDisplay(Streams(out=console, err=console), 10, {})
    assert "$" not in unbudgeted.status_line().plain  # nothing known yet: no money shown
