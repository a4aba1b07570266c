"""The words each Ideogram field accepts, as ``Literal`` types and as tuples for checking.

The tuples are derived from the ``Literal`` types, so the two can never disagree; the tests
compare them with the enums of the bundled JSON Schemas, so a schema change shows up there.
Schema enums are matched with their case (``"TURBO"``, not ``"turbo"``), as the server does;
palette presets and style types are Ideogram words that RunComfy spells in title case, and are
matched without regard to case.

Each field's converter is here too, one named function per field: the attrs mypy plugin
reads a converter's signature only from a named function.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from ._checks import Refused, check_choice, check_choice_any_case

AspectRatioV3 = Literal["16:9", "4:3", "1:1", "3:4", "9:16", "Custom"]
"""Aspect ratios of Ideogram 3 text-to-image. ``Custom`` takes its size from ``extra`` keys."""

AspectRatioV2 = Literal[
    "3:1", "16:9", "16:10", "3:2", "4:3", "1:1", "3:4", "2:3", "10:16", "9:16", "1:3"
]
"""Aspect ratios of Ideogram 2."""

RenderingSpeed = Literal["TURBO", "BALANCED", "QUALITY"]
"""How long Ideogram 3 spends on an image: faster and cheaper, or better."""

MagicPrompt = Literal["AUTO", "ON", "OFF"]
"""Whether Ideogram 3 rewrites the prompt before drawing."""

StyleV2 = Literal["auto", "general", "realistic", "design", "render_3D", "anime"]
"""The style of an Ideogram 2 image (a plain string field there)."""

StyleType = Literal["Auto", "General", "Realistic", "Design", "Fiction"]
"""Ideogram 3's style types, spelled as RunComfy sends them (any case is accepted)."""

PalettePreset = Literal[
    "Ember", "Fresh", "Jungle", "Magic", "Melon", "Mosaic", "Pastel", "Ultramarine"
]
"""Ideogram's named colour palettes, spelled as RunComfy sends them (any case is accepted)."""

ASPECT_RATIOS_V3: Final[tuple[AspectRatioV3, ...]] = get_args(AspectRatioV3)
ASPECT_RATIOS_V2: Final[tuple[AspectRatioV2, ...]] = get_args(AspectRatioV2)
RENDERING_SPEEDS: Final[tuple[RenderingSpeed, ...]] = get_args(RenderingSpeed)
MAGIC_PROMPTS: Final[tuple[MagicPrompt, ...]] = get_args(MagicPrompt)
STYLES_V2: Final[tuple[StyleV2, ...]] = get_args(StyleV2)
STYLE_TYPES: Final[tuple[StyleType, ...]] = get_args(StyleType)
PALETTE_PRESETS: Final[tuple[PalettePreset, ...]] = get_args(PalettePreset)


def check_aspect_ratio_v3(value: AspectRatioV3 | None) -> AspectRatioV3 | Refused | None:
    """An Ideogram 3 aspect ratio, with its case."""
    return check_choice(value, ASPECT_RATIOS_V3)


def check_aspect_ratio_v2(value: AspectRatioV2 | None) -> AspectRatioV2 | Refused | None:
    """An Ideogram 2 aspect ratio, with its case."""
    return check_choice(value, ASPECT_RATIOS_V2)


def check_rendering_speed(value: RenderingSpeed | None) -> RenderingSpeed | Refused | None:
    """A rendering speed, with its case."""
    return check_choice(value, RENDERING_SPEEDS)


def check_magic_prompt(value: MagicPrompt | None) -> MagicPrompt | Refused | None:
    """A magic prompt setting, with its case."""
    return check_choice(value, MAGIC_PROMPTS)


def check_style_v2(value: StyleV2 | None) -> StyleV2 | Refused | None:
    """An Ideogram 2 style, with its case."""
    return check_choice(value, STYLES_V2)


def check_style_type(value: str | None) -> StyleType | Refused | None:
    """An Ideogram 3 style type in any case, spelled as RunComfy sends it."""
    return check_choice_any_case(value, STYLE_TYPES)


def check_palette_preset(value: str | None) -> PalettePreset | Refused | None:
    """A palette preset name in any case, spelled as RunComfy sends it."""
    return check_choice_any_case(value, PALETTE_PRESETS)
