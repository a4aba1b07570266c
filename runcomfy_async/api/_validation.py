"""Checking an input against its model's schema before anything is sent.

The schema comes from the catalog (``GET /models/{id}``, cached per client); when the
catalog gives none, the schema bundled with this library is used for the models it knows.
jsonschema is imported only here, and only when a check is asked for: it is an extra
(``pip install 'runcomfy-async[validation]'``), and costs import time nobody else needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core._errors import ConfigurationError, MalformedResponseError
from ._catalog import ModelCatalog

__all__ = ["validate_input"]


async def validate_input(
    catalog: ModelCatalog, model_id: str, payload: Mapping[str, Any]
) -> None:
    """Check ``payload`` against ``model_id``'s schema.

    Raises:
        InvalidInputError: listing every problem (field path, value, what is allowed).
        ConfigurationError: jsonschema is not installed.
    """
    try:
        from ._schema_check import bundled_schema, require_jsonschema, validate_payload

        require_jsonschema()
    except ImportError:
        raise ConfigurationError(
            "validating inputs needs jsonschema: pip install 'runcomfy-async[validation]'"
        ) from None
    try:
        schema: Mapping[str, Any] = await catalog.schema_for(model_id)
    except MalformedResponseError:
        bundled = bundled_schema(model_id)
        if bundled is None:
            raise
        schema = bundled
    validate_payload(model_id, payload, schema)
