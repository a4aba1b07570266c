"""Hostile values into the typed Ideogram inputs.

Whatever is passed, a constructor either builds an input or raises ``InvalidInputError``
(``TypeError`` only for a wrong call shape: an unknown keyword, positional arguments); and
whatever it builds serialises to strict JSON (no NaN, no bytes) that validates against the
model's bundled schema.
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from PIL import Image

import runcomfy_async.media._inline as images_module
from runcomfy_async import InvalidInputError
from runcomfy_async.api._schema_check import bundled_schema
from runcomfy_async.ideogram import (
    ColorPalette,
    PaletteMember,
    Style,
    V2Generate,
    V3Edit,
    V3Reframe,
    V3TextToImage,
)

SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CLASSES = (V3TextToImage, V3Edit, V3Reframe, V2Generate)


def _png(size: tuple[int, int], colour: Any, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _half_mask(size: tuple[int, int]) -> bytes:
    picture = Image.new("L", size, 255)
    picture.paste(0, (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png((8, 8), (200, 30, 30))
MASK = _half_mask((8, 8))
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"GIF89a")

# Anything at all, including what JSON cannot hold.
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.binary(max_size=20) | st.complex_numbers() | st.just(object()) | st.just(...)
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.tuples(inner, inner)
        | st.frozensets(st.integers(), max_size=3)
        | st.dictionaries(st.text(max_size=6) | st.integers() | st.none(), inner, max_size=3)
    ),
    max_leaves=8,
)
# Image-ish values: real images, corrupt ones behind a real magic number, URLs of every kind.
image_bytes = st.one_of(
    st.just(PNG), st.just(MASK),
    st.tuples(st.sampled_from(MAGIC), st.binary(max_size=40)).map(lambda t: t[0] + t[1]),
    st.integers(0, len(PNG)).map(lambda n: PNG[:n]),
)
image_texts = st.one_of(
    image_bytes.map(lambda b: "data:image/png;base64," + base64.b64encode(b).decode()),
    st.sampled_from([
        "https://cdn.example.com/a.png", "http://127.0.0.1:9/a.png", "http://example.com/a.png",
        "ftp://example.com/a.png", "file:///etc/passwd", "javascript:alert(1)", "https://",
        "data:image/png;base64,!!!", "data:,", "data:image/png,raw", "../../etc/passwd", "",
        "https://user:pw@example.com/a.png", "https://exa mple.com/a.png",
    ]),
    st.text(max_size=30),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
hex_texts = st.text("0123456789abcdefABCDEFxyz#", max_size=8)
palettes = st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(["EMBER", "ember", "Nope", ""])}),
    st.fixed_dictionaries({"members": st.lists(
        st.fixed_dictionaries({"color_hex": hex_texts},
                              optional={"color_weight": st.floats(0, 1.5) | st.none()}),
        max_size=10)}),
)
styles = st.fixed_dictionaries({}, optional={
    "style_type": st.sampled_from(["AUTO", "realistic", "DESIGN", "bogus"]),
    "style_codes": st.lists(hex_texts, max_size=4),
    "style_preset": st.text(max_size=10),
})
# Values a caller might plausibly pass (valid or nearly so), by field name.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "prompt": st.text(max_size=30),
    "negative_prompt": st.text(max_size=10),
    "seed": st.integers(-5, 2**31 + 5),
    "aspect_ratio": st.sampled_from(["1:1", "16:9", "Custom", "3:1", "1x1", "custom", ""]),
    "rendering_speed": st.sampled_from(["TURBO", "turbo", "BALANCED", "FAST"]),
    "magic_prompt": st.sampled_from(["AUTO", "ON", "off", "MAYBE"]),
    "style": styles | st.sampled_from(["auto", "anime", "render_3D", "Anime"]),
    "color_palette": palettes,
    "expand_prompt": st.booleans(),
    "image": st.sampled_from([PNG, "https://cdn.example.com/a.png"]) | image_bytes | image_texts,
    "mask": st.sampled_from([MASK, "https://cdn.example.com/m.png"]) | image_bytes | image_texts,
    "resolution": st.one_of(
        st.sampled_from(["1152:864 (4:3)", "1152x864", "1x1", "99999x99999", "", "1152:864"]),
        st.tuples(st.integers(-10, 5000), st.integers(-10, 5000)),
    ),
    "extra": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
}


def arguments_for(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``cls``: every field plausible, or each one plausible or anything
    at all. Optional fields are sometimes left out; leaving out a required one is a wrong
    call shape, tested apart."""
    return _arguments(cls, hostile=False) | _arguments(cls, hostile=True) | _one_field_off(cls)


