"""The batch's gallery: ``index.html`` and its ``thumbs`` folder, built from the manifest.

- ``_page``: the page (the first page of cards as HTML, every record as JSON for the script);
- ``_cards``: what a card says about one input, decided once for the HTML and the script;
- ``_thumbs``: thumbnails, made with Pillow when it is installed;
- ``gallery.js``, ``gallery.css``: the page's script and style, inlined into every page.
"""

from __future__ import annotations

from ..._constants import GALLERY_PAGE_SIZE as PAGE_SIZE
from ._page import build_gallery, latest_records, render_gallery, write_gallery
from ._thumbs import THUMB_SIZE, THUMBS_DIR, make_thumbnails, thumbnail_path

__all__ = [
    "PAGE_SIZE",
    "THUMBS_DIR",
    "THUMB_SIZE",
    "build_gallery",
    "latest_records",
    "make_thumbnails",
    "render_gallery",
    "thumbnail_path",
    "write_gallery",
]
