"""The models the sandbox serves: their specs, input validation and catalog entries.

The four Ideogram models are built from the JSON schemas bundled with the package (the same
data the client reads; only data is shared, never code). Any other model id can be registered
with a `ModelSpec` for generic tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Final, Literal, cast

import attrs
import jsonschema.validators
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from ._constants import CATALOG_MAX_LIMIT

OutputKind = Literal["image", "images", "video"]
RenderKind = Literal["generate", "edit", "reframe"]

# --- Output sizes (pixels) per aspect-ratio label, as Ideogram renders them --------------------
V3_SIZES: Final[Mapping[str, tuple[int, int]]] = {
    "1:1": (1024, 1024),
    "16:9": (1312, 736),
    "9:16": (736, 1312),
    "4:3": (1152, 864),
    "3:4": (864, 1152),
}
V2_SIZES: Final[Mapping[str, tuple[int, int]]] = {
    **V3_SIZES,
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "16:10": (1280, 800),
    "10:16": (800, 1280),
    "3:1": (1536, 512),
    "1:3": (512, 1536),
}

# --- Ideogram run times and prices (inferred from the hosts' pages; the sandbox's guesses) -----
IDEOGRAM_SIGMA: Final = 0.35
V3_TEXT_TO_IMAGE_MEDIAN_S: Final = 8.0
V3_EDIT_MEDIAN_S: Final = 10.0
V3_REFRAME_MEDIAN_S: Final = 9.0
V2_GENERATE_MEDIAN_S: Final = 6.0
V3_COST_USD: Final = 0.06
V2_COST_USD: Final = 0.08
DEFAULT_COST_USD: Final = 0.01

SCHEMA_PACKAGE: Final = "runcomfy_async"
SCHEMA_FOLDER: Final = "schemas"
OUTPUT_SCHEMA_FILE: Final = "output.json"
# The bundled input schemas, and how the sandbox imitates each model. Output shapes differ on
# purpose (v3 text-to-image and edit answer {"images": [url]}, reframe and v2 {"image": url}):
# a client that reads only one key is caught.
IDEOGRAM_FILES: Final[tuple[tuple[str, OutputKind, RenderKind, float, float], ...]] = (
    (
        "ideogram-v3-text-to-image.input.json",
        "images",
        "generate",
        V3_TEXT_TO_IMAGE_MEDIAN_S,
        V3_COST_USD,
    ),
    ("ideogram-v3-edit.input.json", "images", "edit", V3_EDIT_MEDIAN_S, V3_COST_USD),
    ("ideogram-v3-reframe.input.json", "image", "reframe", V3_REFRAME_MEDIAN_S, V3_COST_USD),
    ("ideogram-v2-generate.input.json", "image", "generate", V2_GENERATE_MEDIAN_S, V2_COST_USD),
)
SIZES_BY_MODEL: Final[Mapping[str, Mapping[str, tuple[int, int]]]] = {
    "ideogram/ideogram-v3/text-to-image": V3_SIZES,
    "ideogram/ideogram-v2/generate": V2_SIZES,
}
# Formats (or name endings) that mark a field as an image the sandbox must be able to read.
IMAGE_FORMATS: Final = frozenset({"image_uri", "uri"})
IMAGE_NAME_ENDINGS: Final = ("image", "mask")


def _is_number(checker: object, instance: object) -> bool:
    return isinstance(instance, (int, float)) and not isinstance(instance, bool)


# RunComfy's schemas sometimes say "type": "float", which is not JSON Schema: read it as number.
_SchemaValidator: Final = cast(
    "type[Validator]",
    jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator,
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("float", _is_number),
    ),
)


def _model_id(_instance: object, _attribute: object, value: str) -> None:
    parts = value.split("/") if isinstance(value, str) else []
    if len(parts) < 2 or any(not part or part != part.strip() for part in parts):
        raise ValueError(f"a model id has two or more non-empty '/' segments, got {value!r}")


def _non_negative(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be finite and >= 0, got {value!r}")


def _mapping(_instance: object, attribute: attrs.Attribute[object], value: object) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{attribute.name} must be a mapping (a JSON Schema), got {value!r}")


def _display_name(spec: ModelSpec) -> str:
    return spec.model_id.replace("/", " ").replace("-", " ").title()


@attrs.frozen
class ModelSpec:
    """A model the sandbox serves, and how it behaves.

    Args:
        model_id: two or more slash-separated segments, e.g. ``"acme/video-01"``.
        input_schema: the JSON Schema inputs are validated against (read-only).
        output_kind: ``"image"`` answers ``{"image": url}``, ``"images"`` ``{"images": [...]}``,
            ``"video"`` ``{"video": url}``.
        images_per_job: how many files an ``"images"`` model returns.
        median_s: median run time in seconds (0: jobs finish at once).
        sigma: spread of the lognormal run time (0: always the median).
        failure_rate: the share of jobs that end ``failed``.
        display_name: the catalog's name; made from the id when not given.
        cost_usd: the price reported by ``?include_cost=true`` for a successful job.
        render: how images are drawn: ``"generate"`` (prompt on a palette, sized by
            ``aspect_ratio`` or ``width``/``height``), ``"edit"`` (only the mask's black area
            of ``image`` changes) or ``"reframe"`` (``image`` centred on a ``resolution``
            canvas).
        sizes: output size per ``aspect_ratio`` label for ``"generate"``.
    """

    model_id: str = attrs.field(validator=_model_id)
    input_schema: Mapping[str, Any] = attrs.field(validator=_mapping)
    output_kind: OutputKind = attrs.field(
        default="image", validator=attrs.validators.in_(("image", "images", "video"))
    )
    images_per_job: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    median_s: float = attrs.field(default=0.0, validator=_non_negative)
    sigma: float = attrs.field(default=0.0, validator=_non_negative)
    failure_rate: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    display_name: str = attrs.field(
        default=attrs.Factory(_display_name, takes_self=True), kw_only=True
    )
    cost_usd: float = attrs.field(default=DEFAULT_COST_USD, validator=_non_negative, kw_only=True)
    render: RenderKind = attrs.field(
        default="generate",
        validator=attrs.validators.in_(("generate", "edit", "reframe")),
        kw_only=True,
    )
    sizes: Mapping[str, tuple[int, int]] = attrs.field(factory=dict, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.images_per_job > 1 and self.output_kind != "images":
            raise ValueError("images_per_job > 1 needs output_kind='images'")


def _image_fields(schema: Mapping[str, Any]) -> tuple[str, ...]:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    names = [*properties, *(name for name in schema.get("required", ()) if name not in properties)]
    return tuple(
        name
        for name in names
        if name.endswith(IMAGE_NAME_ENDINGS)
        or (
            isinstance(properties.get(name), Mapping)
            and properties[name].get("format") in IMAGE_FORMATS
        )
    )


def _validation_detail(error: jsonschema.ValidationError) -> list[dict[str, Any]]:
    path = list(error.absolute_path)
    instance = error.instance
    required = error.validator_value
    if (
        error.validator == "required"
        and isinstance(instance, Mapping)
        and isinstance(required, list)
    ):
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


@attrs.frozen
class RegisteredModel:
    """A model spec with what the sandbox precomputes for it: validator, image fields, JSON."""

    spec: ModelSpec
    validator: Validator
    image_fields: tuple[str, ...]
    summary: Mapping[str, Any]
    detail: Mapping[str, Any]

    def problems(self, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One ``{loc, msg, type}`` per failing field, sorted by location; empty when valid."""
        detail = [
            item
            for error in self.validator.iter_errors(payload)
            for item in _validation_detail(error)
        ]
        detail.sort(key=lambda item: [str(part) for part in item["loc"]])
        return detail


