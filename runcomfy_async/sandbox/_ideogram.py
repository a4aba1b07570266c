"""The four Ideogram models, as the sandbox imitates them.

They are built from the JSON schemas bundled with the package (the same data the client
reads; only data is shared, never code).

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
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._images import IMAGE_NAME_ENDINGS, IMAGE_URI_FORMAT
from ._models import ModelSpec, OutputKind, RenderKind
from ._schemas import read_bundled_schema

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
SIZES_BY_MODEL: Final[Mapping[str, Mapping[str, tuple[int, int]]]] = {
    "ideogram/ideogram-v3/text-to-image": V3_SIZES,
    "ideogram/ideogram-v2/generate": V2_SIZES,
}


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
        schema = served_schema(read_bundled_schema(model.file_name))
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
