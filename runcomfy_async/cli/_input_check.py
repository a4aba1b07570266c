"""Checking every input of a batch against its model's schema before anything is sent.

A batch of thousands of paid jobs should not stop at line 2,417 because of a typo: every
line is checked first, and every problem is listed with its line number. The schemas come
from the package for the four Ideogram models (no request needed, so a file can be checked
even when the service is down) and from the service's catalog for any other model.

Beyond the schema, a field the model does not have is refused, with the nearest field name
(``sed: ... did you mean 'seed'?``): the service ignores a misspelled optional field, and a
batch would pay for thousands of images without it. ``--allow-unknown-fields`` sends such
fields anyway. The library's check refuses them only when a schema says
``additionalProperties: false``, which RunComfy's do not.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._constants import DID_YOU_MEAN_CUTOFF, FIELD_NAMES_SHOWN
from ..api._catalog import ModelCatalog
from ..api._schema_check import bundled_schema, validate_payload
from ..core._errors import (
    APIError,
    InputProblem,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
)
from ..core._inputs import check_model_id
from ._input_files import InputLine, type_cells

__all__ = [
    "ALLOW_UNKNOWN_FLAG",
    "BatchInput",
    "CheckedInputs",
    "LineProblem",
    "ModelSchemas",
    "check_inputs",
    "check_line",
    "check_payload",
    "unknown_fields",
]

ALLOW_UNKNOWN_FLAG = "--allow-unknown-fields"


@attrs.frozen
class BatchInput:
    """An input that passed every check, ready to be submitted."""

    line: int
    model_id: str
    payload: dict[str, Any]


@attrs.frozen
class LineProblem:
    """One thing wrong with one line of the input file."""

    line: int
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}"


@attrs.frozen
class CheckedInputs:
    """The inputs that may be sent, and the problems of the others, in file order."""

    valid: tuple[BatchInput, ...]
    problems: tuple[LineProblem, ...]

    @property
    def bad_lines(self) -> int:
        """How many lines have at least one problem."""
        return len({problem.line for problem in self.problems})


class ModelSchemas:
    """Input schemas by model id: bundled for the Ideogram models, else from the catalog.

    Each model is looked up once, its failure included: a file of thousands of lines naming
    an unknown model costs one request, not thousands.

    Args:
        catalog: the client's model catalog.
    """

    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog
        self._known: dict[str, Mapping[str, Any] | APIError] = {}

    async def get(self, model_id: str) -> Mapping[str, Any]:
        """The model's input schema.

        Raises:
            NotFoundError, InvalidRequestError: the service does not know the model.
            APIError, TransportError: the catalog could not be asked.
        """
        known = self._known.get(model_id)
        if known is None:
            try:
                known = bundled_schema(model_id) or await self._catalog.schema_for(model_id)
            except (NotFoundError, InvalidRequestError) as exc:
                known = exc
            self._known[model_id] = known
        if isinstance(known, APIError):
            raise known
        return known


async def check_inputs(
    lines: Sequence[InputLine],
    *,
    default_model: str | None,
    schemas: ModelSchemas,
    allow_unknown_fields: bool = False,
) -> CheckedInputs:
    """Check every line: readable, a model named, the model known, the input valid for it.

    Args:
        lines: the input file's lines.
        default_model: ``--model``, for lines that name none.
        schemas: where input schemas come from.
        allow_unknown_fields: send fields the model's schema does not name.

    Raises:
        APIError, TransportError: a schema could not be fetched for a reason other than an
            unknown model (the service is down, the token is wrong).
    """
    valid: list[BatchInput] = []
    problems: list[LineProblem] = []
    for line in lines:
        checked = await check_line(
            line,
            default_model=default_model,
            schemas=schemas,
            allow_unknown_fields=allow_unknown_fields,
        )
        if isinstance(checked, BatchInput):
            valid.append(checked)
        else:
            problems.extend(checked)
    return CheckedInputs(valid=tuple(valid), problems=tuple(problems))


async def check_line(
    line: InputLine,
    *,
    default_model: str | None,
    schemas: ModelSchemas,
    allow_unknown_fields: bool = False,
) -> BatchInput | list[LineProblem]:
    """One line checked: the input ready to send, or every problem it has.

    Raises:
        APIError, TransportError: as :func:`check_inputs`.
    """
    if line.problem is not None or line.payload is None:
        return [LineProblem(line.line, line.problem or "unreadable")]
    model_id = line.model_id or default_model
    if model_id is None:
        return [
            LineProblem(line.line, "no model: pass --model MODEL_ID, or give the line a model_id")
        ]
    try:
        check_model_id(model_id)
        schema = await schemas.get(model_id)
    except InvalidInputError as exc:
        return [LineProblem(line.line, str(problem)) for problem in exc.problems]
    except (NotFoundError, InvalidRequestError) as exc:
        return [LineProblem(line.line, f"unknown model {model_id!r}: {exc.message}")]
    payload = type_cells(line.payload, schema) if line.text_cells else line.payload
    try:
        check_payload(model_id, payload, schema, allow_unknown_fields=allow_unknown_fields)
    except InvalidInputError as exc:
        return [LineProblem(line.line, str(problem)) for problem in exc.problems]
    return BatchInput(line.line, model_id, payload)


def check_payload(
    model_id: str,
    payload: Mapping[str, Any],
    schema: Mapping[str, Any],
    *,
    allow_unknown_fields: bool = False,
) -> None:
    """Check an input against its model's schema, and for fields the model does not have.

    Raises:
        InvalidInputError: every problem, the schema's and the unknown fields' together.
        MalformedResponseError: the schema cannot be evaluated.
    """
    problems: list[InputProblem] = []
    try:
        validate_payload(model_id, payload, schema)
    except InvalidInputError as exc:
        problems.extend(exc.problems)
    if not allow_unknown_fields:
        problems.extend(unknown_fields(payload, schema))
    if problems:
        raise InvalidInputError(problems, model_id=model_id)


def unknown_fields(payload: Mapping[str, Any], schema: Mapping[str, Any]) -> list[InputProblem]:
    """A problem for each top-level field of ``payload`` that the schema does not name, with
    the nearest name it does; none when the schema names no fields or admits others.

    Args:
        payload: the input.
        schema: the model's input JSON Schema.
    """
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    # Explicitly open (true, or a schema for the others), or closed (false: the schema
    # check already refuses them), or fields by pattern: the schema has the last word.
    if not isinstance(properties, Mapping) or extra is not None or "patternProperties" in schema:
        return []
    known = [str(name) for name in properties]
    problems = []
    for name, value in payload.items():
        if name in properties:
            continue
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=DID_YOU_MEAN_CUTOFF)
        if close:
            allowed = f"not a field of this model: did you mean {close[0]!r}?"
        else:
            shown = ", ".join(known[:FIELD_NAMES_SHOWN])
            more = ", …" if len(known) > FIELD_NAMES_SHOWN else ""
            allowed = f"not a field of this model (its fields: {shown}{more})"
        problems.append(
            InputProblem(str(name), value, f"{allowed} ({ALLOW_UNKNOWN_FLAG} sends it anyway)")
        )
    return problems
