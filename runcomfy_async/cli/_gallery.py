"""The batch's gallery (``index.html``); the code is in the ``gallery`` package.

Kept so that ``from ._gallery import write_gallery`` (the ``batch`` command) and the names
tests use stay where they were.
"""

from __future__ import annotations

from .gallery import latest_records, render_gallery, write_gallery

__all__ = ["latest_records", "render_gallery", "write_gallery"]
