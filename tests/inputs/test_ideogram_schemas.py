"""The typed inputs against the bundled schemas: every enum value, every property, every
model id. Parametrised over the schema files, so that a new value or field is covered (or
fails) without anyone editing these tests."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, get_args

import attrs
import pytest
from jsonschema import Draft202012Validator

from runcomfy_async import ideogram
from runcomfy_async.core._inputs import ModelInput
from runcomfy_async.ideogram import V2Generate, V3Edit, V3Reframe, V3TextToImage
from runcomfy_async.ideogram._vocabulary import (
    AspectRatioV2,
    AspectRatioV3,
    MagicPrompt,
    RenderingSpeed,
    StyleV2,
)

CLASSES: dict[str, Any] = {
    cls.model_id: cls for cls in (V3TextToImage, V3Edit, V3Reframe, V2Generate)
}
REQUIRED: dict[str, dict[str, Any]] = {
    V3TextToImage.model_id: {"prompt": "a fox"},
    V3Edit.model_id: {
        "prompt": "a fox",
        "image": "https://cdn.example/image.png",
        "mask": "https://cdn.example/mask.png",
    },
    V3Reframe.model_id: {"image": "https://cdn.example/image.png", "resolution": "1024:1024 (1:1)"},
    V2Generate.model_id: {"prompt": "a fox"},
}


def _schemas() -> list[dict[str, Any]]:
    folder = resources.files("runcomfy_async") / "schemas"
    return [
        json.loads(entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name)
        if entry.name.endswith(".input.json")
    ]


SCHEMAS = _schemas()


def _enum_cases() -> list[Any]:
    return [
        pytest.param(schema, name, value, id=f"{schema['x-model-id']}:{name}={value}")
        for schema in SCHEMAS
        for name, prop in schema["properties"].items()
        for value in prop.get("enum", [])
    ]


@pytest.mark.parametrize(("schema", "field", "value"), _enum_cases())
def test_every_enum_value_of_every_schema_is_accepted_and_sent_as_is(
    schema: dict[str, Any], field: str, value: str
) -> None:
    model_id = schema["x-model-id"]
    item = CLASSES[model_id](**{**REQUIRED[model_id], field: value})

    payload = item.to_payload()

    assert payload[field] == value
    Draft202012Validator(schema).validate(payload)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema["x-model-id"])
def test_every_schema_property_is_a_field_of_its_class(schema: dict[str, Any]) -> None:
    cls = CLASSES[schema["x-model-id"]]
    fields = {field.name for field in attrs.fields(cls)} - {"extra"}

    # The edit schema requires a mask without listing it as a property.
    assert fields == set(schema["properties"]) | set(schema["required"])


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema["x-model-id"])
def test_a_class_keeps_its_fields_in_the_order_its_schema_lists_them(
    schema: dict[str, Any],
) -> None:
    cls = CLASSES[schema["x-model-id"]]
    listed = [field.name for field in attrs.fields(cls) if field.name in schema["properties"]]

    assert listed == list(schema["properties"])


def test_a_payload_lists_the_fields_set_in_field_order_then_the_extra_keys() -> None:
    item = V3Edit(
        extra={"z": 1},
        style={"style_type": "Auto"},
        color_palette={"name": "Ember"},
        magic_prompt="ON",
        rendering_speed="TURBO",
        seed=1,
        prompt="a fox",
        mask=REQUIRED[V3Edit.model_id]["mask"],
        image=REQUIRED[V3Edit.model_id]["image"],
    )

    assert list(item.to_payload()) == [
        "image",
        "mask",
        "prompt",
        "seed",
        "rendering_speed",
        "magic_prompt",
        "color_palette",
        "style",
        "z",
    ]
    assert repr(item).startswith("V3Edit(image=<https://cdn.example/image.png>, mask=<")


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema["x-model-id"])
def test_the_fields_a_schema_requires_are_the_ones_a_class_requires(
    schema: dict[str, Any],
) -> None:
    cls = CLASSES[schema["x-model-id"]]
    required = {field.name for field in attrs.fields(cls) if field.default is attrs.NOTHING}

    assert required == set(schema["required"])


@pytest.mark.parametrize(
    ("literal", "model_id", "field"),
    [
        (AspectRatioV3, V3TextToImage.model_id, "aspect_ratio"),
        (AspectRatioV2, V2Generate.model_id, "aspect_ratio"),
        (RenderingSpeed, V3Edit.model_id, "rendering_speed"),
        (MagicPrompt, V3TextToImage.model_id, "magic_prompt"),
        (StyleV2, V2Generate.model_id, "style"),
    ],
)
def test_the_literal_types_list_exactly_the_schema_enums(
    literal: Any, model_id: str, field: str
) -> None:
    schema = next(schema for schema in SCHEMAS if schema["x-model-id"] == model_id)

    assert list(get_args(literal)) == schema["properties"][field]["enum"]


@pytest.mark.parametrize("cls", list(CLASSES.values()), ids=lambda cls: cls.__name__)
def test_each_input_knows_its_model_and_is_a_model_input(cls: Any) -> None:
    item = cls(**REQUIRED[cls.model_id])

    assert isinstance(item, ModelInput)
    assert item.model_id == cls.model_id


def test_the_package_exports_only_its_curated_names() -> None:
    assert all(hasattr(ideogram, name) for name in ideogram.__all__)
    assert {"V3TextToImage", "V3Edit", "V3Reframe", "V2Generate", "ColorPalette", "Style"} <= set(
        ideogram.__all__
    )