def _read_schema(name: str) -> dict[str, Any]:
    text = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER).joinpath(name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def ideogram_specs() -> list[ModelSpec]:
    """The four Ideogram models, from the bundled schemas."""
    specs = []
    for file_name, output_kind, render, median_s, cost_usd in IDEOGRAM_FILES:
        schema = _read_schema(file_name)
        model_id = schema["x-model-id"]
        specs.append(
            ModelSpec(
                model_id,
                schema,
                output_kind=output_kind,
                median_s=median_s,
                sigma=IDEOGRAM_SIGMA,
                display_name=" ".join(
                    part.replace("-", " ").title() for part in model_id.split("/")[1:]
                ),
                cost_usd=cost_usd,
                render=render,
                sizes=SIZES_BY_MODEL.get(model_id, {}),
            )
        )
    return specs


class ModelRegistry:
    """The served models by id, with the catalog's search and paging."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._models: dict[str, RegisteredModel] = {}
        self._output_schema: Mapping[str, Any] = _read_schema(OUTPUT_SCHEMA_FILE)["output"]
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModelSpec) -> None:
        """Serve `spec`, replacing any model with the same id."""
        summary = {
            "model_id": spec.model_id,
            "display_name": spec.display_name,
            "output_type": spec.output_kind,
        }
        self._models[spec.model_id] = RegisteredModel(
            spec=spec,
            validator=_SchemaValidator(dict(spec.input_schema)),
            image_fields=_image_fields(spec.input_schema),
            summary=summary,
            detail={
                **summary,
                "input_schema": spec.input_schema,
                "output_schema": self._output_schema,
            },
        )

    def get(self, model_id: str) -> RegisteredModel | None:
        """The model with this id, or None."""
        return self._models.get(model_id)

    def specs(self) -> dict[str, ModelSpec]:
        """A copy of the served specs by id."""
        return {model_id: model.spec for model_id, model in self._models.items()}

    def catalog(self, *, limit: int, offset: int, search: str) -> tuple[list[Any], int]:
        """One page of summaries sorted by id, and how many matched `search` in all."""
        needle = search.casefold()
        matching = [
            model.summary
            for model_id, model in sorted(self._models.items())
            if needle in model_id.casefold() or needle in model.spec.display_name.casefold()
        ]
        return matching[offset : offset + min(limit, CATALOG_MAX_LIMIT)], len(matching)
