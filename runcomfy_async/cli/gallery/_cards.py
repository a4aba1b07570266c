"""What one card of the gallery says about one input, worked out once, in Python.

A card is shown two ways: written into the page as HTML (the first page, readable without
JavaScript) and sent to the page's script as JSON (every page after it, and every filter or
search). Both are drawn from the same :class:`Card`, so that every text, its wording and its
cut are decided here, and the script only puts ready texts into elements.

Only what is present is shown: a field missing from the input, a timing the server did not
give or a cost the manifest does not have is left out, not written as "not set".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import attrs

from ..._constants import GALLERY_PROMPT_CHARS, GALLERY_VALUE_CHARS
from ...core._files import StoredFile
from ...core._text import shorten
from ...store._manifest import ManifestRecord
from .._money import format_usd
from .._outcomes import describe_error
from .._skipped_lines import skipped_line

__all__ = [
    "Card",
    "StateInfo",
    "card_for",
    "first_image",
    "format_usd",
    "record_cost",
    "state_infos",
]

# The input's fields a card shows under its prompt, in this order, with their labels.
FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("aspect_ratio", "aspect ratio"),
    ("resolution", "resolution"),
    ("style", "style"),
    ("style_type", "style type"),
    ("rendering_speed", "speed"),
    ("seed", "seed"),
    ("num_images", "images"),
    ("negative_prompt", "negative prompt"),
)
# The states a batch's outcomes can have (the journal's words), in the order they are told;
# others follow.
STATE_ORDER: Final[tuple[str, ...]] = (
    "succeeded", "failed", "cancelled", "expired", "withdrawn", "timed_out", "unknown",
    "refused", "not_sent", "over_budget",
)
# How a state looks: "ok" green, "warn" amber (stopped, not failed), "held" slate (held back
# on purpose: not sent, for money), anything else red.
_WARN_STATES: Final = frozenset({"cancelled", "timed_out"})
# Not sent because the batch stopped at its budget (or the balance ran out): nothing went
# wrong with the input, and a resumed batch sends it. Not a failure, so not red.
_HELD_STATES: Final = frozenset({"over_budget"})
_LABELS: Final = {"over_budget": "held back"}
_SUCCEEDED: Final = "succeeded"


@attrs.frozen(kw_only=True)
class StateInfo:
    """A state present in the batch, as its filter button shows it.

    Attributes:
        value: the state as the manifest spells it (``timed_out``).
        label: its words (``timed out``).
        tone: ``ok``, ``warn`` or ``bad``: its colour.
        count: how many inputs ended in it.
    """

    value: str
    label: str
    tone: str
    count: int

    def to_data(self) -> dict[str, Any]:
        """The state as the page's script reads it."""
        return {"value": self.value, "label": self.label, "tone": self.tone, "count": self.count}


@attrs.frozen(kw_only=True)
class Card:
    """Everything one card shows, as ready texts and URL-quoted links.

    Attributes:
        index: the input's position in the batch (for a line left out by
            ``--skip-invalid``, minus its line number).
        number: how the card names its input: ``#42``, or ``line 17`` for a line left out.
        state: its state, as the manifest spells it.
        failure: it did not end with its files on disk (a failed state, or files missing);
            an input held back for money is not a failure.
        title: the prompt (or a summary of an input without one), cut to ``GALLERY_PROMPT_CHARS``.
        fields: the input's main fields, as (label, value) pairs.
        model_id: the model.
        request_id: the job's request id, when the server gave one.
        timing: how long the job took and how late it was seen to finish, when known.
        cost: the cost in dollars, when the manifest has it.
        error: the error's message, when there was one (for an input held back: why).
        image: the link to the first image, or None.
        image_src: what the card's ``<img>`` shows: its thumbnail, or the image itself.
        placeholder: what the picture's place says when there is no image.
        files: every file, as (label, link) pairs.
    """

    index: int
    number: str
    state: str
    failure: bool
    title: str
    fields: tuple[tuple[str, str], ...] = ()
    model_id: str
    request_id: str | None = None
    timing: str = ""
    cost: str = ""
    error: str = ""
    image: str | None = None
    image_src: str | None = None
    placeholder: str = ""
    files: tuple[tuple[str, str], ...] = ()

    def to_data(self) -> dict[str, Any]:
        """The card as the page's script reads it: short keys, empty ones left out.

        The script draws a card from it exactly as :func:`render_card` writes one.
        """
        data: dict[str, Any] = {"i": self.index, "s": self.state, "t": self.title}
        optional: dict[str, Any] = {
            # Only when it is not "#" and the index (the script writes that one itself).
            "n": self.number if self.number != f"#{self.index}" else "",
            "x": 1 if self.failure else 0,
            "f": [list(pair) for pair in self.fields],
            "m": self.model_id,
            "r": self.request_id,
            "w": self.timing,
            "c": self.cost,
            "e": self.error,
            "h": self.image,
            "src": self.image_src,
            "ph": self.placeholder,
            "l": [list(pair) for pair in self.files],
        }
        data.update((key, value) for key, value in optional.items() if value)
        return data


