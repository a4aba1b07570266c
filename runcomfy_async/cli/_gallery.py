"""``index.html``: a batch's gallery, built from its manifest, opened straight from disk.

Built from ``manifest.jsonl`` rather than from the outcomes of one run, so that it is right
after a resume too: the manifest holds every run's records, and the last record of an
input wins. It needs no server and no JavaScript: links are relative (the folder can be
moved or zipped), the CSS is inline. Every text in it (prompts, errors, model ids, file
names) is HTML-escaped, because prompts are user data and errors are the server's.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .._constants import MANIFEST_NAME
from .._manifest import ManifestRecord, read_manifest
from ..batch import OutcomeState
from ._defaults import GALLERY_FILE_NAME
from ._outcomes import describe_error

__all__ = ["latest_records", "render_gallery", "write_gallery"]

# Input values longer than this are cut in a card (a data: URI can be megabytes).
_VALUE_CHARS = 80
# The header counts states in the order a batch's outcomes are told.
_STATE_ORDER = {state.value: position for position, state in enumerate(OutcomeState)}

_CSS = """
:root { color-scheme: light; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  background: #f4f4f1; color: #1f1f1f; }
header { padding: 18px 28px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { margin: 0 0 6px; font-size: 20px; }
header p { margin: 0; color: #555; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr));
  gap: 18px; padding: 24px 28px; }
.card { margin: 0; background: #fff; border-radius: 10px; overflow: hidden;
  box-shadow: 0 1px 3px rgba(0, 0, 0, .12); display: flex; flex-direction: column; }
.thumb { display: block; aspect-ratio: 16 / 10; overflow: hidden; background: #e7e7e3; }
.thumb img { width: 100%; height: 100%; object-fit: cover; display: block; }
.placeholder { display: flex; align-items: center; justify-content: center;
  color: #a33; font-size: 15px; font-weight: 600; background: #f8e9e9; }
figcaption { padding: 10px 12px 12px; }
.prompt { margin: 0 0 6px; font-weight: 600; overflow-wrap: anywhere; }
.meta { margin: 2px 0; color: #666; font-size: 12px; overflow-wrap: anywhere; }
.meta code { font-size: 11px; }
.state { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 11px;
  font-weight: 600; text-transform: uppercase; letter-spacing: .03em;
  background: #eee; color: #444; }
.state-succeeded { background: #e1f3e5; color: #1c6b2e; }
.state-failed, .state-error, .state-submit_unknown, .state-outcome_unknown,
.state-expired, .state-invalid, .state-rejected { background: #fbe3e3; color: #a11; }
.state-timed_out, .state-cancelled { background: #fdf0d8; color: #8a5a00; }
.error { margin: 8px 0 0; padding: 6px 8px; border-radius: 6px; background: #fff3f3;
  border: 1px solid #f0c5c5; color: #a11; font-size: 12px; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.files a { margin-right: 8px; }
"""


def latest_records(records: Iterable[ManifestRecord]) -> list[ManifestRecord]:
    """The last record of each input, by input index: what the gallery shows.

    Args:
        records: a manifest's records in file order (a resumed batch appends to it).
    """
    latest = {record.index: record for record in records}
    return [latest[index] for index in sorted(latest)]


def write_gallery(out_dir: Path) -> Path | None:
    """Write ``index.html`` into the batch's folder from its manifest; None without one.

    The page is written to a temporary file and renamed over the old one, so that a reader
    never sees half a page.

    Args:
        out_dir: the batch's output folder, holding ``manifest.jsonl``.
    """
    manifest = out_dir / MANIFEST_NAME
    if not manifest.exists():
        return None
    page = render_gallery(latest_records(read_manifest(manifest)))
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


def render_gallery(records: list[ManifestRecord], *, now: datetime | None = None) -> str:
    """The gallery page for these records (one card each, in the order given).

    Args:
        records: one record per input (see :func:`latest_records`).
        now: the time to print as the page's date (for exact tests).
    """
    when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC")
    states = Counter(record.state for record in records)
    summary = " ".join(
        f'<span class="state state-{_e(state)}">{count} {_e(state.replace("_", " "))}</span>'
        for state, count in sorted(states.items(), key=lambda item: _STATE_ORDER.get(item[0], 99))
    )
    cards = "\n".join(_card(record) for record in records)
    count = len(records)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Batch gallery: {count} input{"s" if count != 1 else ""}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>Batch gallery</h1>
<p>{count} input{"s" if count != 1 else ""} {summary} · made {_e(when)} ·
<a href="{_e(quote(MANIFEST_NAME))}">{_e(MANIFEST_NAME)}</a></p>
</header>
<main>
{cards}
</main>
</body>
</html>
"""


def _card(record: ManifestRecord) -> str:
    prompt = record.input.get("prompt")
    title = prompt if isinstance(prompt, str) and prompt else _input_summary(record.input)
    images = [f for f in record.files if f.content_type.startswith("image/")]
    if images:
        first = _href(images[0].path)
        thumb = (
            f'<a class="thumb" href="{first}"><img src="{first}" alt="{_e(title)}" '
            'loading="lazy"></a>'
        )
    else:
        label = "no image" if record.state == "succeeded" else record.state.replace("_", " ")
        thumb = f'<div class="thumb placeholder">{_e(label)}</div>'
    seed = record.input.get("seed")
    lines = [
        f'<span class="state state-{_e(record.state)}">{_e(record.state.replace("_", " "))}'
        f"</span> #{record.index} · "
        + (f"seed {_e(str(seed))}" if seed is not None else "seed not set"),
        _e(record.model_id),
    ]
    timing = _timing(record)
    if timing:
        lines.append(_e(timing))
    if record.request_id:
        lines.append(f"request <code>{_e(record.request_id)}</code>")
    meta = "\n".join(f'<p class="meta">{line}</p>' for line in lines)
    files = ""
    if record.files:
        links = " ".join(
            f'<a href="{_href(stored.path)}">{_e(_file_label(stored.content_type, n))}</a>'
            for n, stored in enumerate(record.files, start=1)
        )
        files = f'\n<p class="meta files">{links}</p>'
    error = ""
    if record.error is not None:
        error = f'\n<p class="error">{_e(describe_error(record.error))}</p>'
    return f"""<figure class="card" id="input-{record.index}">
{thumb}
<figcaption>
<p class="prompt">{_e(title)}</p>
{meta}{files}{error}
</figcaption>
</figure>"""


def _timing(record: ManifestRecord) -> str:
    timings = record.timings
    parts = []
    if timings.submitted_at is not None and timings.finished_at is not None:
        took = (timings.finished_at - timings.submitted_at).total_seconds()
        parts.append(f"took {took:.1f} s")
    finished = timings.finished_at or timings.detected_at
    if finished is not None:
        parts.append("finished " + finished.astimezone(timezone.utc).strftime("%H:%M:%S UTC"))
    return " · ".join(parts)


def _file_label(content_type: str, number: int) -> str:
    kind = content_type.split("/", 1)[0] if "/" in content_type else "file"
    return f"full {kind}" if number == 1 else f"{kind} {number}"


def _input_summary(payload: Mapping[str, Any]) -> str:
    shown = []
    for key, value in payload.items():
        text = value if isinstance(value, str) else repr(value)
        if len(text) > _VALUE_CHARS:
            text = text[:_VALUE_CHARS] + "…"
        shown.append(f"{key}={text}")
    return ", ".join(shown) or "(empty input)"


def _href(path: str) -> str:
    # Paths in the manifest are relative to the folder with "/" separators; quoting keeps a
    # file name with spaces or "#" a working link, escaping keeps the attribute closed.
    return _e(quote(path, safe="/"))


def _e(text: str) -> str:
    return html.escape(text, quote=True)
