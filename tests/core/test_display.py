"""Results and outcomes in a notebook: a card with thumbnails, every text escaped."""

from __future__ import annotations

from pathlib import Path

import pytest

from runcomfy_async import InputState, JobResult, JobState, Outcome
from runcomfy_async.core._files import StoredFile

HOSTILE = '<script>alert("x")</script>'


def test_a_result_shows_its_images_and_escapes_its_error() -> None:
    result = JobResult(request_id="r1", state=JobState.FAILED, error=HOSTILE,
                       outputs=("https://cdn.runcomfy.net/a.png", "javascript:alert(1)"))
    card = result._repr_html_()
    assert '<img src="https://cdn.runcomfy.net/a.png"' in card
    assert "javascript:" not in card
    assert "<script>" not in card
    assert "&lt;script&gt;" in card


def test_an_outcome_shows_its_prompt_and_downloaded_files(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    from PIL import Image

    Image.new("RGB", (8, 6), "red").save(tmp_path / "000001-a-fox.png")
    stored = StoredFile(url="https://cdn.runcomfy.net/a.png", path="000001-a-fox.png",
                        sha256="0" * 64, size=1, content_type="image/png")
    outcome = Outcome(index=1, input={"prompt": f"a fox {HOSTILE}"}, model_id="m/x",
                      request_id="r1", state=InputState.SUCCEEDED, files=(stored,))
    card = outcome._repr_html_()
    assert '<img src="000001-a-fox.png"' in card
    assert "a fox &lt;script&gt;" in card
    assert outcome.image(folder=tmp_path).size == (8, 6)


def test_an_outcome_without_files_says_how_to_get_images() -> None:
    outcome = Outcome(index=2, input={"prompt": "x"}, model_id="m/x", request_id=None,
                      state=InputState.NOT_SENT)
    with pytest.raises(LookupError, match="download_to"):
        outcome.image()
