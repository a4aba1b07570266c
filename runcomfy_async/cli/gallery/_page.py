"""``index.html``: a batch's gallery, built from its manifest, opened straight from disk.

Built from ``manifest.jsonl`` rather than from the outcomes of one run, so that it is right
after a resume too: the manifest holds every run's records, and the last record of an input
wins. The page is rebuilt whole each time, and is one file beside the images and their
``thumbs`` folder: links are relative (the folder can be moved or zipped), the CSS and the
script are inline, nothing is fetched from the network and no server is needed (``file://``
works, where a script may not ``fetch()`` a JSON file).

It stays usable at 10,000 inputs because it never holds 10,000 cards: the first page of
cards is written as HTML (readable without JavaScript), and every record is in the page as
JSON, from which the script draws one page (``GALLERY_PAGE_SIZE`` cards) at a time, filtered by
state or failures and searched by prompt.

Everything from the manifest (prompts, errors, model ids, file names) is HTML-escaped in the
HTML, and in the JSON ``<``, ``>`` and ``&`` are escaped so that no text can end its
``<script>`` element; the script puts texts in with ``textContent`` only. A
Content-Security-Policy lets only the page's own script run, should anything slip through.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final
from urllib.parse import quote

from ..._constants import GALLERY_FILE_NAME, GALLERY_PAGE_SIZE, MANIFEST_NAME
from ...store._manifest import ManifestRecord, read_manifest
from ._cards import (
    Card,
    StateInfo,
    card_for,
    first_image,
    format_usd,
    record_cost,
    state_infos,
)
from ._thumbs import make_thumbnails

__all__ = [
    "build_gallery",
    "latest_records",
    "render_card",
    "render_gallery",
    "write_gallery",
]

_PACKAGE: Final = __name__.rpartition(".")[0]
# What a JSON text must not contain inside <script>: "</script>" or "<!--" could end it.
_JSON_ESCAPES: Final = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def latest_records(records: Iterable[ManifestRecord]) -> list[ManifestRecord]:
    """The last record of each input, by input index: what the gallery shows.

    Args:
        records: a manifest's records in file order (a resumed batch appends to it).
    """
    latest = {record.index: record for record in records}
    return [latest[index] for index in sorted(latest)]


def write_gallery(out_dir: Path) -> Path | None:
    """Write ``index.html`` (and thumbnails) into the batch's folder from its manifest.

    Args:
        out_dir: the batch's output folder, holding ``manifest.jsonl``.

    Returns:
        The page, or None when the folder has no manifest.
    """
    manifest = out_dir / MANIFEST_NAME
    if not manifest.exists():
        return None
    return build_gallery(out_dir, latest_records(read_manifest(manifest)))


def build_gallery(
    out_dir: Path, records: Sequence[ManifestRecord], *, now: datetime | None = None
) -> Path:
    """Write ``index.html`` (and thumbnails) into ``out_dir`` for these records.

    Thumbnails are made for the images that have none or an outdated one (see
    ``make_thumbnails``); without Pillow the page shows the images themselves. The page is
    written to a temporary file and renamed over the old one, so that a reader never sees
    half a page.

    Args:
        out_dir: the batch's output folder (file paths in the records are relative to it).
        records: one record per input (see :func:`latest_records`).
        now: the time to print as the page's date (for exact tests).
    """
    images = (shown.path for shown in map(first_image, records) if shown is not None)
    page = render_gallery(records, now=now, thumbs=make_thumbnails(out_dir, images))
    target = out_dir / GALLERY_FILE_NAME
    handle, temporary = tempfile.mkstemp(dir=out_dir, prefix=".index.", suffix=".html.part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(page)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def render_gallery(
    records: Sequence[ManifestRecord],
    *,
    now: datetime | None = None,
    thumbs: Mapping[str, str] | None = None,
    page_size: int = GALLERY_PAGE_SIZE,
) -> str:
    """The gallery page for these records (one card each, in the order given).

    Args:
        records: one record per input (see :func:`latest_records`).
        now: the time to print as the page's date (for exact tests).
        thumbs: each image's thumbnail, by the image's path (both relative to the folder).
        page_size: cards on one page.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC")
    cards = [card_for(record, thumbs or {}) for record in records]
    states = state_infos(records)
    count = len(cards)
    shown = min(count, page_size)
    pages = max(1, -(-count // page_size))
    data = {
        "pageSize": page_size,
        "states": [state.to_data() for state in states],
        "records": [card.to_data() for card in cards],
    }
    script = _script()
    first_page = "\n".join(render_card(card, states) for card in cards[:page_size])
    status = f"Showing 1–{shown:,} of {_inputs(count)}" if count else "No inputs"
    noscript = (
        f'<noscript><p class="notice">Without JavaScript this page shows the first {shown:,} '
        f"of {_inputs(count)}; turn it on to see the others, filter and search.</p></noscript>"
        if count > page_size
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="script-src '{_script_hash()}'; \
object-src 'none'; base-uri 'none'; form-action 'none'">
<title>Batch gallery: {_inputs(count)}</title>
<style>
{_css()}</style>
</head>
<body>
<header>
<h1>Batch gallery</h1>
<p class="stats">{_stats(records, count, when)}</p>
</header>
<div class="toolbar">
<div class="controls">
{_filters(cards, states)}
<input type="search" id="search" placeholder="Search prompts" aria-label="Search prompts" \
autocomplete="off" disabled>
</div>
<div class="where">
<p class="status" id="status" aria-live="polite">{status}</p>
{_pager(pages) if pages > 1 else ""}
</div>
</div>
{noscript}
<main id="cards">
{first_page}
</main>
{_pager(pages, bottom=True) if pages > 1 else ""}
<script type="application/json" id="gallery-data">{_json_for_script(data)}</script>
<script>{script}</script>
</body>
</html>
"""


def render_card(card: Card, states: Sequence[StateInfo]) -> str:
    """One card as HTML: the same elements, classes and texts the script draws.

    Args:
        card: the card.
        states: the batch's states (for the card's state's words and colour).
    """
    info = next((state for state in states if state.value == card.state), None)
    label = info.label if info is not None else card.state
    tone = info.tone if info is not None else "bad"
    parts = [f'<figure class="card" id="input-{card.index}" data-state="{_e(card.state)}">']
    if card.image_src is not None and card.image is not None:
        parts.append(
            f'<a class="thumb" href="{_e(card.image)}"><img loading="lazy" decoding="async" '
            f'alt="{_e(card.title)}" src="{_e(card.image_src)}"></a>'
        )
    else:
        parts.append(f'<div class="thumb placeholder tone-{tone}">{_e(card.placeholder)}</div>')
    parts.append("<figcaption>")
    head = f'<span class="state tone-{tone}">{_e(label)}</span>'
    head += f'<span class="index">{_e(card.number)}</span>'
    if card.cost:
        head += f'<span class="cost">{_e(card.cost)}</span>'
    parts.append(f'<p class="head">{head}</p>')
    parts.append(f'<p class="prompt" title="{_e(card.title)}">{_e(card.title)}</p>')
    if card.fields:
        items = "".join(
            f'<li><span class="key">{_e(key)}</span><span class="value">{_e(value)}</span></li>'
            for key, value in card.fields
        )
        parts.append(f'<ul class="fields">{items}</ul>')
    if card.timing:
        parts.append(f'<p class="meta timing">{_e(card.timing)}</p>')
    if card.request_id:
        parts.append(f'<p class="meta request">request <code>{_e(card.request_id)}</code></p>')
    if card.model_id:
        parts.append(f'<p class="meta model">{_e(card.model_id)}</p>')
    if card.files:
        links = "".join(f'<a href="{_e(href)}">{_e(label)}</a>' for label, href in card.files)
        parts.append(f'<p class="meta files">{links}</p>')
    if card.error:
        # Why an input was held back is a note, not an error: it is not red.
        kind = "note" if tone == "held" else "error"
        parts.append(f'<p class="{kind}">{_e(card.error)}</p>')
    parts.append("</figcaption></figure>")
    return "".join(parts)


def _stats(records: Sequence[ManifestRecord], count: int, when: str) -> str:
    parts = [f"<b>{_inputs(count)}</b>"]
    costs = [cost for cost in map(record_cost, records) if cost is not None]
    if costs:
        total = f"total cost <b>{_e(format_usd(sum(costs)))}</b>"
        if len(costs) < count:
            total += f" (for the {len(costs):,} inputs priced)"
        parts.append(total)
    parts.append(f"made {_e(when)}")
    parts.append(f'<a href="{_e(quote(MANIFEST_NAME))}">{_e(MANIFEST_NAME)}</a>')
    return " · ".join(parts)


def _filters(cards: Sequence[Card], states: Sequence[StateInfo]) -> str:
    # Counts per state are the filter buttons: visible (and disabled) without JavaScript.
    buttons = [_filter_button("all", "All", len(cards), pressed=True)]
    buttons += [
        _filter_button(f"state:{state.value}", state.label, state.count, tone=state.tone)
        for state in states
    ]
    buttons.append(
        _filter_button("failures", "Failures only", sum(card.failure for card in cards))
    )
    return '<div class="filters" role="group" aria-label="Show">' + "".join(buttons) + "</div>"


def _filter_button(
    value: str, label: str, count: int, *, tone: str | None = None, pressed: bool = False
) -> str:
    dot = f'<span class="dot tone-{tone}"></span>' if tone else ""
    return (
        f'<button type="button" class="filter" data-filter="{_e(value)}" '
        f'aria-pressed="{"true" if pressed else "false"}" disabled>{dot}{_e(label)}'
        f'<span class="count">{count:,}</span></button>'
    )


def _pager(pages: int, *, bottom: bool = False) -> str:
    return (
        f'<nav class="pager{" bottom" if bottom else ""}" aria-label="Pages">'
        '<button type="button" data-go="prev" disabled>‹ Previous</button>'
        f'<span class="page">Page 1 of {pages:,}</span>'
        '<button type="button" data-go="next" disabled>Next ›</button></nav>'
    )


def _inputs(count: int) -> str:
    return f"{count:,} input{'' if count == 1 else 's'}"


def _json_for_script(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_JSON_ESCAPES)


@lru_cache(maxsize=1)
def _script() -> str:
    return _asset("gallery.js")


@lru_cache(maxsize=1)
def _script_hash() -> str:
    digest = hashlib.sha256(_script().encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


@lru_cache(maxsize=1)
def _css() -> str:
    return _asset("gallery.css")


def _asset(name: str) -> str:
    text = resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    if "</" in text or "<!--" in text:  # either could end its <script> or <style> early
        raise RuntimeError(f"{name} must not contain '</' or '<!--'")
    return text


def _e(text: str) -> str:
    return html.escape(text, quote=True)
