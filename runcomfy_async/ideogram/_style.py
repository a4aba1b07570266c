"""The style of an Ideogram 3 image: what is known of it typed, the rest passed through.

RunComfy's schemas leave ``style`` an untyped object whose default is
``{"style_type": "Auto"}``. Ideogram's own API knows a style type (AUTO GENERAL REALISTIC
DESIGN FICTION), style codes (8 hexadecimal digits each, not combinable with a style type)
and named style presets; how RunComfy nests anything beyond the style type is not
published. So :class:`Style` types those three keys and sends any other key in ``extra``
exactly as given, without guessing a shape.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from runcomfy_async.core._converter import converter
from runcomfy_async.core._errors import InputProblem
from runcomfy_async.media import abbreviated

from ._checks import (
    Refused,
    check_extra,
    check_part,
    field_problems,
    is_valid,
    json_object,
    raise_problems,
    refuse,
)
from ._limits import STYLE_CODE_DIGITS
from ._vocabulary import StyleType, check_style_type

__all__ = ["Style", "check_style"]

_STYLE_CODE: Final = re.compile(f"[0-9A-Fa-f]{{{STYLE_CODE_DIGITS}}}")
_KNOWN_KEYS: Final = ("style_type", "style_codes", "style_preset")


def _check_style_codes(value: Iterable[str] | None) -> tuple[str, ...] | Refused | None:
    received: object = value
    if received is None:
        return None
    code = f"style code of {STYLE_CODE_DIGITS} hexadecimal digits"
    allowed = f"a list of one or more {code}s"
    if isinstance(received, (str, bytes, Mapping)) or not isinstance(received, Iterable):
        return refuse(received, allowed)
    codes = tuple(received)
    if not codes:
        return refuse(list(codes), allowed)
    problems = [
        InputProblem(f"[{index}]", abbreviated(item), f"a {code}")
        for index, item in enumerate(codes)
        if not (isinstance(item, str) and _STYLE_CODE.fullmatch(item))
    ]
    return Refused(tuple(problems)) if problems else codes


def _check_style_preset(value: str | None) -> str | Refused | None:
    received: object = value
    if received is None or (isinstance(received, str) and received.strip()):
        return received
    return refuse(received, "the name of one of Ideogram's style presets")


@attrs.frozen(kw_only=True)
class Style:
    """The style of an Ideogram 3 image.

    ``Style(style_type="realistic")`` sends ``{"style_type": "Realistic"}``. Keys this class
    does not know go in ``extra`` and are sent as given:
    ``Style(style_type="auto", extra={"style_reference": ...})``.

    Args:
        style_type: AUTO GENERAL REALISTIC DESIGN or FICTION, in any case; kept in title
            case, as RunComfy spells it.
        style_codes: one or more codes of 8 hexadecimal digits; not with ``style_type``.
        style_preset: the name of one of Ideogram's style presets.
        extra: other keys of the style object, sent unchanged (JSON values only; none of the
            keys above).

    Raises:
        InvalidInputError: listing every problem.
    """

    style_type: StyleType | None = attrs.field(default=None, converter=check_style_type)
    style_codes: tuple[str, ...] | None = attrs.field(default=None, converter=_check_style_codes)
    style_preset: str | None = attrs.field(default=None, converter=_check_style_preset)
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=check_extra, hash=False)

    def __attrs_post_init__(self) -> None:
        problems = field_problems(self)
        codes, style_type = self.style_codes, self.style_type
        if (
            codes is not None
            and style_type is not None
            and is_valid(codes)
            and is_valid(style_type)
        ):
            problems.append(
                InputProblem("style_codes", self.style_codes, "no style codes with a style_type")
            )
        raise_problems(problems)


def check_style(value: Style | Mapping[str, Any] | None) -> Style | Refused | None:
    """The converter of an Ideogram 3 input's ``style``: a Style, or its JSON form."""
    allowed = "a Style, or a mapping such as {'style_type': 'Auto'}"
    return check_part(value, Style, _style_from_json, allowed)


# --- On the wire ------------------------------------------------------------------------------


def _style_to_json(style: Style) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if style.style_type is not None:
        payload["style_type"] = style.style_type
    if style.style_codes is not None:
        payload["style_codes"] = list(style.style_codes)
    if style.style_preset is not None:
        payload["style_preset"] = style.style_preset
    # A copy: whoever changes the payload must not change the frozen style.
    payload.update(copy.deepcopy(dict(style.extra)))
    return payload


def _style_from_json(value: object) -> Style:
    given = json_object(value)
    return Style(
        **{key: given[key] for key in _KNOWN_KEYS if key in given},
        extra={key: item for key, item in given.items() if key not in _KNOWN_KEYS},
    )


converter.register_unstructure_hook(Style, _style_to_json)
converter.register_structure_hook(Style, lambda value, _: _style_from_json(value))
