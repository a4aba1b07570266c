"""Images given as text: which URLs and ``data:`` URIs may be sent.

An image given by URL is fetched by RunComfy, so it must be public: ``https://``, with plain
``http://`` allowed only on loopback hosts, where test servers (the sandbox) live. A URL is
checked for its scheme and host only; what it points at is the server's business. Which
hosts are loopback is the client's one answer (:func:`..core._net.is_loopback`), the same on
every Python for IPv4-mapped addresses (``[::ffff:127.0.0.1]``).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from ..core._net import is_loopback

__all__ = ["IMAGE_REFERENCE_ALLOWED", "image_reference_problem", "url_problem"]

IMAGE_REFERENCE_ALLOWED: Final = (
    "an https:// URL (http:// only on a loopback host) or a data:image/...;base64 URI"
)


def url_problem(text: str) -> str | None:
    """What is wrong with an image URL, in the words of a message, or None if it can be sent.

    Args:
        text: a URL (not a ``data:`` URI).
    """
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
    if scheme == "http" and is_loopback(host):
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
    return url_problem(text)
