"""Typed inputs for the Ideogram models on RunComfy.

Each input knows its model id, checks itself when built (every problem reported at once, in
one :class:`~runcomfy_async.InvalidInputError`) and writes its own payload::

    from runcomfy_async.ideogram import ColorPalette, Style, V3TextToImage

    fox = V3TextToImage(
        prompt="a red fox in the snow",
        aspect_ratio="4:3",
        color_palette=ColorPalette.preset("ember"),
        style=Style(style_type="realistic"),
    )
    job = await client.submit(fox)

Images for :class:`V3Edit` and :class:`V3Reframe` may be URLs or local (bytes, a
``pathlib.Path``, a Pillow image); local ones are sent inline as ``data:`` URIs.
"""

from runcomfy_async.media import ImageLike, InputImage

from ._models import V2Generate, V3Edit, V3Reframe, V3TextToImage
from ._palette import ColorPalette, MemberLike, PaletteMember
from ._resolution import ResolutionLike, reframe_resolutions
from ._style import Style
from ._vocabulary import (
    AspectRatioV2,
    AspectRatioV3,
    MagicPrompt,
    PalettePreset,
    RenderingSpeed,
    StyleType,
    StyleV2,
)

__all__ = [
    "AspectRatioV2",
    "AspectRatioV3",
    "ColorPalette",
    "ImageLike",
    "InputImage",
    "MagicPrompt",
    "MemberLike",
    "PaletteMember",
    "PalettePreset",
    "RenderingSpeed",
    "ResolutionLike",
    "Style",
    "StyleType",
    "StyleV2",
    "V2Generate",
    "V3Edit",
    "V3Reframe",
    "V3TextToImage",
    "reframe_resolutions",
]
