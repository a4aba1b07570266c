"""Checking an edit's mask against its image, before a paid request learns it is wrong.

An edit's mask must be the image's size and partial: black marks the area to edit, white is
kept, so a mask all black or all white is refused (Ideogram's rule; ComfyUI's own MASK type
uses the opposite convention, and nothing here inverts it). The sizes are compared from the
headers read when the images were taken in; "partial" needs the pixels and is checked only
when Pillow is installed. Images given as URLs cannot be checked here at all; the server
checks them.
"""

from __future__ import annotations

import io

from .._constants import MASK_WHITE_FROM
from ..core._errors import InputProblem
from ._inline import InputImage

__all__ = ["mask_problems"]


def _grey_range(data: bytes) -> tuple[int, int] | None:
    """The darkest and lightest grey of an image, or None when Pillow cannot say."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as picture:
            low, high = picture.convert("L").getextrema()
    except (OSError, Image.DecompressionBombError):
        # Pillow may lack a codec (WebP) or refuse a huge image: leave the call to the server.
        return None
    return int(low), int(high)


def mask_problems(image: InputImage, mask: InputImage) -> list[InputProblem]:
    """What is wrong with an edit's mask for its image; empty when nothing is, or unknown.

    The mask must have the image's size, and be partial: black marks the area to edit,
    white is kept, so a mask all black or all white is refused. Sizes are compared from the
    headers; "partial" is checked only when Pillow is installed. URLs are not checked.

    Args:
        image: the image to edit.
        mask: its mask.
    """
    if not (image.is_inline and mask.is_inline):
        return []
    problems = []
    if (image.width, image.height) != (mask.width, mask.height):
        problems.append(
            InputProblem(
                "mask",
                mask,
                f"a mask of the image's size, {image.width}x{image.height} "
                f"(this one is {mask.width}x{mask.height})",
            )
        )
    grey = _grey_range(mask.data())
    if grey is not None:
        low, high = grey
        whole = "all black" if high < MASK_WHITE_FROM else "all white"
        if high < MASK_WHITE_FROM or low >= MASK_WHITE_FROM:
            problems.append(
                InputProblem(
                    "mask",
                    mask,
                    "the mask must be partial: black marks the area to edit, white is kept "
                    f"(this mask is {whole})",
                )
            )
    return problems
