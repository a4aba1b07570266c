"""The catalog: the served models by id, with what RunComfy's clients read about each.

A catalog entry carries what RunComfy's own clients read from ``GET /models`` and
``GET /models/{id}``: ``model_id``, ``display_name``, ``categories`` (``text-to-image``,
``image-to-video``...: the partner nodes derive the output type from the ending),
``kind`` (``model``, ``workflow`` or ``inference``), ``base_price_usd`` (a JSON number),
``price_unit`` (``output`` or ``second``), ``pricing_note``, and ``output_type`` (the
sandbox's own: ``image``, ``images`` or ``video``, the key the output comes under). The
one-model answer always adds ``input_schema`` and ``output_schema``; the list adds them only
with ``include_schema=true``, which is why the official CLI has that flag.

Entries, the input validator and the list of image fields are computed once, when a model is
registered, so that the hot paths (submit, catalog pages) only look them up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from jsonschema.protocols import Validator

from ._images import image_fields
from ._input_validation import input_problems, input_validator
from ._models import ModelSpec
from ._schemas import output_schema


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
        return input_problems(self.validator, payload)


class ModelRegistry:
    """The served models by id, with the catalog's search and paging."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._models: dict[str, RegisteredModel] = {}
        self._output_schema: Mapping[str, Any] = output_schema()
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
            validator=input_validator(spec.input_schema),
            image_fields=image_fields(spec.input_schema),
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
