"""The gallery's page and thumbnails, without a browser (see test_gallery_browser.py for one).

What a card says, what it leaves out, how the page holds 10,000 inputs, how texts from the
manifest are kept from being run, and how thumbnails are made (once, and never at the cost of
the page).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest
from PIL import Image

from runcomfy_async.cli._exit_codes import SUCCESS
from runcomfy_async.cli.gallery import (
    PAGE_SIZE,
    build_gallery,
    make_thumbnails,
    render_gallery,
    thumbnail_path,
    write_gallery,
)
from runcomfy_async.core._files import StoredFile
from runcomfy_async.sandbox import ThreadedSandbox
from runcomfy_async.store._manifest import Manifest, ManifestRecord, Timings, read_manifest

from .conftest import V3, against, cdn, cli

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NOW = datetime(2030, 1, 2, 4, 0, 0, tzinfo=timezone.utc)


@attrs.frozen(kw_only=True)
class PricedRecord(ManifestRecord):
    """A record as it will be once the manifest keeps each job's cost."""

    cost_usd: float | None = None


def record(
    index: int,
    state: str = "succeeded",
    *,
    prompt: str | None = None,
    files: tuple[StoredFile, ...] = (),
    cost: float | None = None,
    **fields: Any,
) -> ManifestRecord:
    payload = dict(fields.pop("input", {}))
    if prompt is not None:
        payload["prompt"] = prompt
    arguments: dict[str, Any] = {
        "index": index, "model_id": "ideogram/v3", "input": payload, "state": state,
        "files": files, **fields,
    }
    if cost is not None:
        return PricedRecord(cost_usd=cost, **arguments)
    return ManifestRecord(**arguments)


def png(folder: Path, name: str, size: tuple[int, int], mode: str = "RGB") -> StoredFile:
    colour: Any = (200, 80, 40, 128) if mode == "RGBA" else (200, 80, 40)
    Image.new(mode, size, colour).save(folder / name)
    return stored(name)


def stored(name: str, content_type: str = "image/png") -> StoredFile:
    return StoredFile(url=f"http://cdn/{name}", path=name, sha256="0", size=1,
                      content_type=content_type)


