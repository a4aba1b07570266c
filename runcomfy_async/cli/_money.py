"""Dollars as the command line and the gallery write them, one way everywhere.

Kept in one place so that the progress line, the end-of-batch summary, ``--dry-run`` and the
gallery never show the same amount two ways (``$0.3`` here, ``$0.30`` there).
"""

from __future__ import annotations

__all__ = ["format_usd"]


def format_usd(amount: float) -> str:
    """Dollars with the cents, and the fractions of a cent a price can have: ``$0.045``,
    ``$1.20``, ``$1,234.50``. An amount too small for four decimals (a per-second price)
    keeps two significant digits rather than showing as ``$0.00``."""
    if 0 < abs(amount) < 0.0001:  # below the last of the four decimals shown
        return f"${amount:.2g}"
    text = f"{amount:,.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"
