"""The gallery as a person sees it: opened from disk in headless Chromium.

Two batches: six inputs with real PNGs (one failed), and 2,000 inputs with failures of every
kind and a few hundred small images. In each: the thumbnails that are on screen load, the
state filters show what they say (and as many as they count), the search finds prompts, the
pages turn, nothing is written to the console as an error, and no text from the manifest
runs as a script. The page's script draws cards exactly as the HTML has them.

Skipped without a Chromium (``chromium`` on Debian; ``$CHROMIUM`` names another).
Screenshots go to ``$GALLERY_SHOTS`` if set (to look at), else into the test's folder.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from PIL import Image, ImageDraw

from runcomfy_async.cli.gallery import PAGE_SIZE, build_gallery, write_gallery
from runcomfy_async.core._files import StoredFile
from runcomfy_async.store._manifest import Manifest, ManifestRecord, Timings

from ._browser import Browser, Page, find_chromium

pytestmark = pytest.mark.timeout(150)

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
MODEL = "ideogram/ideogram-v3/text-to-image"
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> & a fox'
BIG_BATCH = 2000
BIG_IMAGES = 300
SEARCH_WORD = "aurora"

# Is the script running (it enables the controls)?
READY = "document.querySelector('button.filter:not([disabled])') !== null"
# Every image on screen finished loading (well or not).
VISIBLE_IMAGES = """Array.from(document.images).filter((image) => {
    const box = image.getBoundingClientRect();
    return box.bottom > 0 && box.top < innerHeight && box.width > 0;
})"""
VISIBLE_LOADED = f"{VISIBLE_IMAGES}.every((image) => image.complete)"
VISIBLE_SIZES = f"""{VISIBLE_IMAGES}.map((image) => ({{
    src: image.getAttribute("src"), width: image.naturalWidth, height: image.naturalHeight,
}}))"""
CARDS = """Array.from(document.querySelectorAll("figure.card")).map((card) => ({
    id: card.id,
    state: card.dataset.state,
    prompt: card.querySelector(".prompt").textContent,
    error: card.querySelector(".error") ? card.querySelector(".error").textContent : null,
    request: card.querySelector(".request") ? card.querySelector(".request").textContent : null,
}))"""
STATUS = "document.getElementById('status').textContent"


@attrs.frozen(kw_only=True)
class PricedRecord(ManifestRecord):
    """A record as it will be once the manifest keeps each job's cost."""

    cost_usd: float | None = None


@attrs.frozen
class Batch:
    folder: Path
    records: list[ManifestRecord]

    @property
    def url(self) -> str:
        return (self.folder / "index.html").as_uri()

    def count(self, state: str) -> int:
        return sum(record.state == state for record in self.records)


