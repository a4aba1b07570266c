"""Recognising an image's format and size from its bytes alone.

The type is sniffed from the data's first bytes, never taken from a file name or a declared
MIME type: JPEG, PNG and WebP are recognised, nothing else. The width and height are read
from the file header (PNG IHDR, JPEG SOF, WebP VP8/VP8L/VP8X) without Pillow, which stays
optional; a header that cannot be read means a truncated or corrupt file.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "image_dimensions",
    "jpeg_dimensions",
    "png_dimensions",
    "sniff_image_type",
    "unsupported_kind",
    "webp_dimensions",
]


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of JPEG, PNG or WebP data, from its first bytes; None for anything else.

    Args:
        data: the image file's bytes (the first 12 are enough).
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def unsupported_kind(data: bytes) -> str:
    """What data that :func:`sniff_image_type` refused looks like, so that a message can name it.

    Args:
        data: the file's bytes (the first 12 are enough).
    """
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "this looks like a GIF image"
    if data[:2] == b"BM":
        return "this looks like a BMP image"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "this looks like a TIFF image"
    if data[4:8] == b"ftyp":
        return "this looks like a HEIF or AVIF image"
    return "this is not an image type that was recognised"


def png_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk, or None if the header is unreadable.

    Args:
        data: the PNG file's bytes (the first 24 are enough).
    """
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    return (width, height) if width and height else None


# Start-of-frame markers carry the size; C4 (DHT), C8 (reserved) and CC (DAC) share the range.
_JPEG_FRAME_MARKERS: Final = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
# Markers that stand alone, without a length: TEM, RST0-7 and SOI.
_JPEG_BARE_MARKERS: Final = frozenset({0x01, *range(0xD0, 0xD9)})


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's start-of-frame segment, or None if there is none.

    Walks the marker segments up to the first frame header (baseline, progressive or
    lossless alike); the entropy-coded data after it is never read.

    Args:
        data: the JPEG file's bytes.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 1 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        at += 2
        if marker == 0xFF:
            at -= 1  # a fill byte: the marker proper starts one byte on
            continue
        if marker in _JPEG_BARE_MARKERS:
            continue
        if marker in (0xD9, 0xDA):
            return None  # end of image, or start of scan, before any frame header
        if at + 2 > len(data):
            return None
        length = int.from_bytes(data[at : at + 2], "big")
        if marker in _JPEG_FRAME_MARKERS:
            if length < 7 or at + 7 > len(data):
                return None
            height = int.from_bytes(data[at + 3 : at + 5], "big")
            width = int.from_bytes(data[at + 5 : at + 7], "big")
            return (width, height) if width and height else None
        if length < 2:
            return None
        at += length
    return None


def webp_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a WebP's first chunk (lossy, lossless or extended), or None.

    Args:
        data: the WebP file's bytes (the first 30 are enough).
    """
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        # A 3-byte frame tag, the start code, then 14-bit sizes with 2 bits of scaling.
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
    elif chunk == b"VP8L":
        # A signature byte, then width-1 and height-1 in 14 bits each.
        if data[20] != 0x2F:
            return None
        bits = int.from_bytes(data[21:25], "little")
        width = (bits & 0x3FFF) + 1
        height = ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X":
        # Flags and reserved bytes, then the canvas's width-1 and height-1 in 24 bits each.
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    else:
        return None
    return (width, height) if width and height else None


_DIMENSION_READERS: Final = {
    "image/png": png_dimensions,
    "image/jpeg": jpeg_dimensions,
    "image/webp": webp_dimensions,
}


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of JPEG, PNG or WebP data, read from its header; None otherwise.

    Args:
        data: the image file's bytes.
    """
    media_type = sniff_image_type(data)
    return _DIMENSION_READERS[media_type](data) if media_type else None
