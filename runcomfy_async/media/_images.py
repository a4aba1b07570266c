"""Images sent as inputs: URLs passed through, local images sent inline as ``data:`` URIs.

RunComfy has no upload endpoint. An image input is a public URL or, as RunComfy's own nodes
do, a base64 ``data:`` URI inside the request (the whole request capped at 64 MiB). So an
image given as bytes, a file path or a Pillow image is encoded here, after checks that would
otherwise cost a paid request to learn about:

- the type is sniffed from the data's first bytes, never taken from a file name or a declared
  MIME type: JPEG, PNG and WebP are accepted, nothing else;
- the width and height are read from the file header (PNG IHDR, JPEG SOF, WebP VP8/VP8L/VP8X)
  without Pillow, which stays optional; a header that cannot be read means a truncated or
  corrupt file;
- each image is capped at ``MAX_INPUT_IMAGE_BYTES`` and the whole request at
  ``MAX_REQUEST_BYTES``;
- ``http://`` is refused except on loopback hosts, where test servers live.

An edit's mask must be the image's size and partial (some black, some white). The size is
checked from the headers; "partial" needs the pixels and is checked only when Pillow is
installed. Images given as URLs cannot be checked here at all; the server checks them.

Encoded data stays out of reprs and error messages: an :class:`InputImage` shows itself as
``<data:image/png 1024x1024 53 KiB>``.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import urlsplit

import attrs

from .._constants import MAX_INPUT_IMAGE_BYTES, MAX_REQUEST_BYTES
from ..core._errors import InputProblem, InvalidInputError
from ..core._wire import converter

if TYPE_CHECKING:
    from PIL.Image import Image as PillowImage

__all__ = [
    "IMAGE_REFERENCE_ALLOWED",
    "ImageLike",
    "InputImage",
    "abbreviated",
    "as_input_image",
    "image_dimensions",
    "image_reference_problem",
    "jpeg_dimensions",
    "mask_problems",
    "png_dimensions",
    "request_size_problem",
    "sniff_image_type",
    "webp_dimensions",
]

ImageLike: TypeAlias = (
    "InputImage | str | bytes | bytearray | memoryview | os.PathLike[str] | PillowImage"
)
"""What an image field accepts: a URL or data: URI string, bytes, a path, a Pillow image."""

IMAGE_REFERENCE_ALLOWED: Final = (
    "an https:// URL (http:// only on a loopback host) or a data:image/...;base64 URI"
)
_IMAGE_ALLOWED: Final = (
    "an https:// URL, a data: URI, bytes, a pathlib.Path or a Pillow image "
    "(a local file is passed as pathlib.Path(...), not as a string)"
)
_FORMATS_ALLOWED: Final = "a JPEG, PNG or WebP image"
_LOOPBACK_NAMES: Final = frozenset({"localhost"})
# A mask grey level at or above this counts as white, below it as black: JPEG noise in a
# black-and-white mask must not make it look partial or full.
_MASK_WHITE_FROM: Final = 128


# --- Recognising formats ---------------------------------------------------------------------


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


def _unsupported_kind(data: bytes) -> str:
    """What refused data looks like, so that the message can name it."""
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


# --- The value sent ---------------------------------------------------------------------------


def _size_text(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{round(count / 1024)} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


@attrs.frozen(kw_only=True, repr=False)
class InputImage:
    """An image input as it will be sent: a URL, or local data inline as a ``data:`` URI.

    Built by the image fields of the typed inputs from whatever they were given (see
    :data:`ImageLike`), or directly with :func:`as_input_image`. Two images are equal when
    they send the same text.

    Attributes:
        uri: the text sent: the URL, or the ``data:`` URI.
        media_type: the sniffed MIME type of inline data; None for a URL.
        width, height: the size read from inline data's header; None for a URL.
        byte_size: the size of inline data, decoded; None for a URL.
    """

    uri: str
    media_type: str | None = attrs.field(default=None, eq=False)
    width: int | None = attrs.field(default=None, eq=False)
    height: int | None = attrs.field(default=None, eq=False)
    byte_size: int | None = attrs.field(default=None, eq=False)

    @property
    def is_inline(self) -> bool:
        """True when the image travels inside the request, as a ``data:`` URI."""
        return self.media_type is not None

    def data(self) -> bytes:
        """The image file's bytes, for inline images (decoded anew at each call).

        Raises:
            ValueError: the image is a URL; its bytes are not here.
        """
        if not self.is_inline:
            raise ValueError("the image is a URL; its bytes are not held locally")
        return base64.b64decode(self.uri.partition(",")[2])

    def __repr__(self) -> str:
        if self.is_inline:
            size = _size_text(self.byte_size or 0)
            return f"<data:{self.media_type} {self.width}x{self.height} {size}>"
        # A query string may hold a signature; it is no business of a log line.
        shown = self.uri.split("?", 1)[0] + ("?…" if "?" in self.uri else "")
        return f"<{shown if len(shown) <= 100 else shown[:99] + '…'}>"


class _Abbreviation:
    """A bulky value's stand-in in an error message (its repr is short)."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


