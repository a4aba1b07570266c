"""Hypothesis strategies for the Ideogram inputs: valid keyword arguments, and broken ones."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from runcomfy_async.ideogram import (
    ColorPalette,
    PaletteMember,
    Style,
    V2Generate,
    V3Edit,
    V3Reframe,
    V3TextToImage,
    reframe_resolutions,
)
from runcomfy_async.ideogram._limits import SEED_MAX
from runcomfy_async.ideogram._vocabulary import (
    ASPECT_RATIOS_V2,
    ASPECT_RATIOS_V3,
    MAGIC_PROMPTS,
    PALETTE_PRESETS,
    RENDERING_SPEEDS,
    STYLE_TYPES,
    STYLES_V2,
)

from ._pictures import encode, half_mask, solid

INPUT_CLASSES = (V3TextToImage, V3Edit, V3Reframe, V2Generate)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

prompts = st.text(min_size=1, max_size=40).filter(str.strip)
seeds = st.integers(0, SEED_MAX)


def any_case(word: str) -> st.SearchStrategy[str]:
    """``word`` with each letter's case drawn at random."""
    return st.tuples(*(st.sampled_from(sorted({c.lower(), c.upper()})) for c in word)).map("".join)


hex_colors = st.one_of(
    st.text("0123456789abcdefABCDEF", min_size=3, max_size=3),
    st.text("0123456789abcdefABCDEF", min_size=6, max_size=6),
).map(lambda digits: "#" + digits)
weights = st.none() | st.floats(0.05, 1.0)
members = st.builds(PaletteMember, color_hex=hex_colors, color_weight=weights)
palettes = st.one_of(
    st.sampled_from(PALETTE_PRESETS).flatmap(any_case).map(ColorPalette.preset),
    st.lists(members | hex_colors, min_size=1, max_size=8).map(
        lambda items: ColorPalette(members=items)
    ),
)
style_codes = st.lists(
    st.text("0123456789abcdefABCDEF", min_size=8, max_size=8), min_size=1, max_size=3
)
_style_extras = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(
        lambda key: key not in ("style_type", "style_codes", "style_preset")
    ),
    json_values,
    max_size=2,
)
styles = st.one_of(
    st.builds(
        Style,
        style_type=st.sampled_from(STYLE_TYPES).flatmap(any_case),
        style_preset=st.none() | st.sampled_from(["ART_DECO", "80S_ILLUSTRATION"]),
        extra=_style_extras,
    ),
    st.builds(Style, style_codes=style_codes, extra=_style_extras),
)
urls = st.from_regex(r"https://[a-z]{1,10}\.example/[a-z0-9/]{0,20}\.png", fullmatch=True)


def _edit_pairs() -> list[tuple[bytes, bytes]]:
    return [
        (encode(solid((8, 8)), "PNG"), encode(half_mask((8, 8)), "PNG")),
        (encode(solid((16, 12)), "JPEG"), encode(half_mask((16, 12)), "PNG")),
        (encode(solid((10, 10)), "WEBP", lossless=True), encode(half_mask((10, 10)), "WEBP")),
    ]


EDIT_PAIRS = _edit_pairs()
local_images = st.sampled_from([image for image, _ in EDIT_PAIRS])
resolutions = st.sampled_from(reframe_resolutions()).flatmap(
    lambda label: st.sampled_from(
        [
            label,
            label.split(" ")[0].replace(":", "x"),
            tuple(map(int, label.split(" ")[0].split(":"))),
        ]
    )
)


def _extras(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    own = {field.name for field in attrs.fields(cls)}
    return st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda key: key not in own), json_values, max_size=2
    )


def _v3_common(cls: type) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "seed": seeds,
        "rendering_speed": st.sampled_from(RENDERING_SPEEDS),
        "color_palette": palettes,
        "style": styles,
        "extra": _extras(cls),
    }


