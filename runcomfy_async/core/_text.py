"""Cutting text down for messages and logs: one line, a bounded length, no secrets in URLs.

An error message, a log line or a repr must never carry megabytes (a base64 image, an HTML
error page, a 200 KB URL), nor a URL's query string (signed CDN links carry credentials).
"""

from __future__ import annotations

from yarl import URL

from .._constants import ERROR_BODY_QUOTE_CHARS, REPR_CHARS

__all__ = ["quote_body", "redact_url", "short_repr", "shorten"]


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: cut, the last one an ellipsis, when longer."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def short_repr(value: object, limit: int = REPR_CHARS) -> str:
    """The start of ``repr(value)``."""
    return shorten(repr(value), limit)


def quote_body(body: str | bytes | None, limit: int = ERROR_BODY_QUOTE_CHARS) -> str:
    """A body on one line, cut to ``limit`` characters, for error messages."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return shorten(" ".join(text.split()), limit)


def redact_url(url: str) -> str:
    """``url`` without query string, fragment or user info, fit for messages and logs.

    Args:
        url: any URL text, valid or not.
    """
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return url.split("?", 1)[0].split("#", 1)[0]