def abbreviated(value: object) -> object:
    """``value``, or a short stand-in for it when it is bulky (bytes, a long string).

    Error messages quote the value received; a data: URI or a file's bytes must not put
    megabytes into a message (or hold them alive in an exception).

    Args:
        value: the value received.
    """
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) > 64:
        return _Abbreviation(f"<{_size_text(len(value))} of bytes>")
    if isinstance(value, str) and len(value) > 200:
        return _Abbreviation(f"{value[:48]!r}… ({len(value)} characters)")
    return value


def _refusal(path: str, received: object, allowed: str) -> InvalidInputError:
    return InvalidInputError([InputProblem(path, abbreviated(received), allowed)])


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_problem(text: str) -> str | None:
    if any(char.isspace() or ord(char) < 0x20 for char in text):
        return "a URL without spaces or control characters"
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return "a well-formed URL"
    scheme = parts.scheme.lower()
    if scheme == "https" and host:
        return None
    if scheme == "http" and _is_loopback(host):
        return None
    if scheme == "http":
        return "an https:// URL (plain http:// only on loopback: 127.0.0.0/8, localhost, ::1)"
    return f"{IMAGE_REFERENCE_ALLOWED}; a local file is passed as pathlib.Path(...)"


def image_reference_problem(text: str) -> str | None:
    """What is wrong with an image given as text, or None if it can be sent.

    A light check for any model's image fields: the URL's scheme and host, or a ``data:``
    URI's header; the data itself is not decoded.

    Args:
        text: a URL or a ``data:`` URI.
    """
    if text[:5].lower() == "data:":
        header, comma, _ = text.partition(",")
        params = header[5:].lower().split(";")
        if comma and params[0].startswith("image/") and params[-1] == "base64":
            return None
        return IMAGE_REFERENCE_ALLOWED
    return _url_problem(text)


def as_input_image(value: ImageLike, *, path: str = "image") -> InputImage:
    """An :class:`InputImage` from anything an image field accepts, checked.

    Args:
        value: an ``https://`` URL (``http://`` on loopback), a ``data:`` URI, bytes, an
            ``os.PathLike`` (e.g. ``pathlib.Path``), a Pillow image, or an InputImage.
        path: the field path to name in the error.

    Raises:
        InvalidInputError: the value cannot be sent as an image, and why.
    """
    if isinstance(value, InputImage):
        # Only as_input_image builds inline images; any other is checked like its text.
        return value if value.is_inline else as_input_image(value.uri, path=path)
    if isinstance(value, str):
        if value[:5].lower() == "data:":
            return _from_data_uri(value, path)
        problem = _url_problem(value)
        if problem is not None:
            raise _refusal(path, value, problem)
        return InputImage(uri=value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(value), path, value)
    if isinstance(value, os.PathLike):
        return _from_file(value, path)
    # Only an image made by an imported Pillow can be a Pillow image: no import needed here.
    pillow = sys.modules.get("PIL.Image")
    if pillow is not None and isinstance(value, pillow.Image):
        return _from_pillow(value, path)
    raise _refusal(path, value, _IMAGE_ALLOWED)