VALID_BASE: dict[type, dict[str, Any]] = {
    V3TextToImage: {"prompt": "a fox"},
    V3Edit: {"image": PNG, "mask": MASK, "prompt": "a fox"},
    V3Reframe: {"image": PNG, "resolution": "1152:864 (4:3)"},
    V2Generate: {"prompt": "a fox"},
}


def _one_field_off(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    """A valid input with one field (any field) replaced by a plausible or hostile value."""
    names = [field.name for field in attrs.fields(cls)]
    return st.sampled_from(names).flatmap(
        lambda name: (PLAUSIBLE.get(name, anything) | anything).map(
            lambda value: {**VALID_BASE[cls], name: value}
        )
    )


def _arguments(cls: type, *, hostile: bool) -> st.SearchStrategy[dict[str, Any]]:
    fields = attrs.fields(cls)

    def value(name: str) -> st.SearchStrategy[Any]:
        plausible = PLAUSIBLE.get(name, anything)
        return plausible | anything if hostile else plausible

    return st.fixed_dictionaries(
        {f.name: value(f.name) for f in fields if f.default is attrs.NOTHING},
        optional={f.name: value(f.name) for f in fields if f.default is not attrs.NOTHING},
    )


def strict_json(payload: Any) -> Any:
    """The payload through strict JSON (NaN, infinities, bytes and sets all refused)."""
    return json.loads(json.dumps(payload, allow_nan=False))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@SETTINGS
@given(data=st.data())
def test_a_typed_input_refuses_with_invalid_input_or_sends_what_its_schema_accepts(
    cls: Any, data: st.DataObject
) -> None:
    arguments = data.draw(arguments_for(cls))
    try:
        item = cls(**arguments)
    except InvalidInputError as error:
        problems, text = error.problems, str(error)
        assert problems, "an InvalidInputError must name at least one problem"
        assert text
        return
    payload = item.to_payload()
    schema = bundled_schema(cls.model_id)
    assert schema is not None
    Draft202012Validator(schema).validate(strict_json(payload))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@SETTINGS
@given(name=st.text(min_size=1, max_size=10), value=anything)
def test_an_unknown_keyword_is_a_type_error(cls: Any, name: str, value: Any) -> None:
    if name in {field.name for field in attrs.fields(cls)}:
        return
    with pytest.raises(TypeError):
        cls(**{name: value})


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_positional_arguments_are_a_type_error(cls: Any) -> None:
    with pytest.raises(TypeError):
        cls("a fox")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_a_missing_required_field_is_a_type_error(cls: Any) -> None:
    with pytest.raises(TypeError):
        cls()


@pytest.mark.parametrize(
    "build",
    [
        lambda value: ColorPalette(members=value),
        lambda value: ColorPalette.preset(value),
        lambda value: PaletteMember(color_hex=value),
        lambda value: PaletteMember(color_hex="#ffffff", color_weight=value),
        lambda value: Style(style_type=value),
        lambda value: Style(style_codes=value),
    ],
    ids=["palette-members", "palette-preset", "member-hex", "member-weight", "style-type",
         "style-codes"],
)
@SETTINGS
@given(value=anything | palettes | styles | hex_texts | st.lists(hex_texts | palettes, max_size=9))
def test_the_parts_of_an_input_refuse_only_with_invalid_input(build: Any, value: Any) -> None:
    try:
        part = build(value)
    except InvalidInputError:
        return
    # What a part accepted, a whole input accepts and sends as valid JSON.
    if isinstance(part, ColorPalette):
        payload = V3TextToImage(prompt="p", color_palette=part).to_payload()
    elif isinstance(part, Style):
        payload = V3TextToImage(prompt="p", style=part).to_payload()
    else:
        payload = V3TextToImage(prompt="p", color_palette=ColorPalette(members=[part])).to_payload()
    schema = bundled_schema(V3TextToImage.model_id)
    assert schema is not None
    Draft202012Validator(schema).validate(strict_json(payload))


def test_a_data_uri_image_over_the_cap_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(images_module, "MAX_INPUT_IMAGE_BYTES", len(PNG) - 1)
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    with pytest.raises(InvalidInputError) as caught:
        V3Reframe(image=uri, resolution="1152:864 (4:3)")
    assert caught.value.fields == ("image",)


def test_image_bytes_over_the_cap_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_module, "MAX_INPUT_IMAGE_BYTES", len(PNG) - 1)
    with pytest.raises(InvalidInputError) as caught:
        V3Edit(image=PNG, mask=MASK, prompt="a fox")
    assert "image" in caught.value.fields


def test_a_typed_input_over_the_request_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_module, "MAX_REQUEST_BYTES", 2 * len(PNG))
    with pytest.raises(InvalidInputError):
        V3Edit(image=PNG, mask=MASK, prompt="a fox " * 100)


def test_nan_and_infinite_extras_are_refused() -> None:
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidInputError):
            V3TextToImage(prompt="p", extra={"x": value})
