"""Typed inputs for the four Ideogram models RunComfy serves.

Each class knows its model id and turns itself into the JSON body of a submit
(``to_payload()``), so that ``client.submit(V3TextToImage(prompt="a fox"))`` works. Each is
checked when built, and every problem is reported in one
:class:`~runcomfy_async.InvalidInputError`, before anything is sent (see ``_checks``).

What is sent is what was set: a field left unset (None) is left out of the payload, so the
server applies its own default; schema defaults are never sent on the user's behalf.

``extra`` carries keys the class does not type, sent as given. It is how a field the live
schema has but this package does not yet know gets through, and how a ``Custom`` aspect
ratio gets its size: RunComfy publishes no shape for it, so none is invented here
(``V3TextToImage(prompt=..., aspect_ratio="Custom", extra={"width": 1280, "height": 704})``
sends those two keys beside the others). An extra key may not name one of the class's own
fields.

The Ideogram 3 inputs take the fields they have in common from two private bases
(``_V3Input``, and ``_V3PromptedInput`` for those with a prompt), and keep every field in the
place the model's page gives it. Ideogram 2's fields are its own.

The project's cattrs converter (``runcomfy_async.core._converter.converter``) writes and reads
these classes: ``converter.structure(item.to_payload(), type(item)) == item`` for every input.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Final, TypeVar, cast

import attrs
from attrs import AttrsInstance
from cattrs.gen import make_dict_unstructure_fn, override

from runcomfy_async.api._schema_check import MISSING
from runcomfy_async.core._converter import converter
from runcomfy_async.core._errors import InputProblem, InvalidInputError
from runcomfy_async.media import (
    ImageLike,
    InputImage,
    as_input_image,
    mask_problems,
    request_size_problem,
)

from ._checks import (
    Refused,
    check_extra,
    check_flag,
    check_optional_text,
    check_prompt,
    check_seed,
    field_problems,
    is_valid,
    json_object,
    raise_problems,
    refuse,
)
from ._palette import ColorPalette, check_palette
from ._resolution import REFRAME_MODEL_ID, check_resolution
from ._style import Style, check_style
from ._vocabulary import (
    AspectRatioV2,
    AspectRatioV3,
    MagicPrompt,
    RenderingSpeed,
    StyleV2,
    check_aspect_ratio_v2,
    check_aspect_ratio_v3,
    check_magic_prompt,
    check_rendering_speed,
    check_style_v2,
)

__all__ = ["V2Generate", "V3Edit", "V3Reframe", "V3TextToImage"]


def _check_image(value: ImageLike) -> InputImage | Refused:
    received: object = value
    if received is MISSING:
        return refuse(received, "an image")
    try:
        return as_input_image(value, path="")
    except InvalidInputError as error:
        return Refused(error.problems)


class _TypedInput:
    """What the four inputs share: checking themselves when built, and their payload.

    A subclass with problems that span fields (edit's image and mask) adds them in
    ``_cross_field_problems``; every problem is raised at once, the request size last,
    once all else is fine.
    """

    __slots__ = ()
    model_id: ClassVar[str]

    def _cross_field_problems(self) -> Iterable[InputProblem]:
        return ()

    def __attrs_post_init__(self) -> None:
        problems = [*field_problems(cast(AttrsInstance, self)), *self._cross_field_problems()]
        if not problems:
            too_large = request_size_problem(self.to_payload())
            if too_large is not None:
                problems.append(too_large)
        raise_problems(problems, model_id=self.model_id)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of a submit: the fields set, then ``extra``."""
        payload: dict[str, Any] = converter.unstructure(self)
        return payload


# attrs puts a base class's fields before a subclass's own; the Ideogram 3 inputs put each
# field back in the place the model pages (and their schemas) give it, which is the order of
# the payload, of the repr and of the problems reported. A field missing here fails at import.
_V3_FIELD_ORDER: Final = (
    "image",
    "mask",
    "resolution",
    "prompt",
    "seed",
    "aspect_ratio",
    "rendering_speed",
    "magic_prompt",
    "negative_prompt",
    "color_palette",
    "style",
    "extra",
)


def _in_v3_order(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    return sorted(fields, key=lambda field: _V3_FIELD_ORDER.index(field.name))


@attrs.frozen(kw_only=True, field_transformer=_in_v3_order)
class _V3Input(_TypedInput):
    """The fields that every Ideogram 3 input has."""

    seed: int | None = attrs.field(default=None, converter=check_seed)
    rendering_speed: RenderingSpeed | None = attrs.field(
        default=None, converter=check_rendering_speed
    )
    color_palette: ColorPalette | None = attrs.field(default=None, converter=check_palette)
    style: Style | None = attrs.field(default=None, converter=check_style)
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=check_extra, hash=False)


@attrs.frozen(kw_only=True, field_transformer=_in_v3_order)
class _V3PromptedInput(_V3Input):
    """The fields of the Ideogram 3 inputs that draw what a prompt says (not reframe)."""

    prompt: str = attrs.field(converter=check_prompt)
    magic_prompt: MagicPrompt | None = attrs.field(default=None, converter=check_magic_prompt)


@attrs.frozen(kw_only=True, field_transformer=_in_v3_order)
class V3TextToImage(_V3PromptedInput):
    """An input of Ideogram 3 text-to-image (``ideogram/ideogram-v3/text-to-image``).

    Args:
        prompt: what to draw; not empty.
        seed: 0 to 2147483647, for repeatable results.
        aspect_ratio: ``16:9 4:3 1:1 3:4 9:16`` or ``Custom`` (size keys then go in
            ``extra``).
        rendering_speed: ``TURBO BALANCED QUALITY``.
        magic_prompt: ``AUTO ON OFF``: whether Ideogram rewrites the prompt.
        negative_prompt: what to keep out of the image.
        color_palette: a :class:`ColorPalette` (or its JSON form).
        style: a :class:`Style` (or its JSON form).
        extra: other keys, sent as given.

    Raises:
        InvalidInputError: listing every problem.
    """

    model_id: ClassVar[str] = "ideogram/ideogram-v3/text-to-image"

    aspect_ratio: AspectRatioV3 | None = attrs.field(default=None, converter=check_aspect_ratio_v3)
    negative_prompt: str | None = attrs.field(default=None, converter=check_optional_text)


@attrs.frozen(kw_only=True, field_transformer=_in_v3_order)
class V3Edit(_V3PromptedInput):
    """An input of Ideogram 3 edit (``ideogram/ideogram-v3/edit``): redraw a masked area.

    Local images (bytes, a path, a Pillow image) are sent inline as ``data:`` URIs. When
    both the image and the mask are local, the mask must have the image's size and be
    partial: black marks the area to edit, white is kept; a mask all black or all white is
    refused (this one check needs Pillow, and is skipped without it). URLs are checked by
    the server.

    Args:
        image: the image to edit: an ``https://`` URL, a ``data:`` URI, bytes, a
            ``pathlib.Path`` or a Pillow image; JPEG, PNG or WebP.
        mask: the mask, given in any of the same ways.
        prompt: what to draw in the masked area; not empty.
        seed: 0 to 2147483647.
        rendering_speed: ``TURBO BALANCED QUALITY``.
        magic_prompt: ``AUTO ON OFF``.
        color_palette: a :class:`ColorPalette` (or its JSON form).
        style: a :class:`Style` (or its JSON form).
        extra: other keys, sent as given.

    Raises:
        InvalidInputError: listing every problem.
    """

    model_id: ClassVar[str] = "ideogram/ideogram-v3/edit"

    image: InputImage = attrs.field(converter=_check_image)
    mask: InputImage = attrs.field(converter=_check_image)

    def _cross_field_problems(self) -> Iterable[InputProblem]:
        both_read = is_valid(self.image) and is_valid(self.mask)
        return mask_problems(self.image, self.mask) if both_read else ()


@attrs.frozen(kw_only=True, field_transformer=_in_v3_order)
class V3Reframe(_V3Input):
    """An input of Ideogram 3 reframe (``ideogram/ideogram-v3/reframe``): extend an image.

    Args:
        image: the image to extend, given as for :class:`V3Edit`.
        resolution: the output size: a label of the schema (``"1152:864 (4:3)"``),
            ``"1152x864"`` or ``(1152, 864)``; kept as the label.
        seed: 0 to 2147483647.
        rendering_speed: ``TURBO BALANCED QUALITY``.
        color_palette: a :class:`ColorPalette` (or its JSON form).
        style: a :class:`Style` (or its JSON form).
        extra: other keys, sent as given.

    Raises:
        InvalidInputError: listing every problem.
    """

    model_id: ClassVar[str] = REFRAME_MODEL_ID

    image: InputImage = attrs.field(converter=_check_image)
    resolution: str = attrs.field(converter=check_resolution)


@attrs.frozen(kw_only=True)
class V2Generate(_TypedInput):
    """An input of Ideogram 2 (``ideogram/ideogram-v2/generate``).

    Its fields are its own: they share names with Ideogram 3's but not their order, and
    ``style`` here is a plain word.

    Args:
        prompt: what to draw; not empty.
        style: ``auto general realistic design render_3D anime`` (a plain word here).
        aspect_ratio: ``3:1 16:9 16:10 3:2 4:3 1:1 3:4 2:3 10:16 9:16 1:3``.
        expand_prompt: whether Ideogram rewrites the prompt (its "magic prompt").
        negative_prompt: what to keep out of the image.
        seed: 0 to 2147483647.
        extra: other keys, sent as given.

    Raises:
        InvalidInputError: listing every problem.
    """

    model_id: ClassVar[str] = "ideogram/ideogram-v2/generate"

    prompt: str = attrs.field(converter=check_prompt)
    style: StyleV2 | None = attrs.field(default=None, converter=check_style_v2)
    aspect_ratio: AspectRatioV2 | None = attrs.field(default=None, converter=check_aspect_ratio_v2)
    expand_prompt: bool | None = attrs.field(default=None, converter=check_flag)
    negative_prompt: str | None = attrs.field(default=None, converter=check_optional_text)
    seed: int | None = attrs.field(default=None, converter=check_seed)
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=check_extra, hash=False)


