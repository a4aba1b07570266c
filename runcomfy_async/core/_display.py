"""How a result looks in a notebook: a small HTML card with thumbnails (``_repr_html_``).

Every text is escaped (prompts and error messages are anyone's); image sources are only
``http(s)`` URLs or files the batch downloaded, never ``javascript:`` or ``data:`` text from
an answer.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from urllib.parse import urlsplit

from .._constants import NOTEBOOK_TEXT_CHARS, NOTEBOOK_THUMB_PX
from ._text import shorten

__all__ = ["html_card"]

# Web URLs, and paths relative to the notebook (downloaded files): no script, no data.
_SAFE_SCHEMES = frozenset({"https", "http", ""})


def html_card(
    title: str, sources: Iterable[str], lines: Iterable[str], *, failed: bool = False
) -> str:
    """A card: a title, thumbnails linking to the full images, and lines of text."""
    pictures = "".join(
        f'<a href="{html.escape(src, quote=True)}" target="_blank">'
        f'<img src="{html.escape(src, quote=True)}" loading="lazy" '
        f'style="max-width:{NOTEBOOK_THUMB_PX}px;max-height:{NOTEBOOK_THUMB_PX}px;'
        'margin:2px;border-radius:4px"></a>'
        for src in sources
        if urlsplit(src).scheme in _SAFE_SCHEMES
    )
    text = "".join(
        f"<div>{html.escape(shorten(line, NOTEBOOK_TEXT_CHARS))}</div>" for line in lines if line
    )
    colour = "#c62828" if failed else "#2e7d32"
    return (
        '<div style="font-family:sans-serif;font-size:13px;border:1px solid #ddd;'
        'border-radius:6px;padding:8px;margin:4px 0;display:inline-block">'
        f'<div style="font-weight:bold;color:{colour}">{html.escape(title)}</div>'
        f"{pictures}{text}</div>"
    )
