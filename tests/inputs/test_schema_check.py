"""Any model's input checked against its JSON Schema: every problem, in words."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from runcomfy_async import InvalidInputError, MalformedResponseError
from runcomfy_async.api._schema_check import (
    MISSING,
    _compiled,
    bundled_schema,
    describe_schema,
    validate_payload,
)
from runcomfy_async.core._inputs import ModelInput
from runcomfy_async.ideogram import V2Generate, V3Edit, V3Reframe, V3TextToImage

from ._pictures import picture_bytes

IDEOGRAM = (V3TextToImage, V3Edit, V3Reframe, V2Generate)
T2I = V3TextToImage.model_id
PNG_URI = "data:image/png;base64," + base64.b64encode(picture_bytes("PNG")).decode()

MADE_UP: dict[str, Any] = {
    "type": "object",
    "required": ["prompt", "strength"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "strength": {"type": "float", "minimum": 0, "maximum": 1},
        "image_url": {"type": "string", "format": "image_uri"},
        "images": {
            "type": "array",
            "maxItems": 4,
            "items": {"type": "string", "format": "image_uri"},
        },
        "color": {"type": "string", "format": "hex-color"},
        "style": {
            "type": "object",
            "properties": {"style_type": {"type": "string", "enum": ["Auto", "Fiction"]}},
        },
    },
}


def problems(model_id: str, payload: dict[str, Any], schema: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as caught:
        validate_payload(model_id, payload, schema)
    assert caught.value.model_id == model_id
    return {problem.path: problem.allowed for problem in caught.value.problems}


# --- The bundled schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", IDEOGRAM, ids=lambda cls: cls.__name__)
def test_each_ideogram_model_has_a_bundled_schema_naming_it(cls: Any) -> None:
    schema = bundled_schema(cls.model_id)

    assert schema is not None
    assert schema["x-model-id"] == cls.model_id


def test_a_model_without_a_bundled_schema_has_none() -> None:
    assert bundled_schema("minimax/video-01") is None


def test_a_bundled_schema_is_a_copy_the_caller_may_change() -> None:
    first = bundled_schema(T2I)
    assert first is not None
    first["properties"].clear()

    assert bundled_schema(T2I) != first


def test_payloads_of_the_typed_inputs_pass_their_bundled_schemas() -> None:
    inputs: list[ModelInput] = [
        V3TextToImage(
            prompt="a fox", seed=1, rendering_speed="TURBO", style={"style_type": "auto"}
        ),
        V3Edit(image="https://cdn.example/i.png", mask=PNG_URI, prompt="a fox"),
        V3Reframe(image=PNG_URI, resolution=(1024, 1024)),
        V2Generate(prompt="a fox", expand_prompt=False),
    ]
    for item in inputs:
        schema = bundled_schema(item.model_id)
        assert schema is not None
        validate_payload(item.model_id, item.to_payload(), schema)


def test_every_problem_with_a_payload_is_listed_in_words() -> None:
    schema = bundled_schema(T2I)
    assert schema is not None

    found = problems(
        T2I,
        {"prompt": 5, "seed": -1, "rendering_speed": "fast", "aspect_ratio": 3, "style": "Auto"},
        schema,
    )

    assert found == {
        "prompt": "a string",
        "seed": "an integer from 0 to 2147483647",
        "rendering_speed": "one of 'TURBO', 'BALANCED', 'QUALITY'",
        "aspect_ratio": "one of '16:9', '4:3', '1:1', '3:4', '9:16', 'Custom'",
        "style": "an object",
    }


def test_a_missing_required_field_is_named_as_missing() -> None:
    schema = bundled_schema(V3Edit.model_id)
    assert schema is not None

    with pytest.raises(InvalidInputError) as caught:
        validate_payload(V3Edit.model_id, {"image": "https://cdn.example/i.png"}, schema)

    assert {(p.path, p.received, p.allowed) for p in caught.value.problems} == {
        ("mask", MISSING, "required"),
        ("prompt", MISSING, "required: a string"),
    }


def test_a_long_enum_is_quoted_in_part() -> None:
    schema = bundled_schema(V3Reframe.model_id)
    assert schema is not None

    found = problems(V3Reframe.model_id, {"image": PNG_URI, "resolution": "huge"}, schema)

    assert found["resolution"].endswith("… (69 values in all)")


# --- RunComfy's dialect --------------------------------------------------------------------


@pytest.mark.parametrize("strength", [0, 0.5, 1])
def test_a_float_type_takes_numbers(strength: float) -> None:
    validate_payload("acme/tool", {"prompt": "a fox", "strength": strength}, MADE_UP)


@pytest.mark.parametrize("strength", [True, "0.5", 1.5])
def test_a_float_type_refuses_what_is_not_a_number_in_range(strength: Any) -> None:
    found = problems("acme/tool", {"prompt": "a fox", "strength": strength}, MADE_UP)

    assert found == {"strength": "a number from 0 to 1"}


@pytest.mark.parametrize(
    "image",
    [
        "https://cdn.example/a.png",
        "http://127.0.0.1:8000/a.png",
        "http://localhost/a.png",
        PNG_URI,
    ],
)
def test_an_image_format_takes_https_loopback_http_and_data_uris(image: str) -> None:
    validate_payload("acme/tool", {"prompt": "p", "strength": 1, "image_url": image}, MADE_UP)


def test_image_format_problems_are_named_by_their_place_in_a_list() -> None:
    payload = {
        "prompt": "p",
        "strength": 1,
        "images": [
            "https://cdn.example/a.png",
            PNG_URI,
            "http://cdn.example/b.png",
            "data:text/plain;base64,aGk=",
        ],
    }

    assert set(problems("acme/tool", payload, MADE_UP)) == {"images[2]", "images[3]"}


def test_formats_that_name_no_image_are_not_checked() -> None:
    validate_payload("acme/tool", {"prompt": "p", "strength": 1, "color": "not a colour"}, MADE_UP)


def test_a_nested_field_is_named_by_its_path() -> None:
    found = problems(
        "acme/tool", {"prompt": "p", "strength": 1, "style": {"style_type": "x"}}, MADE_UP
    )

    assert found == {"style.style_type": "one of 'Auto', 'Fiction'"}


def test_a_tuple_counts_as_a_list() -> None:
    payload = {"prompt": "p", "strength": 1, "images": ("https://cdn.example/a.png",)}

    validate_payload("acme/tool", payload, MADE_UP)


def test_a_list_too_long_says_how_long_it_may_be() -> None:
    payload = {"prompt": "p", "strength": 1, "images": ["https://cdn.example/a.png"] * 5}

    assert problems("acme/tool", payload, MADE_UP) == {"images": "a list of at most 4 items"}


def test_an_empty_string_under_min_length_is_explained() -> None:
    assert problems("acme/tool", {"prompt": "", "strength": 1}, MADE_UP) == {
        "prompt": "a string of at least 1 character"
    }


def test_unknown_fields_are_named_when_the_schema_forbids_them() -> None:
    schema = {
        "type": "object",
        "properties": {"prompt": {"type": "string"}},
        "additionalProperties": False,
    }

    found = problems("acme/tool", {"prompt": "p", "promt": "typo"}, schema)

    assert found == {"promt": "not a field of this model; known fields: prompt"}


def test_alternatives_are_all_described() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"anyOf": [{"type": "integer", "minimum": 3}, {"enum": ["auto"]}]}},
    }

    assert problems("acme/tool", {"n": 1}, schema) == {
        "n": "an integer of at least 3 or one of 'auto'"
    }


def test_a_payload_that_is_not_an_object_is_named_as_the_input() -> None:
    assert problems("acme/tool", [], MADE_UP) == {"input": "an object"}  # type: ignore[arg-type]


def test_an_error_about_a_long_value_does_not_quote_it_whole() -> None:
    schema = {"type": "object", "properties": {"image": {"type": "string", "format": "image_uri"}}}

    with pytest.raises(InvalidInputError) as caught:
        validate_payload("acme/tool", {"image": "ftp://" + "x" * 100_000}, schema)

    assert len(str(caught.value)) < 400


def test_a_schema_that_cannot_be_evaluated_is_a_malformed_answer() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "int"}}}

    with pytest.raises(MalformedResponseError, match="acme/tool"):
        validate_payload("acme/tool", {"n": 1}, schema)


def test_a_schema_is_compiled_once_however_often_it_is_used() -> None:
    schema = {"type": "object", "properties": {"only_here": {"type": "integer"}}}
    validate_payload("acme/tool", {"only_here": 1}, schema)
    misses = _compiled.cache_info().misses

    for n in range(5):
        validate_payload("acme/tool", {"only_here": n}, dict(schema))

    assert _compiled.cache_info().misses == misses


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": ["string", "null"]}, "a string or null"),
        ({"type": "number", "exclusiveMinimum": 0}, "a number greater than 0"),
        (
            {"type": "integer", "maximum": 8, "multipleOf": 2},
            "an integer of at most 8 and a multiple of 2",
        ),
        ({"type": "string", "pattern": "^#"}, "a string matching '^#'"),
        ({"type": "boolean"}, "true or false"),
        ({"const": "x"}, "exactly 'x'"),
        ({}, "any value"),
    ],
)
def test_a_schema_is_described_in_words(schema: dict[str, Any], words: str) -> None:
    assert describe_schema(schema) == words