# --- On the wire ------------------------------------------------------------------------------

_Input = TypeVar("_Input", V3TextToImage, V3Edit, V3Reframe, V2Generate)


def _payload_writer(cls: type[_Input]) -> Callable[[_Input], dict[str, Any]]:
    """How ``cls`` becomes a payload: its fields set, through the converter, then extra."""
    fields_set = make_dict_unstructure_fn(
        cls, converter, _cattrs_omit_if_default=True, extra=override(omit=True)
    )

    def write(item: _Input) -> dict[str, Any]:
        payload = fields_set(item)
        # A copy: whoever changes the payload must not change the frozen input.
        payload.update(copy.deepcopy(dict(item.extra)))
        return payload

    return write


def _from_payload(payload: object, cls: type[_Input]) -> _Input:
    """The typed input a payload describes; keys the class does not have go to ``extra``."""
    given = json_object(payload, path="input", model_id=cls.model_id)
    fields = [field for field in attrs.fields(cls) if field.name != "extra"]
    own = {field.name for field in fields}
    arguments: dict[str, Any] = {
        field.name: given.get(field.name, MISSING)
        for field in fields
        if field.name in given or field.default is attrs.NOTHING
    }
    return cls(**arguments, extra={key: given[key] for key in given if key not in own})


def _register(cls: type[_Input]) -> None:
    converter.register_unstructure_hook(cls, _payload_writer(cls))
    converter.register_structure_hook(cls, _from_payload)


_register(V3TextToImage)
_register(V3Edit)
_register(V3Reframe)
_register(V2Generate)
