"""Checking any model's input against its JSON Schema, before anything is sent.

The typed inputs of :mod:`runcomfy_async.ideogram` check themselves; every other model is
checked here, against the schema RunComfy publishes for it (``GET /models/{id}``, see
:mod:`runcomfy_async._catalog`) or the one bundled with the package. Every problem is listed
at once, in the words a person fixing an input needs: the field path (``style.style_type``,
``images[2]``), the value received, and what is allowed ("one of 'TURBO', 'BALANCED',
'QUALITY'", "an integer from 0 to 2147483647", "required").

RunComfy's schemas are not always standard JSON Schema, and the checks bend to them:

- ``"type": "float"`` is read as ``"number"``, and a tuple counts as an array (it is sent as
  one);
- formats are not checked, except those naming an image (``image_uri`` and the like), whose
  values must be an ``https://`` URL, a loopback ``http://`` URL or a ``data:image/...`` URI;
- a schema that cannot be evaluated at all (an unknown type name, a dangling ``$ref``) is a
  fault of the answer that carried it: :class:`~runcomfy_async.MalformedResponseError`.

Validators are compiled once per distinct schema and cached. jsonschema is imported on the
first check, not with this module: the typed inputs use the helpers here without it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from .._constants import ENUM_VALUES_SHOWN, VALIDATOR_CACHE_SIZE
from ..core._errors import InputProblem, InvalidInputError, MalformedResponseError
from ..core._identity import canonical_json
from ..media import IMAGE_REFERENCE_ALLOWED, abbreviated, image_reference_problem

if TYPE_CHECKING:
    import jsonschema
    from jsonschema import TypeChecker
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = [
    "MISSING",
    "bundled_schema",
    "describe_schema",
    "join_path",
    "validate_payload",
]


# Keywords whose failure is best explained by describing the whole (sub)schema at that place.
_DESCRIBED_KEYWORDS: Final = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "anyOf",
        "oneOf",
    }
)


class _Missing:
    """The value of a required field that was not given, as shown in an error."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()
"""Stands for a required field that is absent, in ``InputProblem.received``."""



def require_jsonschema() -> None:
    """Raise ImportError now, rather than mid-check, when jsonschema is not installed."""
    import jsonschema  # noqa: F401

def join_path(parent: str, child: str) -> str:
    """A field path one level down: ``style`` + ``style_type``, ``images`` + ``[2]``.

    Args:
        parent: the path so far; empty at the top.
        child: a field name, an index written ``[n]``, or a relative path; empty for none.
    """
    if not child:
        return parent
    if not parent:
        return child
    return parent + child if child.startswith("[") else f"{parent}.{child}"


def _path_of(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path = join_path(path, f"[{part}]" if isinstance(part, int) else part)
    return path or "input"


# --- The bundled schemas -----------------------------------------------------------------------


@functools.cache
def _bundled_schema_texts() -> dict[str, str]:
    """The package's input schemas as JSON text, by the model id each one names."""
    texts: dict[str, str] = {}
    for entry in (resources.files("runcomfy_async") / "schemas").iterdir():
        if entry.name.endswith(".input.json"):
            text = entry.read_text(encoding="utf-8")
            texts[json.loads(text)["x-model-id"]] = text
    return texts


def bundled_schema(model_id: str) -> dict[str, Any] | None:
    """The input schema bundled with the package for a model, or None if none is bundled.

    The four Ideogram models' schemas ship with the package, as RunComfy published them. Each
    call returns a fresh copy, which the caller may change.

    Args:
        model_id: e.g. ``"ideogram/ideogram-v3/edit"``.
    """
    text = _bundled_schema_texts().get(model_id)
    if text is None:
        return None
    schema: dict[str, Any] = json.loads(text)
    return schema


# --- Compiling --------------------------------------------------------------------------------


@functools.cache
def _image_format_checker() -> jsonschema.FormatChecker:
    """A format checker for the formats that name an image; every other format passes."""
    import jsonschema
    from jsonschema.exceptions import FormatError

    class ImageFormatChecker(jsonschema.FormatChecker):
        def check(self, instance: object, format: str) -> None:
            if "image" not in format.lower() or not isinstance(instance, str):
                return
            problem = image_reference_problem(instance)
            if problem is not None:
                raise FormatError(problem)

    return ImageFormatChecker(formats=())


def _is_number(checker: TypeChecker, instance: object) -> bool:
    return checker.is_type(instance, "number")


def _is_array(checker: TypeChecker, instance: object) -> bool:
    return isinstance(instance, (list, tuple))


@functools.cache
def _tolerant(base: type[Validator]) -> type[Validator]:
    """``base``, reading RunComfy's ``float`` as ``number`` and tuples as arrays."""
    from jsonschema.validators import extend

    checker = base.TYPE_CHECKER.redefine_many({"float": _is_number, "array": _is_array})
    # jsonschema's extend() is untyped; it returns a validator class like ``base``.
    tolerant: type[Validator] = extend(base, type_checker=checker)  # type: ignore[no-untyped-call]
    return tolerant


@functools.lru_cache(maxsize=VALIDATOR_CACHE_SIZE)
def _compiled(schema_text: str) -> Validator:
    from jsonschema.validators import Draft202012Validator, validator_for

    schema = json.loads(schema_text)
    base = validator_for(schema, default=Draft202012Validator)
    return _tolerant(base)(schema, format_checker=_image_format_checker())


# --- Describing what a schema allows -------------------------------------------------------


def describe_schema(schema: object) -> str:
    """What a (sub)schema allows, in words: ``"an integer from 0 to 2147483647"``.

    Args:
        schema: a JSON Schema, or one of its subschemas.
    """
    if schema is True or schema == {}:
        return "any value"
    if not isinstance(schema, Mapping):
        return "no value at all"
    if "enum" in schema and isinstance(schema["enum"], list):
        return _one_of(schema["enum"])
    if "const" in schema:
        return f"exactly {schema['const']!r}"
    for keyword in ("anyOf", "oneOf"):
        if isinstance(schema.get(keyword), list):
            return " or ".join(describe_schema(option) for option in schema[keyword])
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared] if declared else []
    return " or ".join(_describe_type(str(name), schema) for name in types) or "a value"


