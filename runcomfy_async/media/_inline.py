"""Image inputs as they are sent: URLs passed through, local images inline as ``data:`` URIs.

RunComfy has no upload endpoint. An image input is a public URL or, as RunComfy's own nodes
do, a base64 ``data:`` URI inside the request (the whole request capped at 64 MiB). So an
image given as bytes, a file path or a Pillow image is encoded here, after checks that would
otherwise cost a paid request to learn about:

- its format and size are read from its bytes (see ``_sniff``): JPEG, PNG or WebP, with a
  header that can be read;
- each image is capped at ``MAX_INPUT_IMAGE_BYTES``, and the whole request at
  ``MAX_REQUEST_BYTES`` (:func:`request_size_problem`);
- a URL must be one RunComfy can fetch (see ``_references``).

Encoded data stays out of reprs and error messages: an :class:`InputImage` shows itself as
``<data:image/png 1024x1024 53 KiB>``, and a value refused is quoted abbreviated.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs

from .._constants import IMAGE_URL_REPR_CHARS, MAX_INPUT_IMAGE_BYTES, MAX_REQUEST_BYTES
from ..core._converter import converter
from ..core._errors import InputProblem, InvalidInputError
from ._abbreviation import Abbreviation, abbreviated, clipped, size_text
from ._references import url_problem
from ._sniff import image_dimensions, sniff_image_type, unsupported_kind

if TYPE_CHECKING:
    from PIL.Image import Image as PillowImage

__all__ = ["ImageLike", "InputImage", "as_input_image", "request_size_problem"]

ImageLike: TypeAlias = (
    "InputImage | str | bytes | bytearray | memoryview | os.PathLike[str] | PillowImage"
)
"""What an image field accepts: a URL or data: URI string, bytes, a path, a Pillow image."""

_IMAGE_ALLOWED: Final = (
    "an https:// URL, a data: URI, bytes, a pathlib.Path or a Pillow image "
    "(a local file is passed as pathlib.Path(...), not as a string)"
)
_FORMATS_ALLOWED: Final = "a JPEG, PNG or WebP image"


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
            size = size_text(self.byte_size or 0)
            return f"<data:{self.media_type} {self.width}x{self.height} {size}>"
        # A query string may hold a signature; it is no business of a log line.
        shown = self.uri.split("?", 1)[0] + ("?…" if "?" in self.uri else "")
        return f"<{clipped(shown, IMAGE_URL_REPR_CHARS)}>"


def _refusal(path: str, received: object, allowed: str) -> InvalidInputError:
    return InvalidInputError([InputProblem(path, abbreviated(received), allowed)])


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
        problem = url_problem(value)
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
    return f"an image of at most {size_text(MAX_INPUT_IMAGE_BYTES)} (this one is {size_text(size)})"


def _inspect(data: bytes, path: str, received: object) -> tuple[str, int, int]:
    """The MIME type and size of image data, or InvalidInputError saying why not."""
    if len(data) > MAX_INPUT_IMAGE_BYTES:
        raise _refusal(path, received, _too_large(len(data)))
    media_type = sniff_image_type(data)
    if media_type is None:
        raise _refusal(path, received, f"{_FORMATS_ALLOWED} ({unsupported_kind(data)})")
    size = image_dimensions(data)
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
        Abbreviation(f"<a request of {size_text(size)}>"),
        f"a request of at most {size_text(MAX_REQUEST_BYTES)} in all; "
        "send large images as https:// URLs",
    )


converter.register_unstructure_hook(InputImage, lambda image: image.uri)
converter.register_structure_hook(InputImage, lambda value, _: as_input_image(value))
