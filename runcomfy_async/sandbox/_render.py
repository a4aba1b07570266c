"""Drawing the output files: real PNGs of the right size that visibly come from the input.

A generated image shows the prompt on bands of the palette's colours (the preset's, the
members' hex colours by weight, or colours drawn from the seed). An edit changes only the
mask's black area of the input image; a reframe centres the input on the requested canvas.
Drawing is CPU work done lazily, on the first download, in a thread (see `_cdn`).
"""

from __future__ import annotations

import io
import random
import re
import struct
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._constants import (
    DEFAULT_IMAGE_SIZE,
    MASK_WHITE_FROM,
    MAX_CUSTOM_SIDE,
    MIN_CUSTOM_SIDE,
    PNG_COMPRESS_LEVEL,
    PROMPT_FONTS,
)
from ._images import ImageInput
from ._models import RenderKind

if TYPE_CHECKING:
    from PIL import Image as PILImage

RGB = tuple[int, int, int]

# Ideogram's preset palettes (RunComfy spells the names title-case). The colours are the
# sandbox's own reading of each name.
PRESET_PALETTES: Final[Mapping[str, tuple[str, ...]]] = {
    "EMBER": ("#3B0A0A", "#B3261E", "#F26B1D", "#FBBF24"),
    "FRESH": ("#E6FFF5", "#7BDCB5", "#00A878", "#1B4332"),
    "JUNGLE": ("#0B3D20", "#2D6A4F", "#74C69D", "#D8F3DC"),
    "MAGIC": ("#240046", "#7B2CBF", "#C77DFF", "#FFD6FF"),
    "MELON": ("#FFE5D9", "#FFCAD4", "#F4ACB7", "#9D8189"),
    "MOSAIC": ("#264653", "#2A9D8F", "#E9C46A", "#E76F51"),
    "PASTEL": ("#FDE2E4", "#E2ECE9", "#CDDAFD", "#FFF1E6"),
    "ULTRAMARINE": ("#03045E", "#0077B6", "#00B4D8", "#CAF0F8"),
}
SEEDED_COLOURS: Final = 3
HEX_COLOUR: Final = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
RESOLUTION_LABEL: Final = re.compile(r"\s*(\d+)\s*:\s*(\d+)")
# Text sizes as a fraction of the shorter side, and the character width as a fraction of size.
PROMPT_TEXT_FRACTION: Final = 1 / 22
CAPTION_TEXT_FRACTION: Final = 1 / 48
CHAR_WIDTH_FRACTION: Final = 0.55
PROMPT_MAX_LINES: Final = 12
# The prompt wraps to this share of the width; tiny images keep legible minimum sizes.
PROMPT_WIDTH_FRACTION: Final = 0.8
MIN_PROMPT_TEXT_PX: Final = 10
MIN_CAPTION_TEXT_PX: Final = 8
MIN_WRAP_CHARS: Final = 8
TEXT_BOX_ALPHA: Final = 170
TEXT_COLOUR: Final = (255, 255, 255)
BOX_COLOUR: Final = (0, 0, 0)


@attrs.frozen
class Drawing:
    """Everything needed to draw one output file.

    Args:
        render: how the model draws (generate, edit, reframe).
        model_id, request_id: written in a caption.
        index: which of the job's files this is; later files rotate the palette.
        inputs: the job's input object.
        sizes: output size per aspect-ratio label (generate).
        default_aspect_ratio: the label used when the input has none.
        seed: colours come from it when the input has no palette and no seed.
        image, mask: the decoded image inputs (edit, reframe).
    """

    render: RenderKind
    model_id: str
    request_id: str
    index: int
    inputs: Mapping[str, Any]
    sizes: Mapping[str, tuple[int, int]]
    default_aspect_ratio: str | None
    seed: int
    image: ImageInput | None = None
    mask: ImageInput | None = None


def output_size(drawing: Drawing) -> tuple[int, int]:
    """The size the output has: per aspect ratio, resolution label, input image, or custom."""
    inputs = drawing.inputs
    if drawing.render == "edit" and drawing.image is not None:
        return drawing.image.size
    if drawing.render == "reframe":
        match = RESOLUTION_LABEL.match(str(inputs.get("resolution", "")))
        return (int(match[1]), int(match[2])) if match else DEFAULT_IMAGE_SIZE
    label = inputs.get("aspect_ratio", drawing.default_aspect_ratio)
    if isinstance(label, str) and label in drawing.sizes:
        return drawing.sizes[label]
    width, height = inputs.get("width"), inputs.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return (_clamp_side(width), _clamp_side(height))
    return DEFAULT_IMAGE_SIZE


def _clamp_side(side: int) -> int:
    return max(MIN_CUSTOM_SIDE, min(MAX_CUSTOM_SIDE, side))


def palette(inputs: Mapping[str, Any], fallback_seed: int) -> list[tuple[RGB, float]]:
    """The colours an image is drawn in, with weights: the palette's, else the seed's."""
    given = inputs.get("color_palette")
    if isinstance(given, Mapping):
        members = given.get("members")
        if isinstance(members, Sequence):
            colours = [
                (rgb, _weight(member.get("color_weight")))
                for member in members
                if isinstance(member, Mapping)
                and (rgb := _hex_to_rgb(member.get("color_hex"))) is not None
            ]
            if colours:
                return colours
        name = given.get("name")
        if isinstance(name, str) and name.upper() in PRESET_PALETTES:
            return [(_rgb(h.lstrip("#")), 1.0) for h in PRESET_PALETTES[name.upper()]]
    seed = inputs.get("seed")
    rng = random.Random(seed if isinstance(seed, int) else fallback_seed)
    return [
        ((rng.randrange(256), rng.randrange(256), rng.randrange(256)), 1.0)
        for _ in range(SEEDED_COLOURS)
    ]