class Page(HTMLParser):
    """A gallery page, parsed: its cards (as the HTML has them), scripts and data."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.cards: dict[str, dict[str, str | None]] = {}
        self.images: list[dict[str, str | None]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.buttons: list[dict[str, str | None]] = []
        self._in_script = False
        self.script_texts: list[str] = []  # one per <script>, in order
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "figure":
            self.cards[found["id"] or ""] = found
        elif tag == "img":
            self.images.append(found)
        elif tag == "script":
            self.scripts.append(found)
            self.script_texts.append("")
            self._in_script = True
        elif tag == "button":
            self.buttons.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_texts[-1] += data

    @property
    def data(self) -> dict[str, Any]:
        (index,) = [n for n, s in enumerate(self.scripts) if s.get("id") == "gallery-data"]
        loaded: dict[str, Any] = json.loads(self.script_texts[index])
        return loaded

    def card_html(self, index: int) -> str:
        match = re.search(rf'<figure class="card" id="input-{index}".*?</figure>', self.text)
        assert match, f"no card for input {index}"
        return match.group(0)


# What a card shows


def test_a_card_shows_the_inputs_main_fields_request_timings_and_cost() -> None:
    shown = record(
        0,
        prompt="a red fox in snow",
        input={
            "aspect_ratio": "16:9", "resolution": "1312x736", "style_type": "REALISTIC",
            "rendering_speed": "TURBO", "seed": 42, "negative_prompt": "blurry",
            "num_images": 2, "magic_prompt": "ON",
        },
        request_id="req-123",
        timings=Timings(
            submitted_at=T0, finished_at=T0 + timedelta(seconds=8.5),
            detected_at=T0 + timedelta(seconds=8.75),
        ),
        cost=0.06,
    )
    page = Page(render_gallery([shown], now=NOW))
    card = page.card_html(0)
    for text in (
        "a red fox in snow", ">aspect ratio<", ">16:9<", ">resolution<", ">1312x736<",
        ">style type<", ">REALISTIC<", ">speed<", ">TURBO<", ">seed<", ">42<",
        ">negative prompt<", ">blurry<", ">images<", ">2<", "req-123", "took 8.50 s",
        "detection lag 0.25 s", "$0.06", "ideogram/v3",
    ):
        assert text in card, text
    assert "magic" not in card  # not one of the main fields
    assert "total cost <b>$0.06</b>" in page.text
    assert "2030-01-02 04:00:00 UTC" in page.text


def test_absent_fields_timings_and_costs_are_left_out_not_filled_in() -> None:
    page = render_gallery([record(0, prompt="just a prompt")], now=NOW)
    card = Page(page).card_html(0)
    for absent in ("seed", "not set", "None", "took", "lag", "request", "$", "cost"):
        assert absent not in card, absent
    assert "total cost" not in page
    assert 'class="fields"' not in card


def test_costs_add_up_in_the_header_and_say_when_some_are_missing() -> None:
    page = render_gallery(
        [record(0, prompt="a", cost=0.06), record(1, prompt="b", cost=0.045),
         record(2, prompt="c")],
        now=NOW,
    )
    assert "total cost <b>$0.105</b> (for the 2 inputs priced)" in page
    assert ">$0.045<" in page


def test_an_input_without_a_prompt_is_titled_by_its_fields() -> None:
    card = Page(render_gallery([record(0, input={"image": "data:" + "A" * 500})])).card_html(0)
    assert "image=data:AAAA" in card
    assert "A" * 200 not in card  # a data: URI is cut


def test_inputs_refused_before_a_job_appear_with_their_error() -> None:
    page = Page(render_gallery([
        record(0, "rejected", prompt="too long", error={"message": "prompt: too long"}),
        record(1, "refused", prompt="odd", error="not allowed here"),
        record(2, "failed", prompt="x", request_id="r2", error={"error_message": "GPU on fire"}),
    ]))
    assert set(page.cards) == {"input-0", "input-1", "input-2"}
    assert "prompt: too long" in page.card_html(0)
    assert "request" not in page.card_html(0)  # refused: there was no job
    assert "not allowed here" in page.card_html(1)
    assert "GPU on fire" in page.card_html(2)
    assert page.text.count('<p class="error">') == 3
    # An unknown state is a state too: its own filter, shown as a problem.
    assert 'data-filter="state:refused"' in page.text
    assert '<span class="state tone-bad">refused</span>' in page.card_html(1)


def test_a_nested_field_is_said_in_words_not_json() -> None:
    shown = record(0, prompt="p", input={"style": {"style_type": "Design", "colors": ["red", 2]}})
    card = Page(render_gallery([shown])).card_html(0)
    assert ">style_type: Design, colors: [red, 2]<" in card
    assert "{" not in card
    assert "&quot;" not in card


@pytest.mark.parametrize("skew", [0.0001, 0.004, 30.0])
def test_clocks_a_hair_apart_never_make_a_negative_time(skew: float) -> None:
    """submitted_at and detected_at are this side's clock, finished_at the service's."""
    finished = T0 + timedelta(seconds=5)
    shown = record(0, prompt="p", timings=Timings(
        submitted_at=finished + timedelta(seconds=skew), finished_at=finished,
        detected_at=finished - timedelta(seconds=skew),
    ))
    card = Page(render_gallery([shown])).card_html(0)
    assert "took 0.00 s · detection lag 0.00 s" in card
    assert "-" not in card.split('class="meta timing">')[1].split("<")[0]


def test_lines_skipped_as_invalid_are_cards_with_their_line_and_error(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        '{"prompt": "a fox"}\n{"prompt": "a hen", "aspect_ratio": "5:4"}\nnot json\n'
        '{"prompt": "a cat"}\n',
        encoding="utf-8",
    )
    command = ("batch", str(inputs), "--model", V3, "--out", str(tmp_path / "out"),
               "--skip-invalid", *cdn(sandbox))
    done = cli(*command, env=against(sandbox))
    assert done.returncode == SUCCESS, done.stderr

    manifest = read_manifest(tmp_path / "out" / "manifest.jsonl")
    skipped = {r.index: r for r in manifest if r.state == "refused"}
    assert sorted(skipped) == [-3, -2]  # minus the line number: never a batch input's index
    assert skipped[-2].input == {"prompt": "a hen", "aspect_ratio": "5:4"}
    assert skipped[-2].model_id == V3
    assert skipped[-2].error["line"] == 2
    assert skipped[-2].error["message"].startswith("line 2: aspect_ratio: got '5:4'")
    assert skipped[-3].error["message"].startswith("line 3: not valid JSON")
    assert sorted(r.index for r in manifest if r.state == "succeeded") == [0, 1]

    page = Page((tmp_path / "out" / "index.html").read_text(encoding="utf-8"))
    hen = page.card_html(-2)
    assert '<span class="index">line 2</span>' in hen
    assert "a hen" in hen
    assert "line 2: aspect_ratio: got &#x27;5:4&#x27;" in hen
    assert '<span class="state tone-bad">refused</span>' in hen
    assert "line 3: not valid JSON" in page.card_html(-3)
    assert 'data-filter="state:refused"' in page.text
    assert {"i": -2, "n": "line 2"}.items() <= next(
        r for r in page.data["records"] if r["i"] == -2
    ).items()

    resumed = cli(*command, "--resume", env=against(sandbox))
    assert resumed.returncode == SUCCESS, resumed.stderr
    again = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert [r.index for r in again if r.state == "refused"] == [-2, -3]  # not written twice
    assert set(Page((tmp_path / "out" / "index.html").read_text(encoding="utf-8")).cards) == {
        "input--3", "input--2", "input-0", "input-1",
    }


def test_lines_skipped_from_standard_input_are_cards_too(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    lines = '{"prompt": "a fox"}\nnot json\n{"prompt": "a cat", "sed": 4}\n'
    done = cli("batch", "-", "--model", V3, "--out", str(tmp_path / "out"), "--skip-invalid",
               *cdn(sandbox), env=against(sandbox), stdin=lines)
    assert done.returncode == SUCCESS, done.stderr
    refused = [r for r in read_manifest(tmp_path / "out" / "manifest.jsonl")
               if r.state == "refused"]
    assert [(r.index, r.error["line"]) for r in refused] == [(-2, 2), (-3, 3)]
    page = Page((tmp_path / "out" / "index.html").read_text(encoding="utf-8"))
    assert "did you mean &#x27;seed&#x27;?" in page.card_html(-3)
    assert '<span class="index">line 3</span>' in page.card_html(-3)


def test_the_header_counts_every_state_and_the_failures() -> None:
    records = [record(i, "succeeded", prompt=f"p{i}") for i in range(5)]
    records += [record(5, "failed", prompt="f"), record(6, "timed_out", prompt="t")]
    records += [record(7, "succeeded", prompt="no file", error={"message": "download failed"})]
    page = Page(render_gallery(records))
    counts = dict(re.findall(r'data-filter="([^"]+)".*?<span class="count">([\d,]+)<', page.text))
    assert counts == {
        "all": "8", "state:succeeded": "6", "state:failed": "1", "state:timed_out": "1",
        "failures": "3",  # failed, timed out, and succeeded without its file
    }
    assert ">timed out<" in page.text


# A page for 10,000 inputs


def test_only_the_first_page_of_cards_is_html_and_every_record_is_data() -> None:
    records = [record(i, prompt=f"prompt {i}") for i in range(2 * PAGE_SIZE + 50)]
    page = Page(render_gallery(records))
    assert sorted(page.cards) == sorted(f"input-{i}" for i in range(PAGE_SIZE))
    data = page.data
    assert data["pageSize"] == PAGE_SIZE
    assert [r["i"] for r in data["records"]] == list(range(250))
    assert "Page 1 of 3" in page.text
    assert "Showing 1–100 of 250 inputs" in page.text
    assert "first 100 of 250 inputs" in page.text  # said without JavaScript


def test_ten_thousand_inputs_make_a_page_of_a_hundred_cards_and_a_few_megabytes() -> None:
    records = [
        record(i, prompt=f"a detailed prompt number {i} " * 4, request_id=f"req-{i:05d}",
               files=(stored(f"{i:06d}-a-detailed-prompt.png"),), input={"seed": i})
        for i in range(10_000)
    ]
    text = render_gallery(records)
    page = Page(text)
    assert len(page.cards) == PAGE_SIZE
    assert len(page.data["records"]) == 10_000
    assert len(text.encode()) < 8_000_000


# Nothing from the manifest runs


HOSTILE = '</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> & "q" \u2028'


def test_texts_from_the_manifest_are_escaped_in_html_and_in_the_data() -> None:
    page = Page(render_gallery([
        record(0, "fail<ed", prompt=HOSTILE, request_id='r"><b>', model_id="m<i>",
               error={"message": HOSTILE}, input={"seed": "<s>"}),
    ]))
    assert len(page.scripts) == 2  # the data, and the page's own script
    assert page.script_texts[0].count("<") == 0  # nothing in the data can end its element
    assert "<script>alert" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    (data,) = page.data["records"]
    assert data["t"] == HOSTILE  # the script gets the exact text, to set as textContent
    assert data["e"] == HOSTILE.strip()  # an error is shown on one line
    assert data["r"] == 'r"><b>'
    assert data["s"] == "fail<ed"


def test_links_are_relative_and_quoted_so_no_path_can_become_a_url() -> None:
    files = (stored("000000-a b#c.png"), stored("javascript:alert(1).png"))
    page = render_gallery([record(0, prompt="p", files=files)])
    assert 'href="000000-a%20b%23c.png"' in page
    assert 'href="javascript%3Aalert%281%29.png"' in page
    assert 'href="javascript:' not in page


def test_only_the_pages_own_script_may_run() -> None:
    page = Page(render_gallery([record(0, prompt="p")]))
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page.text)
    assert policy
    own_script = page.script_texts[1]
    digest = base64.b64encode(hashlib.sha256(own_script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)
    assert "object-src 'none'" in policy.group(1)
    assert "http://" not in own_script
    assert "https://" not in own_script
    assert "fetch(" not in own_script  # the data is in the page: file:// works


# Thumbnails


def test_thumbnails_fit_in_320_pixels_keep_their_shape_and_are_linked(tmp_path: Path) -> None:
    wide = png(tmp_path, "000000-wide.png", (1312, 736))
    tall = png(tmp_path, "000001-tall.png", (600, 900), mode="RGBA")
    small = png(tmp_path, "000002-small.png", (100, 50))
    target = build_gallery(
        tmp_path, [record(0, prompt="w", files=(wide,)), record(1, prompt="t", files=(tall,)),
                   record(2, prompt="s", files=(small,))], now=NOW,
    )
    sizes = {}
    for name in ("000000-wide.png", "000001-tall.png", "000002-small.png"):
        with Image.open(tmp_path / "thumbs" / f"{name}.jpg") as thumb:
            assert thumb.format == "JPEG"
            sizes[name] = thumb.size
    assert sizes == {
        "000000-wide.png": (320, 180), "000001-tall.png": (213, 320), "000002-small.png": (100, 50),
    }
    page = Page(target.read_text(encoding="utf-8"))
    assert [i["src"] for i in page.images] == [
        "thumbs/000000-wide.png.jpg", "thumbs/000001-tall.png.jpg", "thumbs/000002-small.png.jpg",
    ]
    assert all(i["loading"] == "lazy" for i in page.images)
    assert 'href="000000-wide.png"><img' in page.text  # the thumbnail opens the full image
    assert [r["src"] for r in page.data["records"]] == [i["src"] for i in page.images]


def test_an_up_to_date_thumbnail_is_kept_and_an_outdated_one_remade(tmp_path: Path) -> None:
    png(tmp_path, "a.png", (640, 480))
    assert make_thumbnails(tmp_path, ["a.png"]) == {"a.png": "thumbs/a.png.jpg"}
    thumb = tmp_path / "thumbs" / "a.png.jpg"
    source_time = (tmp_path / "a.png").stat().st_mtime_ns
    os.utime(thumb, ns=(source_time + 10**9, source_time + 10**9))
    before = thumb.stat()

    assert make_thumbnails(tmp_path, ["a.png"]) == {"a.png": "thumbs/a.png.jpg"}
    after = thumb.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    png(tmp_path, "a.png", (300, 600))  # the image changed after its thumbnail
    os.utime(tmp_path / "a.png", ns=(source_time + 2 * 10**9, source_time + 2 * 10**9))
    assert make_thumbnails(tmp_path, ["a.png"]) == {"a.png": "thumbs/a.png.jpg"}
    with Image.open(thumb) as remade:
        assert remade.size == (160, 320)


def test_an_unreadable_image_gets_no_thumbnail_and_the_card_shows_it_lazily(
    tmp_path: Path,
) -> None:
    (tmp_path / "000000-broken.png").write_bytes(b"not a png at all")
    good = png(tmp_path, "000001-good.png", (400, 300))
    target = build_gallery(
        tmp_path,
        [record(0, prompt="b", files=(stored("000000-broken.png"),)),
         record(1, prompt="g", files=(good,))],
    )
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == ["000001-good.png.jpg"]
    page = Page(target.read_text(encoding="utf-8"))
    assert [(i["src"], i["loading"]) for i in page.images] == [
        ("000000-broken.png", "lazy"), ("thumbs/000001-good.png.jpg", "lazy"),
    ]


def test_an_outdated_thumbnail_that_cannot_be_remade_is_removed(tmp_path: Path) -> None:
    png(tmp_path, "a.png", (64, 64))
    make_thumbnails(tmp_path, ["a.png"])
    (tmp_path / "a.png").write_bytes(b"garbage")
    future = (tmp_path / "thumbs" / "a.png.jpg").stat().st_mtime_ns + 10**9
    os.utime(tmp_path / "a.png", ns=(future, future))
    assert make_thumbnails(tmp_path, ["a.png"]) == {}
    assert list((tmp_path / "thumbs").iterdir()) == []


def test_without_pillow_the_gallery_shows_the_images_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = png(tmp_path, "000000-x.png", (64, 64))
    monkeypatch.setitem(sys.modules, "PIL", None)  # `import PIL` now raises ImportError
    with Manifest(tmp_path / "manifest.jsonl") as manifest:
        manifest.append(record(0, prompt="x", files=(image,)))
    target = write_gallery(tmp_path)
    assert target is not None
    assert not (tmp_path / "thumbs").exists()
    page = Page(target.read_text(encoding="utf-8"))
    assert [(i["src"], i["loading"]) for i in page.images] == [("000000-x.png", "lazy")]


def test_only_plain_file_names_get_thumbnails(tmp_path: Path) -> None:
    assert thumbnail_path("000001-fox.png") == "thumbs/000001-fox.png.jpg"
    for name in ("../x.png", "sub/x.png", ".hidden.png", "..", "", "a\\b.png", "/etc/x.png"):
        assert thumbnail_path(name) is None, name
    assert make_thumbnails(tmp_path, ["../x.png", "missing.png"]) == {}
    assert not (tmp_path / "thumbs").exists()


def test_a_card_shows_its_first_image_even_after_a_video(tmp_path: Path) -> None:
    (tmp_path / "000000-clip.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    still = png(tmp_path, "000000-still.png", (200, 100))
    target = build_gallery(
        tmp_path, [record(0, prompt="p", files=(stored("000000-clip.mp4", "video/mp4"), still))]
    )
    page = Page(target.read_text(encoding="utf-8"))
    assert [i["src"] for i in page.images] == ["thumbs/000000-still.png.jpg"]
    assert '<a href="000000-clip.mp4">full video</a>' in page.text
    assert '<a href="000000-still.png">image 2</a>' in page.text


def test_a_folder_without_a_manifest_gets_no_gallery(tmp_path: Path) -> None:
    assert write_gallery(tmp_path) is None
    assert list(tmp_path.iterdir()) == []
