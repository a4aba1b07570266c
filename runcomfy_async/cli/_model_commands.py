"""``models list`` and ``models get MODEL_ID``: the catalog, and one model's input schema
laid out for reading: each field with its type, whether it is required, its default and
what it allows."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

from .._constants import SCHEMA_DEFAULT_CHARS
from ..api._schema_check import describe_schema
from ..core._text import shorten
from ..core._wire import ModelInfo
from ._connection import connect
from ._context import Context
from ._exit_codes import SUCCESS, UNAVAILABLE, CommandError

__all__ = ["models_get_command", "models_list_command", "schema_table"]


async def models_list_command(context: Context, args: argparse.Namespace) -> int:
    """``models list``: the models the service offers."""
    async with connect(context.service) as connection:
        models = await connection.client.models.list(search=args.search, limit=args.limit)
    if args.json:
        for model in models:
            context.streams.emit_json(dict(model.raw))
        return SUCCESS
    table = Table("model id", "name", "output", box=None, pad_edge=False)
    for model in models:
        cells = (model.model_id, model.display_name or "", str(model.raw.get("output_type", "")))
        table.add_row(*(Text(cell) for cell in cells))
    context.streams.out.print(table)
    context.streams.say(f"{len(models)} model{'s' if len(models) != 1 else ''}")
    return SUCCESS


async def models_get_command(context: Context, args: argparse.Namespace) -> int:
    """``models get MODEL_ID``: one model and its input fields."""
    async with connect(context.service) as connection:
        info = await connection.client.models.get(args.model_id)
    if args.json:
        context.streams.emit_json(dict(info.raw))
        return SUCCESS
    if info.input_schema is None:
        raise CommandError(f"the catalog gives no input schema for {info.model_id}", UNAVAILABLE)
    out = context.streams.out
    out.print(_title(info), markup=False)
    out.print(schema_table(info.input_schema))
    return SUCCESS


def _title(info: ModelInfo) -> str:
    return f"{info.model_id} ({info.display_name})" if info.display_name else info.model_id


def schema_table(schema: Mapping[str, Any]) -> Table:
    """A table of a schema's top-level fields: name, type, required, default, allowed.

    Args:
        schema: a model's input JSON Schema.
    """
    properties = schema.get("properties")
    required = set(schema.get("required") or ())
    table = Table("field", "type", "required", "default", "allowed", box=None, pad_edge=False)
    if not isinstance(properties, Mapping):
        return table
    for name, field in properties.items():
        field = field if isinstance(field, Mapping) else {}
        default = (
            _short(json.dumps(field["default"], ensure_ascii=False)) if "default" in field else ""
        )
        cells = (
            name,
            _type_name(field),
            "yes" if name in required else "",
            default,
            _allowed(field),
        )
        # Text, not str: a cell such as "[1, 2]" must not be read as rich markup.
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _allowed(field: Mapping[str, Any]) -> str:
    """What the field allows, unless that says no more than its type ("a string")."""
    described = describe_schema(field)
    return "" if described == describe_schema({"type": field.get("type")}) else described


def _type_name(field: Mapping[str, Any]) -> str:
    declared = field.get("type")
    if isinstance(declared, list):
        return " | ".join(str(name) for name in declared)
    if declared:
        return str(declared)
    return "enum" if "enum" in field else "any"


def _short(text: str) -> str:
    return shorten(text, SCHEMA_DEFAULT_CHARS)