def card_for(record: ManifestRecord, thumbs: Mapping[str, str]) -> Card:
    """The card of one record.

    Args:
        record: the input's last manifest record.
        thumbs: thumbnails made so far, by the image's path (see ``make_thumbnails``).
    """
    prompt = record.input.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        title = shorten(prompt, GALLERY_PROMPT_CHARS)
    else:
        title = _input_summary(record.input)
    shown = first_image(record)
    image = image_src = None
    placeholder = ""
    if shown is not None:
        image = _link(shown.path)
        image_src = _link(thumbs.get(shown.path, shown.path))
    else:
        placeholder = "no image" if record.state == _SUCCEEDED else state_label(record.state)
    cost = record_cost(record)
    line = skipped_line(record.index)
    return Card(
        index=record.index,
        number=f"#{record.index}" if line is None else f"line {line}",
        state=record.state,
        failure=record.state not in _HELD_STATES
        and (record.state != _SUCCEEDED or record.error is not None),
        title=title,
        fields=_fields(record.input),
        model_id=record.model_id,
        request_id=record.request_id or None,
        timing=_timing(record),
        cost=format_usd(cost) if cost is not None else "",
        error=describe_error(record.error) if record.error is not None else "",
        image=image,
        image_src=image_src,
        placeholder=placeholder,
        files=tuple(
            (_file_label(stored.content_type, number), _link(stored.path))
            for number, stored in enumerate(record.files, start=1)
        ),
    )


def first_image(record: ManifestRecord) -> StoredFile | None:
    """The file a card shows: the record's first image, if it has one."""
    return next((f for f in record.files if f.content_type.startswith("image/")), None)


def state_infos(records: Sequence[ManifestRecord]) -> list[StateInfo]:
    """The states present in these records, with their counts, in the order they are told."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.state] = counts.get(record.state, 0) + 1
    known = {state: position for position, state in enumerate(STATE_ORDER)}
    ordered = sorted(counts, key=lambda state: (known.get(state, len(known)), state))
    return [
        StateInfo(
            value=state, label=state_label(state), tone=state_tone(state), count=counts[state]
        )
        for state in ordered
    ]


def state_label(state: str) -> str:
    """A state in words: ``timed_out`` is ``timed out``, ``over_budget`` ``held back``."""
    return _LABELS.get(state) or state.replace("_", " ")


def state_tone(state: str) -> str:
    """The colour of a state: ``ok``, ``warn``, ``held`` or ``bad`` (unknown states are bad)."""
    if state == _SUCCEEDED:
        return "ok"
    if state in _HELD_STATES:
        return "held"
    return "warn" if state in _WARN_STATES else "bad"


def record_cost(record: ManifestRecord) -> float | None:
    """The record's cost in dollars, if it has one (``cost_usd``; older records do not)."""
    cost = getattr(record, "cost_usd", None)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        return None
    return float(cost) if math.isfinite(cost) and cost >= 0 else None


def _fields(payload: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    shown = []
    for key, label in FIELDS:
        value = payload.get(key)
        if value is None or value == "" or value == [] or value == {}:
            continue
        shown.append((label, _value_text(value)))
    return tuple(shown)


def _value_text(value: Any) -> str:
    return shorten(_plain(value), GALLERY_VALUE_CHARS)


def _plain(value: Any, *, nested: bool = False) -> str:
    """A value as a person reads it: ``style_type: Design, colors: red, blue`` for an
    object, not its JSON; an object or a list inside another one is bracketed."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, Mapping):
        text = ", ".join(f"{key}: {_plain(item, nested=True)}" for key, item in value.items())
        return f"({text})" if nested else text
    if isinstance(value, (list, tuple)):
        text = ", ".join(_plain(item, nested=True) for item in value)
        return f"[{text}]" if nested else text
    return "null" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _timing(record: ManifestRecord) -> str:
    timings = record.timings
    parts = []
    # Two clocks meet here (the service's finished_at, this side's submitted_at and
    # detected_at): a hair of skew must not make a job take, or be seen after, "-0.00 s".
    if timings.submitted_at is not None and timings.finished_at is not None:
        took = (timings.finished_at - timings.submitted_at).total_seconds()
        parts.append(f"took {_seconds(max(0.0, took))}")
    if timings.finished_at is not None and timings.detected_at is not None:
        lag = (timings.detected_at - timings.finished_at).total_seconds()
        parts.append(f"detection lag {_seconds(max(0.0, lag))}")
    return " · ".join(parts)


def _seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _file_label(content_type: str, number: int) -> str:
    kind = content_type.split("/", 1)[0] if "/" in content_type else "file"
    return f"full {kind}" if number == 1 else f"{kind} {number}"


def _input_summary(payload: Mapping[str, Any]) -> str:
    shown = []
    for key, value in payload.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        shown.append(f"{key}={shorten(text, GALLERY_VALUE_CHARS // 2)}")
    return shorten(", ".join(shown), GALLERY_PROMPT_CHARS) or "(empty input)"


def _link(path: str) -> str:
    # Paths in the manifest are relative to the folder, with "/" separators. Quoting keeps a
    # name with spaces or "#" a working link, and turns any ":" into "%3A", so that no path
    # can become a "javascript:" or other absolute URL.
    return quote(path, safe="/")