def _one_of(values: list[Any]) -> str:
    shown = ", ".join(repr(value) for value in values[:ENUM_VALUES_SHOWN])
    if len(values) > ENUM_VALUES_SHOWN:
        return f"one of {shown}, … ({len(values)} values in all)"
    return f"one of {shown}"


def _describe_type(name: str, schema: Mapping[str, Any]) -> str:
    if name in ("integer", "number", "float"):
        noun = "an integer" if name == "integer" else "a number"
        return noun + _bounds(schema)
    if name == "string":
        return _describe_string(schema)
    if name == "array":
        return "a list" + _count(schema.get("minItems"), schema.get("maxItems"), "item")
    nouns = {"boolean": "true or false", "object": "an object", "null": "null"}
    return nouns.get(name, f"a value of type {name!r}")


def _bounds(schema: Mapping[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    parts = []
    if low is not None and high is not None:
        parts.append(f"from {low!r} to {high!r}")
    elif low is not None:
        parts.append(f"of at least {low!r}")
    elif high is not None:
        parts.append(f"of at most {high!r}")
    if schema.get("exclusiveMinimum") is not None:
        parts.append(f"greater than {schema['exclusiveMinimum']!r}")
    if schema.get("exclusiveMaximum") is not None:
        parts.append(f"less than {schema['exclusiveMaximum']!r}")
    if schema.get("multipleOf") is not None:
        parts.append(f"a multiple of {schema['multipleOf']!r}")
    return "".join(f" {part}" if i == 0 else f" and {part}" for i, part in enumerate(parts))


def _describe_string(schema: Mapping[str, Any]) -> str:
    format_name = schema.get("format")
    if isinstance(format_name, str) and "image" in format_name.lower():
        return IMAGE_REFERENCE_ALLOWED
    text = "a string" + _count(schema.get("minLength"), schema.get("maxLength"), "character")
    if isinstance(schema.get("pattern"), str):
        text += f" matching {schema['pattern']!r}"
    if isinstance(format_name, str):
        text += f" in {format_name!r} format"
    return text


def _count(low: object, high: object, unit: str) -> str:
    if isinstance(low, int) and isinstance(high, int):
        return f" of {low} to {high} {unit}s"
    if isinstance(low, int) and low > 0:
        return f" of at least {low} {unit}{'s' if low != 1 else ''}"
    if isinstance(high, int):
        return f" of at most {high} {unit}{'s' if high != 1 else ''}"
    return ""


# --- Validating -------------------------------------------------------------------------------


def validate_payload(model_id: str, payload: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Check an input against a model's input schema; raise if anything is wrong.

    Args:
        model_id: the model the input is for (named in the error).
        payload: the JSON object that would be sent.
        schema: the model's input JSON Schema (from the catalog, or :func:`bundled_schema`).

    Raises:
        InvalidInputError: listing every problem, each with its field path, the value
            received and what is allowed.
        MalformedResponseError: the schema itself cannot be evaluated.
    """
    from jsonschema.exceptions import UnknownType
    from referencing.exceptions import Unresolvable

    validator = _compiled(canonical_json(schema))
    try:
        problems = _deduplicated(_problems(validator.iter_errors(payload)))
    except (UnknownType, Unresolvable) as error:
        raise MalformedResponseError(
            f"the input schema of {model_id} cannot be used to check inputs: {error}",
            model_id=model_id,
        ) from error
    if problems:
        raise InvalidInputError(problems, model_id=model_id)


def _problems(errors: Iterable[ValidationError]) -> Iterator[InputProblem]:
    for error in errors:
        where = _path_of(error.absolute_path)
        if error.validator == "required":
            yield from _missing(error)
        elif error.validator == "additionalProperties":
            yield from _unexpected(error)
        elif error.validator in _DESCRIBED_KEYWORDS:
            yield InputProblem(where, abbreviated(error.instance), describe_schema(error.schema))
        else:
            yield InputProblem(where, abbreviated(error.instance), error.message)


def _missing(error: ValidationError) -> Iterator[InputProblem]:
    # jsonschema reports each missing name in its own error, all with the same required list.
    parent = _path_of(error.absolute_path) if error.absolute_path else ""
    properties = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
    required = error.validator_value if isinstance(error.validator_value, list) else []
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    for name in required:
        if name not in instance:
            described = describe_schema(properties[name]) if name in properties else ""
            allowed = f"required: {described}" if described not in ("", "a value") else "required"
            yield InputProblem(join_path(parent, name), MISSING, allowed)


def _unexpected(error: ValidationError) -> Iterator[InputProblem]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    parent = _path_of(error.absolute_path) if error.absolute_path else ""
    allowed = "not a field of this model; known fields: " + ", ".join(sorted(known))
    for name in instance:
        if name not in known and not any(re.search(pattern, name) for pattern in patterns):
            yield InputProblem(join_path(parent, name), abbreviated(instance[name]), allowed)


def _deduplicated(problems: Iterable[InputProblem]) -> list[InputProblem]:
    # A wrong type under an enum fails both keywords, with the same description: say it once.
    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in problems:
        if (problem.path, problem.allowed) not in seen:
            seen.add((problem.path, problem.allowed))
            unique.append(problem)
    return unique
