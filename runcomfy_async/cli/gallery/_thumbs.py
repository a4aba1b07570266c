"""Thumbnails for the gallery: small JPEGs in ``thumbs/``, made once per image.

A batch's images are full-size renders (an Ideogram v3 PNG is 1312×736 and ~1.5 MB), and
a page of a hundred of them would make a browser decode ~150 MB to show cards 260 pixels
wide. Each image gets a thumbnail that fits within 320×320 (aspect ratio kept), saved as
JPEG in the ``thumbs`` folder of the batch's folder and named after the file
(``thumbs/000042-a-red-fox.png.jpg``), so the link from a card still opens the full image.

Making them is incremental: a thumbnail newer than its image is kept as it is, so a resumed
batch only thumbnails its new images. Each is written to a temporary file and renamed, so a
killed run leaves no half thumbnail that would pass for a finished one.

Pillow is an optional dependency, imported only here and only when there is an image to
thumbnail. Without it, or for an image it cannot read, there is simply no thumbnail and the
card shows the full image (loaded lazily): a gallery is never lost for want of one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final

from ..._constants import THUMB_MAX_WORKERS, THUMB_QUALITY

if TYPE_CHECKING:
    import PIL.Image

__all__ = ["THUMBS_DIR", "THUMB_SIZE", "make_thumbnails", "thumbnail_path"]

THUMBS_DIR: Final = "thumbs"
# A card is ~260 CSS pixels wide: 320 keeps thumbnails sharp on most screens and ~15 kB.
THUMB_SIZE: Final = (320, 320)
_SUFFIX: Final = ".jpg"
# Transparent images are laid on the colour of a card.
_BACKGROUND: Final = (255, 255, 255)


def thumbnail_path(name: str) -> str | None:
    """Where the thumbnail of the file ``name`` goes, relative to the batch's folder.

    None for a name that is not a plain file name in the folder (the downloader writes only
    those; anything else in a manifest gets no thumbnail rather than a path outside
    ``thumbs``).

    Args:
        name: a file's path relative to the batch's folder, as the manifest records it.
    """
    if (
        not name
        or PurePosixPath(name).name != name
        or name in (".", "..")
        or name.startswith(".")
        or "\\" in name
        or "\x00" in name
    ):
        return None
    return f"{THUMBS_DIR}/{name}{_SUFFIX}"


def make_thumbnails(
    out_dir: Path, names: Iterable[str], *, size: tuple[int, int] = THUMB_SIZE
) -> dict[str, str]:
    """Make the missing or outdated thumbnails of these images; return the usable ones.

    Args:
        out_dir: the batch's folder.
        names: image files' paths relative to it (as in the manifest).
        size: the box a thumbnail fits within, in pixels.

    Returns:
        The thumbnail's path by the image's path (both relative to ``out_dir``), for each
        image that has an up-to-date thumbnail now. Images without one (Pillow missing,
        unreadable or missing files) are not in it.
    """
    ready: dict[str, str] = {}
    todo: list[tuple[str, str]] = []
    for name in dict.fromkeys(names):
        relative = thumbnail_path(name)
        if relative is None:
            continue
        try:
            source_time = (out_dir / name).stat().st_mtime_ns
        except OSError:
            continue  # not on disk (a download that failed): nothing to thumbnail
        try:
            made = (out_dir / relative).stat()
        except OSError:
            todo.append((name, relative))
            continue
        if made.st_size > 0 and made.st_mtime_ns >= source_time:
            ready[name] = relative
        else:
            todo.append((name, relative))
    if not todo or not _pillow_available():
        return ready
    try:
        (out_dir / THUMBS_DIR).mkdir(exist_ok=True)
    except OSError:
        return ready
    workers = max(1, min(THUMB_MAX_WORKERS, os.cpu_count() or 1, len(todo)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thumbnail") as pool:
        done = pool.map(
            lambda item: _make_thumbnail(out_dir / item[0], out_dir / item[1], size), todo
        )
        for (name, relative), made_it in zip(todo, done, strict=True):
            if made_it:
                ready[name] = relative
    return ready


def _pillow_available() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def _make_thumbnail(source: Path, target: Path, size: tuple[int, int]) -> bool:
    """Write ``target`` from ``source``; False (and no thumbnail) if that cannot be done."""
    from PIL import Image

    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        with Image.open(source) as image:
            image.thumbnail(size)
            flat = _flatten(image)
            flat.save(temporary, "JPEG", quality=THUMB_QUALITY, optimize=True)
        os.replace(temporary, target)
    # A thumbnail is a convenience: whatever goes wrong with one image (not an image, a
    # truncated file, a decompression bomb, a full disk...), the card shows the image itself.
    except Exception:
        for leftover in (temporary, target):
            try:
                leftover.unlink(missing_ok=True)  # an outdated thumbnail must not be shown
            except OSError:
                pass
        return False
    return True


def _flatten(image: PIL.Image.Image) -> PIL.Image.Image:
    """The image in RGB (what JPEG holds), transparent parts laid on white."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")
