"""Parsing ``Retry-After`` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.

No RunComfy peer reads this header; we honour both forms, and the caller caps the result.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from a ``Retry-After`` header value; None when absent or unreadable.

    Args:
        value: the header value: ``"120"``, ``"1.5"`` (tolerated), or an HTTP-date such as
            ``"Wed, 21 Oct 2026 07:28:00 GMT"``.
        now: the current time, for HTTP-dates; defaults to the system clock (inject it in
            tests).

    Returns:
        A finite number of seconds >= 0 (a date in the past gives 0), or None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text[0].isdigit() or text[0] in ".+":
        try:
            seconds = float(text)
        except ValueError:
            return None
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else datetime.now(timezone.utc)
    try:
        delta = (when - current).total_seconds()
    except OverflowError:  # pragma: no cover - dates near datetime.max
        return None
    return max(0.0, delta)
