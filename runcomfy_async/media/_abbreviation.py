"""Bulky values shown briefly, in error messages and reprs.

Error messages quote the value received; a ``data:`` URI or a file's bytes must not put
megabytes into a message (or hold them alive in an exception), so they are quoted through
:func:`abbreviated`. Byte counts are written for people (``53 KiB``) by :func:`size_text`.
"""

from __future__ import annotations

from .._constants import ABBREVIATE_BYTES_OVER, ABBREVIATE_TEXT_OVER, ABBREVIATED_TEXT_CHARS
from ..core._text import shorten

__all__ = ["Abbreviation", "abbreviated", "clipped", "size_text"]


def size_text(count: int) -> str:
    """A byte count for people: ``"512 B"``, ``"53 KiB"``, ``"1.5 MiB"``."""
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{round(count / 1024)} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


clipped = shorten


class Abbreviation:
    """A bulky value's stand-in in an error message: its repr is the short text given."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


def abbreviated(value: object) -> object:
    """``value``, or a short stand-in for it when it is bulky (bytes, a long string).

    Args:
        value: the value received.
    """
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) > ABBREVIATE_BYTES_OVER:
        return Abbreviation(f"<{size_text(len(value))} of bytes>")
    if isinstance(value, str) and len(value) > ABBREVIATE_TEXT_OVER:
        return Abbreviation(f"{value[:ABBREVIATED_TEXT_CHARS]!r}… ({len(value)} characters)")
    return value