def _weight(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and value > 0 else 1.0


def _hex_to_rgb(value: object) -> RGB | None:
    match = HEX_COLOUR.fullmatch(value) if isinstance(value, str) else None
    return None if match is None else _rgb(match[1])


def _rgb(digits: str) -> RGB:
    """Three or six hex digits as a colour."""
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def render_png(drawing: Drawing) -> bytes:
    """Draw one output file and encode it as PNG."""
    from PIL import Image

    size = output_size(drawing)
    colours = palette(drawing.inputs, drawing.seed)
    shift = drawing.index % len(colours)
    colours = colours[shift:] + colours[:shift]
    if drawing.render == "reframe" and drawing.image is not None:
        canvas = _bands(size, colours)
        with Image.open(io.BytesIO(drawing.image.data)) as opened:
            source = opened.convert("RGB")
        # A source larger than the canvas is shrunk to fit; a smaller one keeps its pixels.
        source.thumbnail(size)
        canvas.paste(source, ((size[0] - source.width) // 2, (size[1] - source.height) // 2))
        _caption(canvas, drawing)
    elif drawing.render == "edit" and drawing.image is not None and drawing.mask is not None:
        with Image.open(io.BytesIO(drawing.image.data)) as opened:
            original = opened.convert("RGB")
        with Image.open(io.BytesIO(drawing.mask.data)) as opened:
            # 255 where the mask is black: the area to edit.
            edit_area = opened.convert("L").point(lambda v: 0 if v >= MASK_WHITE_FROM else 255)
        generated = _bands(size, colours)
        _prompt(generated, str(drawing.inputs.get("prompt", "")))
        canvas = Image.composite(generated, original, edit_area)
    else:
        canvas = _bands(size, colours)
        _prompt(canvas, str(drawing.inputs.get("prompt", "")))
        _caption(canvas, drawing)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _bands(size: tuple[int, int], colours: list[tuple[RGB, float]]) -> PILImage.Image:
    """Vertical bands of the colours, each as wide as its weight's share."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", size, colours[0][0])
    draw = ImageDraw.Draw(canvas)
    total = sum(weight for _, weight in colours)
    left = 0.0
    for rgb, weight in colours:
        right = left + size[0] * weight / total
        draw.rectangle((round(left), 0, round(right), size[1]), fill=rgb)
        left = right
    return canvas


def _font(size: int) -> Any:
    from PIL import ImageFont

    # A fresh font per drawing: FreeType objects are not shared between render threads.
    # Pillow's built-in font has ASCII only (é, €, — come out as boxes): a system font with
    # wide coverage is preferred when there is one (Pillow finds it by file name).
    for name in PROMPT_FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _prompt(canvas: PILImage.Image, prompt: str) -> None:
    """The prompt, wrapped, white on a translucent box in the middle."""
    from PIL import Image, ImageDraw

    if not prompt.strip():
        return
    side = min(canvas.size)
    size = max(MIN_PROMPT_TEXT_PX, int(side * PROMPT_TEXT_FRACTION))
    chars = max(
        MIN_WRAP_CHARS, int(canvas.width * PROMPT_WIDTH_FRACTION / (size * CHAR_WIDTH_FRACTION))
    )
    lines = textwrap.wrap(prompt, chars)[:PROMPT_MAX_LINES]
    text = "\n".join(lines)
    font = _font(size)
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    box = draw.multiline_textbbox((0, 0), text, font=font)
    width, height = box[2] - box[0], box[3] - box[1]
    left, top = (canvas.width - width) // 2, (canvas.height - height) // 2
    pad = size // 2
    draw.rectangle(
        (left - pad, top - pad, left + width + pad, top + height + pad),
        fill=(*BOX_COLOUR, TEXT_BOX_ALPHA),
    )
    draw.multiline_text((left - box[0], top - box[1]), text, font=font, fill=TEXT_COLOUR)
    canvas.paste(overlay, (0, 0), overlay)


def _caption(canvas: PILImage.Image, drawing: Drawing) -> None:
    """A small line naming the model, the request and the file, bottom left."""
    from PIL import ImageDraw

    size = max(MIN_CAPTION_TEXT_PX, int(min(canvas.size) * CAPTION_TEXT_FRACTION))
    text = f"sandbox {drawing.model_id} {drawing.request_id} #{drawing.index}"
    ImageDraw.Draw(canvas).text(
        (size, canvas.height - 2 * size), text, font=_font(size), fill=TEXT_COLOUR
    )


def fake_mp4(request_id: str) -> bytes:
    """A small byte file shaped like an MP4 (an ``ftyp`` box and an ``mdat`` box).

    Not playable: it stands in for a video so that download code has bytes and a type to
    handle.
    """
    brand = b"ftypisom" + struct.pack(">I", 0x200) + b"isomiso2mp41"
    payload = ("runcomfy sandbox video " + request_id).encode()
    return (
        struct.pack(">I", 4 + len(brand))
        + brand
        + struct.pack(">I", 8 + len(payload))
        + b"mdat"
        + payload
    )
