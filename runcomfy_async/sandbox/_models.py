"""The models the sandbox serves: their specs, prices, input validation and catalog entries.

The four Ideogram models are built from the JSON schemas bundled with the package (the same
data the client reads; only data is shared, never code). Any other model id can be registered
with a `ModelSpec` for generic tests, with its own price, unit and note.

A catalog entry carries what RunComfy's own clients read from ``GET /models`` and
``GET /models/{id}``: ``model_id``, ``display_name``, ``categories`` (``text-to-image``,
``image-to-video``...: the partner nodes derive the output type from the ending),
``kind`` (``model``, ``workflow`` or ``inference``), ``base_price_usd`` (a JSON number),
``price_unit`` (``output`` or ``second``), ``pricing_note``, and ``output_type`` (the
sandbox's own: ``image``, ``images`` or ``video``, the key the output comes under). The
one-model answer always adds ``input_schema`` and ``output_schema``; the list adds them only
with ``include_schema=true``, which is why the official CLI has that flag.

Served Ideogram schemas are the bundled ones with what the live catalog adds (seen in the
partner nodes' saved catalog, ``runcomfy/models.json``): media fields carry
``"format": "image_uri"``, and the edit model's ``mask``, required but left out of the
published properties, is listed as the image URL it is.

Prices of the Ideogram models (USD). RunComfy's own per-model prices are not public in a form
the sandbox could read, so these are inferred from Ideogram's API price list (per output
image, the same for Generate, Edit and Reframe: 3.0 Turbo $0.03, 3.0 Default/Balanced $0.06,
3.0 Quality $0.09; 2.0 $0.08), as repeated by hosts of the same models (fal, Replicate,
Runflow "$0.06/image, Balanced (default)"). The sandbox bills every v3 job at the BALANCED
rate whatever its ``rendering_speed``, and says so in ``pricing_note``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Final, Literal, cast

import attrs
import jsonschema.validators
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

OutputKind = Literal["image", "images", "video"]
RenderKind = Literal["generate", "edit", "reframe"]
PriceUnit = Literal["output", "second"]
ModelKind = Literal["model", "workflow", "inference"]

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

# --- Ideogram run times (inferred from the hosts' pages; the sandbox's guesses) ---------------
IDEOGRAM_SIGMA: Final = 0.35
V3_TEXT_TO_IMAGE_MEDIAN_S: Final = 8.0
V3_EDIT_MEDIAN_S: Final = 10.0
V3_REFRAME_MEDIAN_S: Final = 9.0
V2_GENERATE_MEDIAN_S: Final = 6.0

# --- Prices, per output image (see the module docstring for where the figures come from) ------
V3_PRICE_USD: Final = 0.06
V2_PRICE_USD: Final = 0.08
V3_PRICING_NOTE: Final = (
    "Per output image, at Ideogram's BALANCED rate (TURBO $0.03, QUALITY $0.09 at Ideogram; "
    "the sandbox bills every rendering speed at $0.06). Inferred from Ideogram's API prices."
)
V2_PRICING_NOTE: Final = (
    "Per output image, at Ideogram 2.0's rate. Inferred from Ideogram's API prices."
)
DEFAULT_PRICE_USD: Final = 0.01
# A cost is rounded to this many decimals so that 3 x $0.06 reads 0.18, not 0.18000000000000002.
COST_DECIMALS: Final = 6

SCHEMA_PACKAGE: Final = "runcomfy_async"
SCHEMA_FOLDER: Final = "schemas"
OUTPUT_SCHEMA_FILE: Final = "output.json"


@attrs.frozen
class _IdeogramModel:
    """How the sandbox imitates one Ideogram model."""

    file_name: str
    output_kind: OutputKind
    render: RenderKind
    median_s: float
    category: str
    price_usd: float
    pricing_note: str


# The bundled input schemas, and how the sandbox imitates each model. Output shapes differ on
# purpose (v3 text-to-image and edit answer {"images": [url]}, reframe and v2 {"image": url}):
# a client that reads only one key is caught.
IDEOGRAM_MODELS: Final = (
    _IdeogramModel(
        "ideogram-v3-text-to-image.input.json",
        "images",
        "generate",
        V3_TEXT_TO_IMAGE_MEDIAN_S,
        "text-to-image",
        V3_PRICE_USD,
        V3_PRICING_NOTE,
    ),
    _IdeogramModel(
        "ideogram-v3-edit.input.json",
        "images",
        "edit",
        V3_EDIT_MEDIAN_S,
        "image-to-image",
        V3_PRICE_USD,
        V3_PRICING_NOTE,
    ),
    _IdeogramModel(
        "ideogram-v3-reframe.input.json",
        "image",
        "reframe",
        V3_REFRAME_MEDIAN_S,
        "image-to-image",
        V3_PRICE_USD,
        V3_PRICING_NOTE,
    ),
    _IdeogramModel(
        "ideogram-v2-generate.input.json",
        "image",
        "generate",
        V2_GENERATE_MEDIAN_S,
        "text-to-image",
        V2_PRICE_USD,
        V2_PRICING_NOTE,
    ),
)
# The format the live catalog gives an image field (the partner nodes' saved catalog).
IMAGE_URI_FORMAT: Final = "image_uri"
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


def _categories(spec: ModelSpec) -> tuple[str, ...]:
    return ("text-to-video",) if spec.output_kind == "video" else ("text-to-image",)


def _category_tuple(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError("categories is a list of strings, not one string")
    return tuple(values)


def _non_empty_strings(
    _instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if not value or any(not isinstance(item, str) or not item for item in value):
        raise ValueError(f"{attribute.name} must be non-empty strings, got {value!r}")


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
        base_price_usd: the catalog's price, per ``price_unit``.
        price_unit: ``"output"`` (a succeeded job costs its number of output files times the
            price) or ``"second"`` (its drawn run time, in model seconds, times the price).
        pricing_note: the catalog's free-text note on the price.
        categories: the catalog's categories (``"text-to-image"``...); by default
            ``text-to-video`` for a video model, ``text-to-image`` otherwise.
        kind: the catalog's kind: ``"model"``, ``"workflow"`` or ``"inference"``.
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
    base_price_usd: float = attrs.field(
        default=DEFAULT_PRICE_USD, validator=_non_negative, kw_only=True
    )
    price_unit: PriceUnit = attrs.field(
        default="output", validator=attrs.validators.in_(("output", "second")), kw_only=True
    )
    pricing_note: str = attrs.field(
        default="", validator=attrs.validators.instance_of(str), kw_only=True
    )
    categories: tuple[str, ...] = attrs.field(
        default=attrs.Factory(_categories, takes_self=True),
        converter=_category_tuple,
        validator=_non_empty_strings,
        kw_only=True,
    )
    kind: ModelKind = attrs.field(
        default="model",
        validator=attrs.validators.in_(("model", "workflow", "inference")),
        kw_only=True,
    )
    render: RenderKind = attrs.field(
        default="generate",
        validator=attrs.validators.in_(("generate", "edit", "reframe")),
        kw_only=True,
    )
    sizes: Mapping[str, tuple[int, int]] = attrs.field(factory=dict, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.images_per_job > 1 and self.output_kind != "images":
            raise ValueError("images_per_job > 1 needs output_kind='images'")

    @property
    def outputs_per_job(self) -> int:
        """How many files a succeeded job answers."""
        return self.images_per_job if self.output_kind == "images" else 1

    def cost_usd(self, run_s: float) -> float:
        """What a succeeded job costs: per output file, or per model second of `run_s`."""
        units = self.outputs_per_job if self.price_unit == "output" else run_s
        return round(units * self.base_price_usd, COST_DECIMALS)


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
        # jsonschema yields one "required" error per missing field, each carrying the whole
        # list: `problems` keeps one item per location.
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
        """One ``{loc, msg, type}`` per failing field and kind of failure, sorted by
        location; empty when valid."""
        detail: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
        for error in self.validator.iter_errors(payload):
            for item in _validation_detail(error):
                key = (tuple(str(part) for part in item["loc"]), item["type"])
                detail.setdefault(key, item)
        return [detail[key] for key in sorted(detail)]


def _read_schema(name: str) -> dict[str, Any]:
    text = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FOLDER).joinpath(name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def served_schema(bundled: Mapping[str, Any]) -> dict[str, Any]:
    """A bundled Ideogram schema as the live catalog serves it: image fields formatted
    ``image_uri``, and a required image field missing from the properties (edit's ``mask``)
    listed as a string."""
    schema = copy.deepcopy(dict(bundled))
    properties: dict[str, Any] = schema.setdefault("properties", {})
    for name in schema.get("required", ()):
        if name not in properties and name.endswith(IMAGE_NAME_ENDINGS):
            properties[name] = {"title": name.title(), "description": "", "type": "string"}
    for name, field in properties.items():
        if name.endswith(IMAGE_NAME_ENDINGS) and isinstance(field, dict):
            field.setdefault("format", IMAGE_URI_FORMAT)
    return schema


def ideogram_specs() -> list[ModelSpec]:
    """The four Ideogram models, from the bundled schemas."""
    specs = []
    for model in IDEOGRAM_MODELS:
        schema = served_schema(_read_schema(model.file_name))
        model_id = schema["x-model-id"]
        specs.append(
            ModelSpec(
                model_id,
                schema,
                output_kind=model.output_kind,
                median_s=model.median_s,
                sigma=IDEOGRAM_SIGMA,
                display_name=" ".join(
                    part.replace("-", " ").title() for part in model_id.split("/")[1:]
                ),
                base_price_usd=model.price_usd,
                price_unit="output",
                pricing_note=model.pricing_note,
                categories=(model.category,),
                render=model.render,
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
            "categories": list(spec.categories),
            "kind": spec.kind,
            "base_price_usd": spec.base_price_usd,
            "price_unit": spec.price_unit,
            "pricing_note": spec.pricing_note,
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

    def catalog(
        self,
        *,
        limit: int,
        offset: int,
        search: str = "",
        category: str = "",
        kind: str = "",
        include_schema: bool = False,
    ) -> tuple[list[Any], int]:
        """One page of entries sorted by id, and how many matched in all.

        Args:
            limit, offset: the page.
            search: a substring of the id or the display name, ignoring case.
            category: one of the model's categories, exactly.
            kind: the model's kind, exactly.
            include_schema: give whole entries (with the schemas) rather than summaries.
        """
        needle = search.casefold()
        matching = [
            model.detail if include_schema else model.summary
            for model_id, model in sorted(self._models.items())
            if (needle in model_id.casefold() or needle in model.spec.display_name.casefold())
            and (not category or category in model.spec.categories)
            and (not kind or kind == model.spec.kind)
        ]
        return matching[offset : offset + limit], len(matching)

    def categories(self) -> list[str]:
        """Every category of a served model, sorted, once each."""
        return sorted({name for model in self._models.values() for name in model.spec.categories})
