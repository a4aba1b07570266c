"""The attrs validators the sandbox's settings share (`SandboxOptions`, `FaultPlan`, `ModelSpec`).

Each one refuses nonsense when the settings are built (a NaN, a negative number, a probability
above 1, a bool where a number is meant) with a message naming the field, so that a mistyped
test setup fails at once rather than as a sandbox that behaves oddly.
"""

from __future__ import annotations

import math
from typing import Any

import attrs


def _number(value: object) -> float | None:
    """The value as a float, or None when it is not a real number (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def probability(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A number from 0 to 1."""
    number = _number(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def non_negative(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A number >= 0; infinity is allowed (for ever), NaN is not."""
    number = _number(value)
    if number is None or not number >= 0:
        raise ValueError(f"{attribute.name} must be a number >= 0, got {value!r}")


def non_negative_finite(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite number >= 0."""
    number = _number(value)
    if number is None or not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def positive_finite(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite number > 0."""
    number = _number(value)
    if number is None or not (math.isfinite(number) and number > 0):
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


def whole_number(minimum: int, maximum: int | None = None) -> Any:
    """An int (not a bool) from `minimum` to `maximum` (no upper bound when None)."""

    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            wanted = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise ValueError(f"{attribute.name} must be a whole number {wanted}, got {value!r}")

    return check
