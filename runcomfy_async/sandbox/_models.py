"""`ModelSpec`: a model the sandbox serves, how it behaves and what it costs.

The four Ideogram models are specs built from the bundled schemas (`_ideogram`); any other
model id can be served with a `ModelSpec` for generic tests, with its own run time, failure
rate, output shape, price, unit and note. A spec is data, checked when it is built; what the
sandbox precomputes from it to serve it (validator, catalog entries) lives in `_catalog`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from ._checks import non_negative_finite, probability, whole_number

OutputKind = Literal["image", "images", "video"]
RenderKind = Literal["generate", "edit", "reframe"]
PriceUnit = Literal["output", "second"]
ModelKind = Literal["model", "workflow", "inference"]

DEFAULT_PRICE_USD: Final = 0.01
# A cost is rounded to this many decimals so that 3 x $0.06 reads 0.18, not 0.18000000000000002.
COST_DECIMALS: Final = 6


def _model_id(_instance: object, _attribute: object, value: str) -> None:
    parts = value.split("/") if isinstance(value, str) else []
    if len(parts) < 2 or any(not part or part != part.strip() for part in parts):
        raise ValueError(f"a model id has two or more non-empty '/' segments, got {value!r}")


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
    images_per_job: int = attrs.field(default=1, validator=whole_number(1))
    median_s: float = attrs.field(default=0.0, validator=non_negative_finite)
    sigma: float = attrs.field(default=0.0, validator=non_negative_finite)
    failure_rate: float = attrs.field(default=0.0, validator=probability)
    display_name: str = attrs.field(
        default=attrs.Factory(_display_name, takes_self=True), kw_only=True
    )
    base_price_usd: float = attrs.field(
        default=DEFAULT_PRICE_USD, validator=non_negative_finite, kw_only=True
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