def draw(path: Path, size: tuple[int, int], seed: int) -> StoredFile:
    """A PNG that looks like something: a sky, a sun and a hill, in colours from `seed`."""
    rng = random.Random(seed)
    width, height = size
    sky = tuple(rng.randrange(90, 230) for _ in range(3))
    image = Image.new("RGB", size, sky)  # type: ignore[arg-type]
    pen = ImageDraw.Draw(image)
    sun = min(width, height) // 5
    x, y = rng.randrange(sun, width - sun), rng.randrange(sun, height // 2)
    pen.ellipse((x - sun, y - sun, x + sun, y + sun), fill=(250, 220, 90))
    hill = tuple(rng.randrange(20, 120) for _ in range(3))
    pen.polygon([(0, height), (0, height * 2 // 3), (width // 2, height // 2),
                 (width, height * 3 // 4), (width, height)], fill=hill)  # type: ignore[arg-type]
    image.save(path)
    return StoredFile(url=f"http://127.0.0.1/{path.name}", path=path.name, sha256="0",
                      size=path.stat().st_size, content_type="image/png")


def timings(seconds: float) -> Timings:
    return Timings(
        created_at=T0, submitted_at=T0, finished_at=T0 + timedelta(seconds=seconds),
        detected_at=T0 + timedelta(seconds=seconds + 0.2),
    )


@pytest.fixture(scope="module")
def small_batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """Six inputs: five images of three shapes (one prompt is hostile), one failure."""
    folder = tmp_path_factory.mktemp("small")
    shapes = [(1312, 736), (736, 1312), (1024, 1024), (1312, 736), (1152, 864)]
    prompts = [
        "A red fox in fresh snow at dawn", "A lighthouse on a cliff, storm coming",
        "Portrait of an old sailor, oil painting", HOSTILE, "Isometric tiny city at night",
    ]
    records: list[ManifestRecord] = []
    for index, (shape, prompt) in enumerate(zip(shapes, prompts, strict=True)):
        image = draw(folder / f"{index:06d}-image.png", shape, seed=index)
        records.append(PricedRecord(
            index=index, model_id=MODEL, state="succeeded", request_id=f"req-small-{index}",
            input={"prompt": prompt, "aspect_ratio": "16:9", "rendering_speed": "TURBO",
                   "seed": 1000 + index, "style_type": "REALISTIC"},
            outputs=(image.url,), files=(image,), timings=timings(7.5 + index),
            cost_usd=0.03,
        ))
    records.append(ManifestRecord(
        index=5, model_id=MODEL, state="failed", request_id="req-small-5",
        input={"prompt": "A city made of glass", "negative_prompt": "people", "num_images": 2},
        timings=timings(3.25), error={"error_message": "The GPU ran out of memory"},
    ))
    build_gallery(folder, records)
    return Batch(folder, records)


def big_record(index: int, folder: Path, images: list[StoredFile]) -> ManifestRecord:
    words = ["misty", "golden", "ancient", "neon", "quiet", "frozen", "wild", "tiny"]
    things = ["forest", "harbour", "temple", "market", "valley", "library", "garden"]
    prompt = f"A {words[index % 8]} {things[index % 7]} number {index}"
    if index % 250 == 3:
        prompt += f" under the {SEARCH_WORD}"
    payload = {"prompt": prompt, "aspect_ratio": "16:9", "seed": index}
    base = {"index": index, "model_id": MODEL, "input": payload}
    if index % 97 == 11:  # refused before a job existed: no request id
        return ManifestRecord(**base, state="rejected",
                              error={"message": f"input {index}: prompt is not allowed"})
    request = {"request_id": f"req-{index:05d}", "timings": timings(5 + index % 11)}
    if index % 13 == 5:
        return ManifestRecord(**base, **request, state="failed",
                              error={"error_message": f"GPU ran out of memory on job {index}"})
    if index % 151 == 17:
        return ManifestRecord(**base, **request, state="timed_out",
                              error="no result after 600 s")
    image = images[index % len(images)]
    return ManifestRecord(**base, **request, state="succeeded", outputs=(image.url,),
                          files=(image,))


@pytest.fixture(scope="module")
def big_batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """2,000 inputs, written to a manifest (one of them twice, as a resume does)."""
    folder = tmp_path_factory.mktemp("big")
    images = [draw(folder / f"image-{n:03d}.png", (96, 64), seed=n) for n in range(BIG_IMAGES)]
    records = [big_record(index, folder, images) for index in range(BIG_BATCH)]
    with Manifest(folder / "manifest.jsonl") as manifest:
        manifest.append(attrs.evolve(records[0], state="cancelled"))  # the last record wins
        for record in records:
            manifest.append(record)
    assert write_gallery(folder) is not None
    return Batch(folder, records)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium found (install Debian's `chromium`, or set $CHROMIUM)")
    async with Browser.launch(executable, tmp_path) as launched:
        yield launched


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("GALLERY_SHOTS") or tmp_path / "shots")


async def open_gallery(browser: Browser, batch: Batch, width: int = 1280) -> Page:
    page = await browser.new_page(width=width, height=900)
    await page.goto(batch.url)
    await page.wait_for(READY)
    return page


async def assert_visible_images_load(page: Page) -> list[dict[str, Any]]:
    await page.wait_for(VISIBLE_LOADED)
    sizes: list[dict[str, Any]] = await page.evaluate(VISIBLE_SIZES)
    assert sizes, "no image on screen"
    for size in sizes:
        assert size["width"] > 0, f"{size['src']} did not load"
        assert size["src"].startswith("thumbs/"), size
        assert max(size["width"], size["height"]) <= 320, size
    return sizes


async def choose(page: Page, selector: str) -> None:
    before = await page.evaluate(STATUS)
    await page.click(selector)
    await page.wait_for(f"{STATUS} !== {json.dumps(before)}")


def button_count(text: str) -> int:
    return int(text.replace(",", ""))


# Six inputs


async def test_small_gallery_shows_thumbnails_fields_costs_and_the_failure(
    browser: Browser, small_batch: Batch, shots: Path
) -> None:
    page = await open_gallery(browser, small_batch)
    cards = await page.evaluate(CARDS)
    assert [card["id"] for card in cards] == [f"input-{i}" for i in range(6)]
    sizes = await assert_visible_images_load(page)
    assert len(sizes) == 5  # the failure has no image
    await page.screenshot(shots / "small-gallery.png", full_page=True)

    text = await page.evaluate("document.body.innerText")
    assert HOSTILE in text  # shown as text...
    assert await page.evaluate("window.pwned === undefined")  # ...and never run
    for seen in ("6 inputs", "total cost $0.15", "seed", "1003", "speed", "TURBO",
                 "took 7.50 s", "detection lag 0.20 s", "$0.03", "req-small-2",
                 "negative prompt", "people"):
        assert seen in text, seen
    assert "not set" not in text
    failed = cards[5]
    assert failed["state"] == "failed"
    assert failed["error"] == "The GPU ran out of memory"

    await choose(page, 'button[data-filter="state:failed"]')
    cards = await page.evaluate(CARDS)
    assert [card["id"] for card in cards] == ["input-5"]
    assert await page.evaluate(STATUS) == "Showing 1–1 of 1 failed input"

    await choose(page, 'button[data-filter="all"]')
    await page.type("#search", "LIGHTHOUSE")
    await page.wait_for(f"{STATUS}.includes('matching')")
    cards = await page.evaluate(CARDS)
    assert [card["id"] for card in cards] == ["input-1"]
    assert page.errors == []

    narrow = await open_gallery(browser, small_batch, width=420)
    await assert_visible_images_load(narrow)
    await narrow.screenshot(shots / "small-gallery-narrow.png")
    assert narrow.errors == []


async def test_the_script_draws_cards_exactly_as_the_html_has_them(
    browser: Browser, small_batch: Batch
) -> None:
    markup = "Array.from(document.querySelectorAll('figure.card')).map((c) => c.outerHTML)"
    page = await browser.new_page()
    await page.goto(small_batch.url, javascript=False)
    assert not await page.evaluate(READY)  # without the script, the controls stay off
    from_html = await page.evaluate(markup)
    page = await open_gallery(browser, small_batch)
    await choose(page, 'button[data-filter="state:failed"]')
    await choose(page, 'button[data-filter="all"]')  # page 1 again, drawn by the script
    from_script = await page.evaluate(markup)
    assert len(from_html) == 6
    assert from_script == from_html
    assert page.errors == []


# 2,000 inputs


async def test_big_gallery_pages_filters_and_searches(
    browser: Browser, big_batch: Batch, shots: Path
) -> None:
    page = await open_gallery(browser, big_batch)
    assert await page.evaluate("document.querySelectorAll('figure.card').length") == PAGE_SIZE
    assert await page.evaluate(STATUS) == "Showing 1–100 of 2,000 inputs"
    assert (await page.evaluate(CARDS))[0]["state"] == "succeeded"  # the resumed input
    await assert_visible_images_load(page)
    await page.screenshot(shots / "big-gallery.png")

    # The header counts each state as the batch has it.
    buttons = await page.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('button.filter'))"
        ".map((b) => [b.dataset.filter, b.querySelector('.count').textContent]))"
    )
    states = Counter(record.state for record in big_batch.records)
    assert {key: button_count(text) for key, text in buttons.items()} == {
        "all": BIG_BATCH,
        **{f"state:{state}": count for state, count in states.items()},
        "failures": BIG_BATCH - states["succeeded"],
    }

    # The next page.
    await choose(page, '.toolbar [data-go="next"]')
    assert await page.evaluate(STATUS) == "Showing 101–200 of 2,000 inputs"
    cards = await page.evaluate(CARDS)
    assert [card["id"] for card in cards] == [f"input-{i}" for i in range(100, 200)]
    assert await page.evaluate("scrollY") == 0
    await assert_visible_images_load(page)

    # Failed only: as many as counted, all failed, with their errors; and their next page.
    failed = big_batch.count("failed")
    await choose(page, 'button[data-filter="state:failed"]')
    assert await page.evaluate(STATUS) == f"Showing 1–100 of {failed} failed inputs"
    cards = await page.evaluate(CARDS)
    assert len(cards) == min(failed, PAGE_SIZE)
    assert {card["state"] for card in cards} == {"failed"}
    assert all(card["error"].startswith("GPU ran out of memory") for card in cards)
    await page.screenshot(shots / "big-gallery-failed.png")
    await choose(page, '.pager.bottom [data-go="next"]')
    cards = await page.evaluate(CARDS)
    assert len(cards) == min(failed - PAGE_SIZE, PAGE_SIZE)
    assert {card["state"] for card in cards} == {"failed"}

    # Failures only: every kind, the refused inputs with their error and no request.
    failures = [r for r in big_batch.records if r.state != "succeeded"]
    await choose(page, 'button[data-filter="failures"]')
    assert await page.evaluate(STATUS) == f"Showing 1–100 of {len(failures)} failures"
    cards = await page.evaluate(CARDS)
    assert [card["id"] for card in cards] == [f"input-{r.index}" for r in failures[:100]]
    refused = [card for card in cards if card["state"] == "rejected"]
    assert refused
    for card in refused:
        assert card["error"].endswith("prompt is not allowed")
        assert card["request"] is None

    # Search, in every state.
    await choose(page, 'button[data-filter="all"]')
    await page.type("#search", SEARCH_WORD.upper())
    expected = [r for r in big_batch.records if SEARCH_WORD in r.input["prompt"]]
    await page.wait_for(f"{STATUS}.includes('matching')")
    cards = await page.evaluate(CARDS)
    assert [card["id"] for card in cards] == [f"input-{r.index}" for r in expected]
    assert all(SEARCH_WORD in card["prompt"] for card in cards)
    assert await page.evaluate(STATUS) == (
        f"Showing 1–{len(expected)} of {len(expected)} inputs matching “{SEARCH_WORD.upper()}”"
    )
    await page.screenshot(shots / "big-gallery-search.png")

    await page.type("#search", "zzz")
    await page.wait_for(f"{STATUS}.startsWith('No')")
    assert await page.evaluate("document.querySelectorAll('figure.card').length") == 0
    assert page.errors == []


async def test_a_link_to_one_input_opens_the_page_that_holds_it(
    browser: Browser, big_batch: Batch
) -> None:
    page = await browser.new_page()
    await page.goto(big_batch.url + "#input-1234")
    await page.wait_for(READY)
    assert await page.evaluate(STATUS) == "Showing 1,201–1,300 of 2,000 inputs"
    box = await page.evaluate(
        "(() => { const b = document.getElementById('input-1234').getBoundingClientRect();"
        " return [b.top, b.bottom, innerHeight]; })()"
    )
    assert 0 < box[0] < box[2]  # on screen, below the toolbar
    await assert_visible_images_load(page)
    assert page.errors == []