def valid_arguments(cls: type, *, urls_too: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments that build a valid ``cls``: the required ones, and some optional.

    Args:
        cls: the input class.
        urls_too: images may be https URLs as well as local images (a sandbox cannot fetch
            them).
    """
    required: dict[str, st.SearchStrategy[Any]]
    optional: dict[str, st.SearchStrategy[Any]]
    if cls is V3TextToImage:
        required = {"prompt": prompts}
        optional = {
            **_v3_common(cls),
            "aspect_ratio": st.sampled_from(ASPECT_RATIOS_V3),
            "magic_prompt": st.sampled_from(MAGIC_PROMPTS),
            "negative_prompt": st.text(max_size=20),
        }
    elif cls is V3Edit:
        pair: st.SearchStrategy[tuple[Any, Any]] = st.sampled_from(EDIT_PAIRS)
        if urls_too:
            pair = st.tuples(urls, urls) | pair
        return st.fixed_dictionaries(
            {"prompt": prompts},
            optional={**_v3_common(cls), "magic_prompt": st.sampled_from(MAGIC_PROMPTS)},
        ).flatmap(
            lambda arguments: pair.map(
                lambda images: {**arguments, "image": images[0], "mask": images[1]}
            )
        )
    elif cls is V3Reframe:
        required = {
            "image": urls | local_images if urls_too else local_images,
            "resolution": resolutions,
        }
        optional = _v3_common(cls)
    else:
        required = {"prompt": prompts}
        optional = {
            "style": st.sampled_from(STYLES_V2),
            "aspect_ratio": st.sampled_from(ASPECT_RATIOS_V2),
            "expand_prompt": st.booleans(),
            "negative_prompt": st.text(max_size=20),
            "seed": seeds,
            "extra": _extras(cls),
        }
    return st.fixed_dictionaries(required, optional=optional)


# Values each field refuses, whatever the class (a field a class lacks is never drawn).
_BROKEN: dict[str, list[Any]] = {
    "prompt": ["", "   \n", None, 5],
    "seed": [-1, SEED_MAX + 1, True, 1.5, "3"],
    "rendering_speed": ["turbo", "FAST", 1],
    "magic_prompt": ["on", True],
    "negative_prompt": [5, b"no"],
    "color_palette": [
        {"name": "Sunset"},
        {"members": []},
        {"members": ["#12345"]},
        {"members": [("#fff", 2.0)]},
        {"name": "Ember", "members": ["#fff"]},
        {"name": "Ember", "shade": 1},
        "Ember",
    ],
    "image": ["http://example.com/a.png", "ftp://example.com/a.png", "a.png", b"GIF89a....", 5],
    "mask": ["http://example.com/m.png", b"\x00" * 100],
    "resolution": ["1000x1000", (1, 2), "big", True],
}
_BROKEN_BY_CLASS: dict[type, dict[str, list[Any]]] = {
    V3TextToImage: {"aspect_ratio": ["custom", "2:1", "16:10"]},
    V2Generate: {
        "aspect_ratio": ["Custom", "16x9"],
        "style": ["Auto", "3d", {"style_type": "Auto"}],
        "expand_prompt": [1, "true"],
    },
}
_BROKEN_V3_STYLE = [
    {"style_type": "Moody"},
    {"style_codes": ["xyz"]},
    {"style_codes": "0123abcd"},
    {"style_type": "Auto", "style_codes": ["0123abcd"]},
    "Auto",
]


def _broken_values(cls: type) -> dict[str, list[Any]]:
    """For each field of ``cls`` (and ``extra``), values it refuses."""
    own = [field.name for field in attrs.fields(cls) if field.name != "extra"]
    broken = {name: _BROKEN[name] for name in own if name in _BROKEN}
    broken.update(_BROKEN_BY_CLASS.get(cls, {}))
    if cls is not V2Generate:
        broken["style"] = _BROKEN_V3_STYLE
    broken["extra"] = [{own[0]: "overrides a field"}, {"ok": float("nan")}, {"ok": object()}]
    return broken


@st.composite
def broken_arguments(draw: st.DrawFn, cls: type) -> tuple[dict[str, Any], set[str]]:
    """Valid arguments with one to four fields broken, and the names of those fields."""
    arguments = draw(valid_arguments(cls))
    choices = _broken_values(cls)
    names = draw(st.lists(st.sampled_from(sorted(choices)), min_size=1, max_size=4, unique=True))
    for name in names:
        arguments[name] = draw(st.sampled_from(choices[name]))
    return arguments, set(names)
