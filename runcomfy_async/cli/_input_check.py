"""Checking every input of a batch against its model's schema before anything is sent.

A batch of thousands of paid jobs should not stop at line 2,417 because of a typo: every
line is checked first, and every problem is listed with its line number. The schemas come
from the package for the four Ideogram models (no request needed, so a file can be checked
even when the service is down) and from the service's catalog for any other model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..api._catalog import ModelCatalog
from ..api._schema_check import bundled_schema, validate_payload
from ..core._errors import APIError, InvalidInputError, InvalidRequestError, NotFoundError
from ..core._inputs import check_model_id
from ._input_files import InputLine, type_cells

__all__ = ["BatchInput", "CheckedInputs", "LineProblem", "ModelSchemas", "check_inputs"]


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
    lines: Sequence[InputLine], *, default_model: str | None, schemas: ModelSchemas
) -> CheckedInputs:
    """Check every line: readable, a model named, the model known, the input valid for it.

    Args:
        lines: the input file's lines.
        default_model: ``--model``, for lines that name none.
        schemas: where input schemas come from.

    Raises:
        APIError, TransportError: a schema could not be fetched for a reason other than an
            unknown model (the service is down, the token is wrong).
    """
    valid: list[BatchInput] = []
    problems: list[LineProblem] = []
    for line in lines:
        if line.problem is not None or line.payload is None:
            problems.append(LineProblem(line.line, line.problem or "unreadable"))
            continue
        model_id = line.model_id or default_model
        if model_id is None:
            problems.append(
                LineProblem(line.line, "no model: pass --model MODEL_ID, or give the line a "
                            "model_id")
            )
            continue
        try:
            check_model_id(model_id)
            schema = await schemas.get(model_id)
        except InvalidInputError as exc:
            problems.extend(LineProblem(line.line, str(problem)) for problem in exc.problems)
            continue
        except (NotFoundError, InvalidRequestError) as exc:
            problems.append(LineProblem(line.line, f"unknown model {model_id!r}: {exc.message}"))
            continue
        payload = type_cells(line.payload, schema) if line.text_cells else line.payload
        try:
            validate_payload(model_id, payload, schema)
        except InvalidInputError as exc:
            problems.extend(LineProblem(line.line, str(problem)) for problem in exc.problems)
            continue
        valid.append(BatchInput(line.line, model_id, payload))
    return CheckedInputs(valid=tuple(valid), problems=tuple(problems))
