"""Checking a submitted input against its model's JSON Schema, answered as RunComfy answers.

Problems come back as the ``detail`` of a 422001: one ``{loc, msg, type}`` per failing field and
kind of failure, the shape of a FastAPI/pydantic service (a missing field is ``missing``, an
unexpected one ``extra_forbidden``), sorted by location so that answers are stable.

RunComfy's schemas sometimes say ``"type": "float"``, which is not JSON Schema; the sandbox
reads it as ``number`` rather than refusing every such model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

import jsonschema.validators
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator


def _is_number(checker: object, instance: object) -> bool:
    return isinstance(instance, (int, float)) and not isinstance(instance, bool)


_SchemaValidator: Final = cast(
    "type[Validator]",
    jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator,
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("float", _is_number),
    ),
)


def input_validator(schema: Mapping[str, Any]) -> Validator:
    """A validator for a model's input schema (compiled once, when the model is served)."""
    return _SchemaValidator(dict(schema))


def input_problems(validator: Validator, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ``{loc, msg, type}`` per failing field and kind of failure, sorted by location;
    empty when the input is valid."""
    detail: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for error in validator.iter_errors(payload):
        for item in _validation_detail(error):
            key = (tuple(str(part) for part in item["loc"]), item["type"])
            detail.setdefault(key, item)
    return [detail[key] for key in sorted(detail)]


def _validation_detail(error: jsonschema.ValidationError) -> list[dict[str, Any]]:
    path = list(error.absolute_path)
    instance = error.instance
    required = error.validator_value
    if (
        error.validator == "required"
        and isinstance(instance, Mapping)
        and isinstance(required, list)
    ):
        # jsonschema yields one "required" error per missing field, each carrying the whole
        # list: `input_problems` keeps one item per location.
        return [
            {"loc": [*path, name], "msg": "field required", "type": "missing"}
            for name in required
            if name not in instance
        ]
    schema = error.schema
    if (
        error.validator == "additionalProperties"
        and isinstance(instance, Mapping)
        and isinstance(schema, Mapping)
    ):
        allowed = schema.get("properties", {})
        return [
            {"loc": [*path, name], "msg": "extra field not permitted", "type": "extra_forbidden"}
            for name in instance
            if name not in allowed
        ]
    return [{"loc": path, "msg": error.message, "type": str(error.validator)}]