def _too_large(size: int) -> str:
    return (
        f"an image of at most {_size_text(MAX_INPUT_IMAGE_BYTES)} (this one is {_size_text(size)})"
    )


def _inspect(data: bytes, path: str, received: object) -> tuple[str, int, int]:
    """The MIME type and size of image data, or InvalidInputError saying why not."""
    if len(data) > MAX_INPUT_IMAGE_BYTES:
        raise _refusal(path, received, _too_large(len(data)))
    media_type = sniff_image_type(data)
    if media_type is None:
        raise _refusal(path, received, f"{_FORMATS_ALLOWED} ({_unsupported_kind(data)})")
    size = _DIMENSION_READERS[media_type](data)
    if size is None:
        kind = media_type.partition("/")[2].upper()
        raise _refusal(
            path,
            received,
            f"{_FORMATS_ALLOWED} whose header can be read (this {kind} looks truncated or corrupt)",
        )
    return media_type, size[0], size[1]


def _from_bytes(data: bytes, path: str, received: object) -> InputImage:
    media_type, width, height = _inspect(data, path, received)
    encoded = base64.b64encode(data).decode("ascii")
    return InputImage(
        uri=f"data:{media_type};base64,{encoded}",
        media_type=media_type,
        width=width,
        height=height,
        byte_size=len(data),
    )


def _from_data_uri(text: str, path: str) -> InputImage:
    header, comma, body = text.partition(",")
    params = [param.strip().lower() for param in header[5:].split(";")]
    if not comma or params[-1] != "base64":
        raise _refusal(path, text, "a base64 data: URI, written data:image/png;base64,...")
    # Refuse an oversized image before decoding it: base64 carries 3 bytes in 4 characters.
    if len(body) * 3 // 4 > MAX_INPUT_IMAGE_BYTES + 2:
        raise _refusal(path, text, _too_large(len(body) * 3 // 4))
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise _refusal(path, text, "a data: URI whose data is valid base64") from None
    media_type, width, height = _inspect(data, path, text)
    if params[0] != media_type:
        raise _refusal(
            path, text, f"a data: URI whose declared type matches its data ({media_type})"
        )
    return InputImage(
        uri=text, media_type=media_type, width=width, height=height, byte_size=len(data)
    )


def _from_file(file: os.PathLike[str], path: str) -> InputImage:
    try:
        with open(file, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            # A large file is refused from its size, without reading it.
            data = b"" if size > MAX_INPUT_IMAGE_BYTES else stream.read()
    except OSError as error:
        raise _refusal(path, file, f"a readable image file ({error.strerror or error})") from None
    if size > MAX_INPUT_IMAGE_BYTES:
        raise _refusal(path, file, _too_large(size))
    return _from_bytes(data, path, file)


def _from_pillow(picture: PillowImage, path: str) -> InputImage:
    # PNG is lossless and takes the common modes; anything else is converted to RGB(A) first.
    if picture.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return _from_bytes(buffer.getvalue(), path, picture)


converter.register_unstructure_hook(InputImage, lambda image: image.uri)
converter.register_structure_hook(InputImage, lambda value, _: as_input_image(value))


# --- Checks across an image and its mask, and across a request -----------------------------


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
        whole = "all black" if high < _MASK_WHITE_FROM else "all white"
        if high < _MASK_WHITE_FROM or low >= _MASK_WHITE_FROM:
            problems.append(
                InputProblem(
                    "mask",
                    mask,
                    "the mask must be partial: black marks the area to edit, white is kept "
                    f"(this mask is {whole})",
                )
            )
    return problems


def request_size_problem(payload: Mapping[str, Any]) -> InputProblem | None:
    """A problem when a request body would be over RunComfy's cap, else None.

    Args:
        payload: the JSON object to send.
    """
    # ASCII-only JSON (the default) counts one byte per character, and never less than UTF-8.
    size = len(json.dumps(payload))
    if size <= MAX_REQUEST_BYTES:
        return None
    return InputProblem(
        "input",
        _Abbreviation(f"<a request of {_size_text(size)}>"),
        f"a request of at most {_size_text(MAX_REQUEST_BYTES)} in all; "
        "send large images as https:// URLs",
    )
