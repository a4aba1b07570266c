"""The names of downloaded files: from us, not from the server.

A file is named from the input index and a slug of its label (the prompt),
``000042-a-red-fox-in-snow.png``, with the extension taken from the Content-Type. Nothing
from the URL path or the answer becomes part of a path: a server (or whoever controls an
output URL) cannot pick a name, a folder or an extension that would run.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Final

from ..._constants import DOWNLOAD_INDEX_DIGITS, DOWNLOAD_SLUG_MAX_CHARS

__all__ = [
    "DOWNLOAD_EXTENSIONS",
    "DOWNLOAD_FALLBACK_EXTENSION",
    "extension_for",
    "file_stem",
    "slug",
]

# Extensions by declared media type; anything else is saved as ``.bin``.
DOWNLOAD_EXTENSIONS: Final[Mapping[str, str]] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
}
DOWNLOAD_FALLBACK_EXTENSION: Final = ".bin"


def slug(label: str) -> str:
    """A file-name-safe slug of ``label``: ASCII ``[a-z0-9-]``, at most 48 characters.

    NFKD normalisation turns ``é`` into ``e`` and full-width letters into ASCII; everything
    else (separators, dots, NUL, drive colons, other scripts) becomes a dash or disappears,
    so no slug can name a folder, a parent or an absolute path.

    Args:
        label: any text, usually the prompt.
    """
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    dashed = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return dashed[:DOWNLOAD_SLUG_MAX_CHARS].rstrip("-")


def file_stem(index: int, label: str | None, position: int = 0) -> str:
    """The file name, without extension, of output ``position`` of input ``index``.

    ``file_stem(42, "A red fox in snow")`` is ``000042-a-red-fox-in-snow``; the second
    output adds ``-2``. The index prefix makes every name unique within a batch and
    harmless whatever the label (``000042-con`` is not a reserved Windows name).

    Args:
        index: the input's position in the batch.
        label: the text to slug into the name (the prompt), or None for the index alone.
        position: the output's position among the input's outputs, from 0.
    """
    if index < 0 or position < 0:
        raise ValueError(f"index and position must be >= 0, got {index} and {position}")
    text = slug(label) if label else ""
    stem = f"{index:0{DOWNLOAD_INDEX_DIGITS}d}" + (f"-{text}" if text else "")
    return stem if position == 0 else f"{stem}-{position + 1}"


def extension_for(content_type: str) -> str:
    """The extension for a declared (lower-case) media type; ``.bin`` for any other."""
    return DOWNLOAD_EXTENSIONS.get(content_type, DOWNLOAD_FALLBACK_EXTENSION)
