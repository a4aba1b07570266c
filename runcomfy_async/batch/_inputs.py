"""What one element of a batch's inputs means: which model, and which input.

Shared by the batch and by the estimate made before a batch (``client.estimate``), so that
both read the inputs the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core._errors import InputProblem, InvalidInputError
from ..core._inputs import ModelInput, check_model_id, resolve_input

__all__ = ["split_input"]


def split_input(model_id: str | None, given: Any) -> tuple[str, dict[str, Any]]:
    """``(model_id, payload)`` for one element of ``inputs``.

    With a model id for the batch, an element is its input (a mapping or a typed input);
    without one, a typed input (which knows its model) or a ``(model_id, input)`` pair.

    Raises:
        InvalidInputError: the element is none of those, or its input is not valid.
    """
    if model_id is not None and type(given) is dict:
        # The common case, a plain dict for the batch's model, as resolve_input would take
        # it (string keys, copied), without its checks of the forms a typed input takes.
        for key in given:
            if type(key) is not str:
                break
        else:
            return check_model_id(model_id), dict(given)
    try:
        model, payload = _split(model_id, given)
        return resolve_input(model, payload)
    except TypeError as exc:
        raise InvalidInputError([InputProblem("input", given, str(exc))]) from None


def _split(model_id: str | None, given: Any) -> tuple[Any, Any]:
    if model_id is not None and isinstance(given, dict):
        return model_id, given  # the common case, without Protocol checks
    if isinstance(given, ModelInput) and not isinstance(given, Mapping):
        return (given, None) if model_id is None else (model_id, given)
    if model_id is None and isinstance(given, tuple) and len(given) == 2 and isinstance(
        given[0], str
    ):
        return given[0], given[1]
    if model_id is None:
        raise InvalidInputError(
            [InputProblem("input", given, "with model_id=None, a typed input or a "
                          "(model_id, input) pair")]
        )
    return model_id, given
