"""``batch``: files, manifest, gallery and JSON output of a whole run, as a subprocess."""

from __future__ import annotations

import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import attrs
import pytest
from PIL import Image

from runcomfy_async.cli._exit_codes import DATA_ERROR, JOBS_FAILED, SUCCESS, USAGE
from runcomfy_async.sandbox import ThreadedSandbox
from runcomfy_async.store._manifest import read_manifest

from .conftest import FAST, FLAKY, V3, against, cdn, cli, write_prompts

SCRIPT_PROMPT = '<script>alert("boo")</script> & a fox'
OUTCOME_KEYS = {
    "index", "line", "model_id", "request_id", "state", "raw_state", "outputs", "files",
    "timings", "from_journal", "cost_usd", "error",
}


@attrs.frozen
class Run:
    folder: Path
    done: subprocess.CompletedProcess[str]
    prompts: list[str]

    @property
    def out(self) -> Path:
        return self.folder / "out"


@pytest.fixture(scope="module")
def readme_batch(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The README's batch (30 prompts, an in-process sandbox), run once for these tests."""
    folder = tmp_path_factory.mktemp("readme")
    prompts = [f"prompt number {i}" for i in range(29)] + [SCRIPT_PROMPT]
    write_prompts(folder / "prompts.txt", ["# a comment line", *prompts])
    done = cli(
        "batch", "prompts.txt", "--model", V3, "--sandbox", "--sandbox-time-scale", FAST,
        "--out", "out", "--json", cwd=folder,
    )
    return Run(folder, done, prompts)


def test_sandbox_batch_succeeds_and_says_where_everything_is(readme_batch: Run) -> None:
    assert readme_batch.done.returncode == SUCCESS, readme_batch.done.stderr
    assert "30 of 30 inputs finished" in readme_batch.done.stderr
    assert "gallery:  out/index.html" in readme_batch.done.stderr


def test_json_writes_one_outcome_per_line_on_stdout_and_nothing_else(readme_batch: Run) -> None:
    outcomes = [json.loads(line) for line in readme_batch.done.stdout.splitlines()]
    assert sorted(o["index"] for o in outcomes) == list(range(30))
    for outcome in outcomes:
        assert set(outcome) == OUTCOME_KEYS
        assert outcome["state"] == "succeeded"
        assert outcome["raw_state"] == "succeeded"  # the service's own word, kept
        assert outcome["model_id"] == V3
        assert outcome["line"] == outcome["index"] + 2  # after the comment line
        assert outcome["error"] is None
        assert outcome["cost_usd"] == 0.06  # the sandbox's price of a v3 image, as reported
        assert set(outcome["timings"]) == {"submitted_at", "finished_at", "detected_at"}
        assert len(outcome["outputs"]) == len(outcome["files"]) == 1


def test_files_are_on_disk_at_the_sizes_recorded_and_sized_as_ideogram_renders(
    readme_batch: Run,
) -> None:
    for line in readme_batch.done.stdout.splitlines():
        (stored,) = json.loads(line)["files"]
        path = readme_batch.folder / stored["path"]
        assert path.stat().st_size == stored["size"]
        with Image.open(path) as image:
            assert image.size == (1312, 736)  # v3, 16:9 by default


def test_manifest_has_one_record_per_input(readme_batch: Run) -> None:
    records = read_manifest(readme_batch.out / "manifest.jsonl")
    assert sorted(r.index for r in records) == list(range(30))
    assert [r.input["prompt"] for r in sorted(records, key=lambda r: r.index)] == (
        readme_batch.prompts
    )
    assert {r.state for r in records} == {"succeeded"}


class Gallery(HTMLParser):
    """The cards, images and text of a gallery page."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[str] = []
        self.images: list[str] = []
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag)
        if tag == "figure":
            self.cards.append(found["id"] or "")
        if tag == "img":
            self.images.append(found["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text += data


def test_gallery_shows_every_input_with_its_image_and_escapes_prompts(readme_batch: Run) -> None:
    page = (readme_batch.out / "index.html").read_text(encoding="utf-8")
    gallery = Gallery()
    gallery.feed(page)
    assert sorted(gallery.cards) == sorted(f"input-{i}" for i in range(30))
    assert len(gallery.images) == 30
    assert all((readme_batch.out / src).is_file() for src in gallery.images)
    assert gallery.tags.count("script") == 2  # the records as JSON, and the page's own script
    assert SCRIPT_PROMPT not in page  # nowhere unescaped, not even in the JSON
    assert SCRIPT_PROMPT in gallery.text  # shown as text, not run
    assert "&lt;script&gt;alert(&quot;boo&quot;)&lt;/script&gt; &amp; a fox" in page


def test_failed_jobs_exit_1_and_are_reported_as_they_happen(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    inputs = write_prompts(tmp_path / "p.txt", [f"flaky {i}" for i in range(10)])
    done = cli("batch", str(inputs), "--model", FLAKY, "--out", str(tmp_path / "out"),
               *cdn(sandbox), env=against(sandbox))
    assert done.returncode == JOBS_FAILED, done.stderr
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    failed = [r for r in records if r.state == "failed"]
    assert failed, "the flaky model fails half its jobs"
    for record in failed:
        assert f"✗ input {record.index} (line {record.index + 1}) failed" in done.stderr
        assert f"request {record.request_id}" in done.stderr
        assert "simulated by the sandbox" in done.stderr
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert page.count('<p class="error">') == len(failed)


def test_invalid_lines_are_listed_with_line_numbers_and_nothing_is_sent(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        '{"prompt": "fine"}\n'
        '{"prompt": "bad", "aspect_ratio": "5:4"}\n'
        "not json\n"
        '{"prompt": "fine too"}\n'
        '{"seed": 1}\n',
        encoding="utf-8",
    )
    done = cli("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"),
               env=against(sandbox))
    assert done.returncode == DATA_ERROR
    assert "3 of 5 inputs invalid; nothing was sent" in done.stderr
    assert "line 2: aspect_ratio: got '5:4'; one of '16:9'" in done.stderr
    assert "line 3: not valid JSON" in done.stderr
    assert "line 5: prompt: got <missing>; required" in done.stderr
    assert sandbox.stats.total_requests == 0
    assert not (tmp_path / "out").exists()


def test_skip_invalid_sends_the_valid_lines_only(sandbox: ThreadedSandbox, tmp_path: Path) -> None:
    inputs = tmp_path / "in.csv"
    inputs.write_text("prompt,seed\na fox,1\na hen,minus one\na cat,3\n", encoding="utf-8")
    done = cli("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"),
               "--skip-invalid", *cdn(sandbox), env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr
    assert "line 3: seed: got 'minus one'" in done.stderr
    stats = sandbox.stats
    assert stats.jobs_created == 2
    assert {json.loads(key)["seed"] for key in stats.submissions_by_input} == {1, 3}


def test_an_existing_journal_is_resumed_only_when_asked(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    inputs = write_prompts(tmp_path / "p.txt", ["one", "two"])
    command = ("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"), *cdn(sandbox))
    assert cli(*command, env=against(sandbox)).returncode == SUCCESS
    again = cli(*command, env=against(sandbox))
    assert again.returncode == USAGE
    assert "already holds a batch" in again.stderr
    assert "--resume" in again.stderr
    resumed = cli(*command, "--resume", env=against(sandbox))
    assert resumed.returncode == SUCCESS
    assert "(2 from the journal of an earlier run)" in resumed.stderr
    assert sandbox.stats.jobs_created == 2
