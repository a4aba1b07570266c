"""Tiny images made with Pillow, in the formats (and variants) the image checks must read."""

from __future__ import annotations

import io
import random
from typing import Any

from PIL import Image


def encode(picture: Image.Image, image_format: str, **options: Any) -> bytes:
    """``picture`` saved as ``image_format`` ("PNG", "JPEG", "WEBP", "GIF", "BMP")."""
    buffer = io.BytesIO()
    picture.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def solid(size: tuple[int, int] = (8, 8), color: Any = "red", mode: str = "RGB") -> Image.Image:
    """A picture of one colour."""
    return Image.new(mode, size, color)


def picture_bytes(
    image_format: str = "PNG", size: tuple[int, int] = (8, 8), mode: str = "RGB", **options: Any
) -> bytes:
    """A one-colour picture of ``size``, encoded."""
    return encode(solid(size, "red" if mode != "L" else 128, mode), image_format, **options)


def half_mask(size: tuple[int, int] = (8, 8)) -> Image.Image:
    """A partial mask: the left half black (to edit), the right half white (kept)."""
    mask = Image.new("L", size, 255)
    mask.paste(0, (0, 0, size[0] // 2, size[1]))
    return mask


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """An RGB picture of deterministic noise: it does not compress, so its size is known."""
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))
