"""The model catalog: which models RunComfy serves, and each one's input schema.

``GET /models`` lists models a page at a time (``{models: [...], total}``);
``GET /models/{model_id}`` describes one, with its ``input_schema``. A
:class:`ModelCatalog` reads both through a ``get_json`` callable that the client's
transport supplies (auth, retries and error mapping live there), and keeps each model it
fetched for its own lifetime, because a batch checks thousands of inputs against the same
schema. Concurrent requests for the same model share one request.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import anyio

from .._constants import CATALOG_PAGE_SIZE
from ..core._errors import InputProblem, InvalidInputError, MalformedResponseError
from ..core._identity import canonical_json
from ..core._inputs import check_model_id
from ..core._parse import parse_model_info
from ..core._text import quote_body
from ..core._wire import ModelInfo

__all__ = ["GetJson", "ModelCatalog"]


GetJson: TypeAlias = Callable[[str, Mapping[str, str] | None, str | None], Awaitable[object]]
"""``get_json(path, params, model_id)``: GET a path relative to the base URL, answer parsed
as JSON; ``model_id`` is the model the call is about (its errors name it), None for a list."""


class ModelCatalog:
    """The models RunComfy serves, fetched on demand and kept per catalog.

    Args:
        get_json: ``await get_json(path, params, model_id)`` GETs ``path`` (relative to
            the base URL, e.g. ``"/models"``) with query ``params`` and returns the parsed
            JSON answer; it raises the library's errors for failed requests, naming
            ``model_id`` (the model asked about, or None when listing) in them.
    """

    def __init__(self, get_json: GetJson) -> None:
        self._get_json = get_json
        self._models: dict[str, ModelInfo] = {}
        self._fetching: dict[str, anyio.Lock] = {}

    def __repr__(self) -> str:
        return f"<ModelCatalog with {len(self._models)} models fetched>"

    async def list(
        self, *, search: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> builtins.list[ModelInfo]:
        """The models in the catalog, in the server's order.

        Without ``limit``, pages through the whole catalog. List entries may leave out the
        input schema; :meth:`get` has it.

        Args:
            search: only models matching this text (the server decides how).
            limit: at most this many models.
            offset: skip this many models first.

        Raises:
            InvalidInputError: a negative or non-integer ``limit`` or ``offset``.
            MalformedResponseError: an answer of the wrong shape.
        """
        _check_count("limit", limit)
        _check_count("offset", offset)
        models: builtins.list[ModelInfo] = []
        seen: set[str] = set()
        position = offset or 0
        while limit is None or len(models) < limit:
            wanted = (
                CATALOG_PAGE_SIZE if limit is None else min(CATALOG_PAGE_SIZE, limit - len(models))
            )
            params = {"limit": str(wanted), "offset": str(position)}
            if search is not None:
                params["search"] = search
            page, total = _parse_page(await self._get_json("/models", params, None))
            fresh = [model for model in page if model.model_id not in seen]
            # A server that ignores offset repeats its first page: stop rather than loop.
            if not fresh:
                break
            models.extend(fresh)
            seen.update(model.model_id for model in fresh)
            position += len(page)
            if total is not None and position >= total:
                break
        return models if limit is None else models[:limit]

    async def get(self, model_id: str) -> ModelInfo:
        """One model, with its input schema; fetched once per catalog.

        Args:
            model_id: e.g. ``"ideogram/ideogram-v3/text-to-image"``.

        Raises:
            InvalidInputError: ``model_id`` is not a model id.
            MalformedResponseError: an answer of the wrong shape.
        """
        check_model_id(model_id)
        known = self._models.get(model_id)
        if known is not None:
            return known
        # One lock per id: the first caller fetches, the others wait and find it cached.
        lock = self._fetching.setdefault(model_id, anyio.Lock())
        async with lock:
            known = self._models.get(model_id)
            if known is None:
                body = await self._get_json(f"/models/{model_id}", None, model_id)
                known = parse_model_info(body, model_id=model_id)
                self._models[model_id] = known
        return known

    async def schema_for(self, model_id: str) -> Mapping[str, Any]:
        """A model's input JSON Schema, for :func:`~runcomfy_async._schema_check.validate_payload`.

        Args:
            model_id: e.g. ``"ideogram/ideogram-v3/text-to-image"``.

        Raises:
            InvalidInputError: ``model_id`` is not a model id.
            MalformedResponseError: the answer has no input schema, or is of the wrong shape.
        """
        info = await self.get(model_id)
        if info.input_schema is None:
            raise MalformedResponseError(
                f"the catalog entry of {model_id} has no input_schema: "
                f"{quote_body(canonical_json(info.raw))}",
                model_id=model_id,
            )
        return info.input_schema


def _check_count(name: str, value: object) -> None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return
    raise InvalidInputError([InputProblem(name, value, "an integer of at least 0")])


def _parse_page(body: object) -> tuple[list[ModelInfo], int | None]:
    """The models of one catalog page, and the catalog's total when the answer gives it."""
    if not isinstance(body, Mapping) or not isinstance(body.get("models"), list):
        raise MalformedResponseError(
            f"expected a catalog page {{models: [...], total}}: {quote_body(_text(body))}"
        )
    total = body.get("total")
    known_total = total if isinstance(total, int) and not isinstance(total, bool) else None
    return [parse_model_info(entry) for entry in body["models"]], known_total


def _text(body: object) -> str:
    try:
        return canonical_json(body)
    except (TypeError, ValueError):
        return repr(body)
