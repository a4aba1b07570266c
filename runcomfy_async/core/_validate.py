"""attrs validators for numbers: every options and policy class rejects nonsense the same way.

Each raises :class:`~runcomfy_async.ConfigurationError` (a ``ValueError``) naming the field,
what it got and what is allowed, when the object is built: before anything is sent.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ._errors import ConfigurationError

__all__ = [
    "finite_non_negative",
    "finite_positive",
    "fraction",
    "non_negative_int",
    "positive_int",
    "seconds_or_none",
]


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def finite_positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{attribute.name} must be a finite number > 0, got {value!r}")


def finite_non_negative(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def fraction(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not _is_number(value) or not 0 <= value <= 1:
        raise ConfigurationError(f"{attribute.name} must be between 0 and 1, got {value!r}")


def positive_int(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{attribute.name} must be an integer >= 1, got {value!r}")


def non_negative_int(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def seconds_or_none(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and (not _is_number(value) or not 0 < value < math.inf):
        raise ConfigurationError(
            f"{attribute.name} must be a number of seconds > 0, got {value!r}"
        )


def usd_or_none(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and (not _is_number(value) or not 0 <= value < math.inf):
        raise ConfigurationError(
            f"{attribute.name} must be an amount of US dollars >= 0, got {value!r}"
        )
