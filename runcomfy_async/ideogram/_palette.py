"""Colour palettes for Ideogram 3: a named preset, or one to eight (weighted) colours.

Ideogram defines a palette as either ``{"name": PRESET}`` or ``{"members": [{"color_hex",
"color_weight"}, ...]}``, never both. RunComfy spells the presets in title case
(``{"name": "Ember"}``, its own default); any case is accepted here and sent that way.
Colours are sent as ``#RRGGBB`` in capitals (``#0f0`` becomes ``#00FF00``). Ideogram
recommends listing weights from highest to lowest; they are sent in the order given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias, TypeVar

import attrs

from runcomfy_async.api._schema_check import MISSING
from runcomfy_async.core._converter import converter
from runcomfy_async.core._errors import InputProblem, InvalidInputError
from runcomfy_async.media import abbreviated

from ._checks import (
    Refused,
    check_part,
    field_problems,
    is_valid,
    json_object,
    raise_problems,
    refuse,
    under,
    unknown_keys,
)
from ._limits import COLOR_WEIGHT_MAX, COLOR_WEIGHT_MIN, PALETTE_MAX_MEMBERS, PALETTE_MIN_MEMBERS
from ._vocabulary import PalettePreset, check_palette_preset

__all__ = ["ColorPalette", "MemberLike", "PaletteMember", "check_palette"]

_HEX_COLOR: Final = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")
_Part = TypeVar("_Part")


def _check_color_hex(value: str) -> str | Refused:
    received: object = value
    if isinstance(received, str) and _HEX_COLOR.fullmatch(received):
        digits = received[1:].upper()
        return "#" + (digits if len(digits) == 6 else "".join(d * 2 for d in digits))
    return refuse(received, "a colour written #RGB or #RRGGBB")


def _check_color_weight(value: float | None) -> float | Refused | None:
    received: object = value
    if received is None:
        return None
    if (
        isinstance(received, (int, float))
        and not isinstance(received, bool)
        and math.isfinite(received)
        and COLOR_WEIGHT_MIN <= received <= COLOR_WEIGHT_MAX
    ):
        return float(received)
    return refuse(received, f"a number from {COLOR_WEIGHT_MIN} to {COLOR_WEIGHT_MAX}")


@attrs.frozen(kw_only=True)
class PaletteMember:
    """One colour of a palette, and how much of it to use.

    Args:
        color_hex: the colour, ``#RGB`` or ``#RRGGBB`` in any case; kept as ``#RRGGBB``.
        color_weight: from 0.05 to 1.0; None to let Ideogram choose.

    Raises:
        InvalidInputError: listing every problem.
    """

    color_hex: str = attrs.field(converter=_check_color_hex)
    color_weight: float | None = attrs.field(default=None, converter=_check_color_weight)

    def __attrs_post_init__(self) -> None:
        raise_problems(field_problems(self))


MemberLike: TypeAlias = "PaletteMember | str | tuple[str, float] | Mapping[str, Any]"
"""A palette colour: ``"#FF0000"``, ``("#FF0000", 0.8)``, a mapping, or a PaletteMember."""

_MEMBER_KEYS: Final = ("color_hex", "color_weight")
_PALETTE_KEYS: Final = ("name", "members")


def _member(item: object) -> PaletteMember:
    if isinstance(item, PaletteMember):
        return item
    if isinstance(item, str):
        return PaletteMember(color_hex=item)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return PaletteMember(color_hex=item[0], color_weight=item[1])
    if isinstance(item, Mapping):
        return _member_from_json(item)
    raise InvalidInputError(
        [
            InputProblem(
                "",
                abbreviated(item),
                "a colour '#RRGGBB', a (colour, weight) pair, or a PaletteMember",
            )
        ]
    )


def _check_members(
    value: Iterable[MemberLike] | None,
) -> tuple[PaletteMember, ...] | Refused | None:
    received: object = value
    if received is None:
        return None
    count = f"{PALETTE_MIN_MEMBERS} to {PALETTE_MAX_MEMBERS} colours"
    if isinstance(received, (str, bytes, Mapping)) or not isinstance(received, Iterable):
        return refuse(received, f"a list of {count}")
    items = list(received)
    problems: list[InputProblem] = []
    if not PALETTE_MIN_MEMBERS <= len(items) <= PALETTE_MAX_MEMBERS:
        problems.extend(refuse(items, f"a list of {count} (this one has {len(items)})").problems)
    members: list[PaletteMember] = []
    for index, item in enumerate(items):
        try:
            members.append(_member(item))
        except InvalidInputError as error:
            problems.extend(under(f"[{index}]", error.problems))
    return Refused(tuple(problems)) if problems else tuple(members)


@attrs.frozen(kw_only=True)
class ColorPalette:
    """The colours of an Ideogram 3 image: a named preset, or a list of colours.

    Build one with :meth:`preset` or :meth:`of`, or with exactly one of the two fields.

    Args:
        name: a preset (EMBER FRESH JUNGLE MAGIC MELON MOSAIC PASTEL ULTRAMARINE), in any
            case; kept in title case, as RunComfy spells it.
        members: 1 to 8 colours, each a :data:`MemberLike`.

    Raises:
        InvalidInputError: listing every problem.
    """

    name: PalettePreset | None = attrs.field(default=None, converter=check_palette_preset)
    members: tuple[PaletteMember, ...] | None = attrs.field(default=None, converter=_check_members)

    def __attrs_post_init__(self) -> None:
        problems = field_problems(self)
        given = [value for value in (self.name, self.members) if value is not None]
        if not given:
            problems.append(InputProblem("name", None, "a preset name, or members instead"))
        elif len(given) == 2 and all(is_valid(value) for value in given):
            problems.append(
                InputProblem("members", self.members, "no members when a preset name is given")
            )
        raise_problems(problems)

    @classmethod
    def preset(cls, name: str) -> ColorPalette:
        """A named preset palette: ``ColorPalette.preset("ember")`` sends ``{"name": "Ember"}``.

        Args:
            name: EMBER FRESH JUNGLE MAGIC MELON MOSAIC PASTEL or ULTRAMARINE, in any case.
        """
        return cls(name=name)

    @classmethod
    def of(cls, *colors: MemberLike) -> ColorPalette:
        """A palette of colours: ``ColorPalette.of(("#ff0000", 0.8), "#0f0")``.

        Args:
            colors: 1 to 8 colours, each ``"#RRGGBB"`` (or ``#RGB``), a ``(colour, weight)``
                pair, or a :class:`PaletteMember`.
        """
        return cls(members=colors)


def check_palette(
    value: ColorPalette | Mapping[str, Any] | None,
) -> ColorPalette | Refused | None:
    """The converter of an input's ``color_palette``: a ColorPalette, or its JSON form."""
    allowed = "a ColorPalette, or {'name': ...} or {'members': [...]}"
    return check_part(value, ColorPalette, _palette_from_json, allowed)


# --- On the wire ------------------------------------------------------------------------------


def _member_to_json(member: PaletteMember) -> dict[str, Any]:
    if member.color_weight is None:
        return {"color_hex": member.color_hex}
    return {"color_hex": member.color_hex, "color_weight": member.color_weight}


def _read_object(
    value: object, keys: tuple[str, ...], owner: str, build: Callable[[Mapping[str, Any]], _Part]
) -> _Part:
    """A palette part built from its JSON object; its unknown keys reported with the rest."""
    given = json_object(value)
    problems = unknown_keys(given, keys, owner)
    try:
        part = build(given)
    except InvalidInputError as error:
        raise InvalidInputError([*problems, *error.problems]) from None
    raise_problems(problems)
    return part


def _member_from_json(value: object) -> PaletteMember:
    def build(given: Mapping[str, Any]) -> PaletteMember:
        return PaletteMember(
            color_hex=given.get("color_hex", MISSING), color_weight=given.get("color_weight")
        )

    return _read_object(value, _MEMBER_KEYS, "a palette colour", build)


def _palette_to_json(palette: ColorPalette) -> dict[str, Any]:
    if palette.name is not None:
        return {"name": palette.name}
    return {"members": [_member_to_json(member) for member in palette.members or ()]}


def _palette_from_json(value: object) -> ColorPalette:
    def build(given: Mapping[str, Any]) -> ColorPalette:
        return ColorPalette(name=given.get("name"), members=given.get("members"))

    return _read_object(value, _PALETTE_KEYS, "a colour palette", build)


converter.register_unstructure_hook(PaletteMember, _member_to_json)
converter.register_structure_hook(PaletteMember, lambda value, _: _member_from_json(value))
converter.register_unstructure_hook(ColorPalette, _palette_to_json)
converter.register_structure_hook(ColorPalette, lambda value, _: _palette_from_json(value))
