"""Rules for numbers: every options and policy class, and every plain argument, rejects
nonsense the same way.

Each rule raises :class:`~runcomfy_async.ConfigurationError` (a ``ValueError``) naming the
field, what is allowed and what it got, before anything is sent. A rule is an attrs validator
(``attrs.field(validator=positive_int)``) and checks a plain argument by name
(``positive_int.check("max_connections", value)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from ._errors import ConfigurationError

__all__ = [
    "NumberRule",
    "finite_above",
    "finite_at_least",
    "finite_non_negative",
    "finite_positive",
    "fraction",
    "int_at_least",
    "non_negative_int",
    "open_fraction",
    "positive_int",
    "seconds_or_none",
    "usd_or_none",
]


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


class NumberRule:
    """What a number must be: ``accepts`` says whether it is, ``allowed`` says what is
    (completing "<name> must be ...")."""

    __slots__ = ("accepts", "allowed")

    def __init__(self, accepts: Callable[[Any], bool], allowed: str) -> None:
        self.accepts = accepts
        self.allowed = allowed

    def check(self, name: str, value: object) -> None:
        """Raise :class:`ConfigurationError` unless ``value`` follows the rule."""
        if not self.accepts(value):
            raise ConfigurationError(f"{name} must be {self.allowed}, got {value!r}")

    def __call__(self, _: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        self.check(attribute.name, value)

    def __repr__(self) -> str:
        return f"<NumberRule: {self.allowed}>"


def int_at_least(low: int) -> NumberRule:
    """An integer (not a bool) ``>= low``."""
    return NumberRule(
        lambda v: not isinstance(v, bool) and isinstance(v, int) and v >= low,
        f"an integer >= {low}",
    )


def finite_above(low: float) -> NumberRule:
    """A finite number ``> low``."""
    return NumberRule(
        lambda v: _is_number(v) and math.isfinite(v) and v > low, f"a finite number > {low:g}"
    )


def finite_at_least(low: float) -> NumberRule:
    """A finite number ``>= low``."""
    return NumberRule(
        lambda v: _is_number(v) and math.isfinite(v) and v >= low, f"a finite number >= {low:g}"
    )


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)
finite_positive = finite_above(0)
finite_non_negative = finite_at_least(0)
fraction = NumberRule(lambda v: _is_number(v) and 0 <= v <= 1, "between 0 and 1")
open_fraction = NumberRule(lambda v: _is_number(v) and 0 < v < 1, "between 0 and 1, exclusive")
seconds_or_none = NumberRule(
    lambda v: v is None or (_is_number(v) and 0 < v < math.inf), "a number of seconds > 0"
)
usd_or_none = NumberRule(
    lambda v: v is None or (_is_number(v) and 0 <= v < math.inf),
    "an amount of US dollars >= 0",
)
