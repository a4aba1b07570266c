"""Image inputs: which fields are images, what the sandbox accepts in one, the edit mask's rules.

RunComfy fetches image URLs itself; the sandbox has no internet, so it accepts what it can
reach: base64 ``data:`` URIs (PNG, JPEG, WebP) and ``http(s)`` URLs on loopback, which it
fetches. Anything else is refused naming the field, as a real fetch failure would be.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Awaitable, Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Final

import attrs
import yarl

from ._constants import LOOPBACK_HOSTS, MASK_WHITE_FROM

DATA_URI: Final = re.compile(r"data:image/(png|jpeg|jpg|webp)((?:;[^;,]*)*?);base64,", re.I)
READABLE_FORMATS: Final = frozenset({"PNG", "JPEG", "WEBP"})
# The format the live catalog gives an image field (the partner nodes' saved catalog).
IMAGE_URI_FORMAT: Final = "image_uri"
# Formats (or name endings) that mark a field as an image the sandbox must be able to read.
IMAGE_FORMATS: Final = frozenset({IMAGE_URI_FORMAT, "uri"})
IMAGE_NAME_ENDINGS: Final = ("image", "mask")


class ImageFetchError(Exception):
    """A loopback image URL could not be fetched; the message says why."""


class InputProblem(Exception):
    """An input field the sandbox refuses; becomes one 422 detail item."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@attrs.frozen
class ImageInput:
    """An image read from an input field.

    Args:
        data: the encoded bytes, as received.
        width, height: its size in pixels.
    """

    data: bytes = attrs.field(repr=False)
    width: int
    height: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return (self.width, self.height)


def image_fields(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields of an input schema that hold an image: by format, or by a name ending in
    ``image`` or ``mask`` (a required one included even when the properties leave it out)."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    names = [*properties, *(name for name in schema.get("required", ()) if name not in properties)]
    return tuple(
        name
        for name in names
        if name.endswith(IMAGE_NAME_ENDINGS)
        or (
            isinstance(properties.get(name), Mapping)
            and properties[name].get("format") in IMAGE_FORMATS
        )
    )


Fetch = Callable[[str], Awaitable[bytes]]


async def read_image_input(
    field: str, value: object, fetch: Fetch, hosts: AbstractSet[str] = LOOPBACK_HOSTS
) -> ImageInput:
    """Decode the image an input field points at, or raise `InputProblem` naming the field.

    Args:
        field: the field's name, for the error.
        value: the field's value.
        fetch: how to GET a loopback URL (raises `ImageFetchError` on failure).
        hosts: the host names a URL may name (loopback, and the HTTPS CDN's name).
    """
    if not isinstance(value, str):
        raise InputProblem(field, "an image is given as a data: URI or a URL string")
    match = DATA_URI.match(value)
    if match:
        try:
            data = base64.b64decode(value[match.end() :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputProblem(field, f"the data: URI is not valid base64: {exc}") from exc
    elif _is_loopback_url(value, hosts):
        try:
            data = await fetch(value)
        except ImageFetchError as exc:
            raise InputProblem(field, f"the image URL could not be fetched: {exc}") from exc
    else:
        raise InputProblem(
            field,
            "the image must be a base64 data: URI (image/png, image/jpeg or image/webp) or a "
            "URL the service can fetch (the sandbox reaches only 127.0.0.1, localhost, [::1])",
        )
    return _decode_header(field, data)


def _is_loopback_url(value: str, hosts: AbstractSet[str]) -> bool:
    try:
        url = yarl.URL(value)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and (url.host or "") in hosts


def _decode_header(field: str, data: bytes) -> ImageInput:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            width, height = image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise InputProblem(field, "the data is not a readable image") from exc
    if image_format not in READABLE_FORMATS:
        raise InputProblem(field, f"{image_format} images are not accepted: PNG, JPEG or WebP")
    return ImageInput(data, width, height)


def check_mask(image: ImageInput, mask: ImageInput) -> None:
    """Raise `InputProblem` for ``mask`` unless it fits `image` and is partial.

    Black marks the area to edit, white the area to keep; a mask that is all one or the other
    asks for nothing (or everything) and Ideogram refuses it. Decoding a mask is CPU work:
    callers run this in a thread.
    """
    from PIL import Image

    if mask.size != image.size:
        raise InputProblem(
            "mask",
            f"the mask must have the image's size {image.width}x{image.height}, "
            f"it is {mask.width}x{mask.height}",
        )
    with Image.open(io.BytesIO(mask.data)) as opened:
        grey = opened.convert("L").point(lambda v: 255 if v >= MASK_WHITE_FROM else 0)
    low, high = grey.getextrema()
    if low == high:
        colour = "black" if high == 0 else "white"
        raise InputProblem("mask", f"the mask is all {colour}: it must be partial")
