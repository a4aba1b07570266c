"""How an input names its model, and the checks every submit makes before sending.

A submit takes either ``(model_id, mapping)`` or a typed input object that knows its own
model id (see :mod:`runcomfy_async.ideogram`). Both end up as ``(model_id, payload dict)``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from ._errors import InputProblem, InvalidInputError

__all__ = ["ModelInput", "check_model_id", "check_request_id", "resolve_input"]

# Two or more segments of letters, digits, dots, dashes and underscores: enough for every
# model id RunComfy lists, and nothing that could change the meaning of the URL path.
_MODEL_ID = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+$")
# Request ids are opaque; this keeps them to what can sit in one URL path segment.
# The request ids RunComfy documents (UUIDs in practice). Checked in this one place before an
# id goes into a URL path, whoever gave it: a caller, a journal, or a server's answer.
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@runtime_checkable
class ModelInput(Protocol):
    """A typed input that knows which model it is for."""

    model_id: ClassVar[str]

    def to_payload(self) -> dict[str, Any]:
        """The JSON object to send as the submit body."""
        ...


@functools.lru_cache(maxsize=1024)
def _valid_model_id(model_id: str) -> bool:
    return bool(_MODEL_ID.match(model_id)) and ".." not in model_id


def check_model_id(model_id: object) -> str:
    """The model id, or InvalidInputError saying what a model id looks like."""
    if isinstance(model_id, str) and _valid_model_id(model_id):
        return model_id
    if not isinstance(model_id, str) or not _MODEL_ID.match(model_id) or ".." in model_id:
        raise InvalidInputError(
            [
                InputProblem(
                    "model_id",
                    model_id,
                    "a model id of two or more '/'-separated segments of letters, digits, "
                    "'.', '-' or '_', e.g. 'ideogram/ideogram-v3/text-to-image'",
                )
            ]
        )
    return model_id


def check_request_id(request_id: object) -> str:
    """The request id, or InvalidInputError (it must fit in one URL path segment)."""
    # fullmatch: `$` would also accept a trailing newline.
    if isinstance(request_id, str) and _REQUEST_ID.fullmatch(request_id):
        return request_id
    raise InvalidInputError(
        [
            InputProblem(
                "request_id",
                request_id,
                "1 to 128 characters of letters, digits, '_' and '-'",
            )
        ]
    )


def resolve_input(
    model: str | ModelInput | None, payload: Mapping[str, Any] | ModelInput | None
) -> tuple[str, dict[str, Any]]:
    """``(model_id, payload)`` from the forms a submit accepts.

    Accepted: ``(model_id, mapping)``, ``(typed_input, None)``, ``(None, typed_input)`` and
    ``(model_id, typed_input)`` when the ids agree.
    """
    if (
        isinstance(model, str)
        and isinstance(payload, dict)
        and all(isinstance(key, str) for key in payload)
    ):
        # The common case, first: isinstance() against a runtime Protocol is slow, and a
        # batch resolves every one of its inputs here.
        return check_model_id(model), dict(payload)
    if isinstance(model, ModelInput) and not isinstance(model, str):
        if payload is not None:
            raise TypeError("pass a typed input alone, without a second input argument")
        return check_model_id(model.model_id), model.to_payload()
    if isinstance(payload, ModelInput) and not isinstance(payload, Mapping):
        if model is not None and model != payload.model_id:
            raise InvalidInputError(
                [
                    InputProblem(
                        "model_id",
                        model,
                        f"the typed input is for {payload.model_id!r}; pass that id or none",
                    )
                ]
            )
        return check_model_id(payload.model_id), payload.to_payload()
    if model is None:
        raise InvalidInputError(
            [InputProblem("model_id", None, "a model id, or a typed input that knows its own")]
        )
    model_id = check_model_id(model)
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise InvalidInputError(
            [InputProblem("input", payload, "a JSON object (a mapping) or a typed input")],
            model_id=model_id,
        )
    for key in payload:
        if not isinstance(key, str):
            raise InvalidInputError(
                [InputProblem(f"input[{key!r}]", key, "field names must be strings")],
                model_id=model_id,
            )
    return model_id, dict(payload)
