"""The API's answers as JSON, and its error bodies ``{error_code, error_message, detail?}``.

Codes RunComfy documents: 400001, 400002, 400004, 403001 and 404001 (the Model API's error
page), 422001 and 500001 (its general pages). The others are the sandbox's, inferred: an error
RunComfy documents no code for takes its HTTP status followed by ``001`` (413001, 429001), or
by ``000`` when it is generic and ``001`` already names something specific for that status
(400000 a bad query parameter, 404000 a path outside the API, 405000 a method the path does
not take). 404000 is kept apart from 404001 on purpose: a client that reads 404001 concludes
its request id is gone, which a mistyped path must not make it believe.

HTTP statuses: the code's first three digits (inferred; RunComfy documents the codes, not the
statuses), except 400004 (HTTP 400: a token problem is a 400 code) and 400002, answered with
HTTP 402: RunComfy's partner nodes read insufficient balance from a 402 and from nothing else
(``runcomfy/client.py``), so 402 is what the service sends.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

JSON_TYPE: Final = "application/json"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """A compact JSON answer."""
    return web.Response(
        body=_encode(body).encode(), status=status, content_type=JSON_TYPE, headers=headers
    )


class ApiError(Exception):
    """An error answer: raised anywhere in a handler, turned into its JSON body.

    Args:
        status: the HTTP status.
        error_code: RunComfy's six-digit code (its first three digits are the status, except
            400002, answered with 402).
        message: a human sentence.
        detail: for 422001, one ``{loc, msg, type}`` per failing field.
    """

    def __init__(
        self, status: int, error_code: int, message: str, detail: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.detail = detail

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        """The JSON answer for this error."""
        body: dict[str, Any] = {"error_code": self.error_code, "error_message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return json_response(self.status, body, headers)


def token_missing(message: str = "token missing") -> ApiError:
    """400004: no usable bearer token: missing, unknown, expired or revoked (the Model API's
    error page gives them all this one code)."""
    return ApiError(400, 400004, message)


def insufficient_balance(balance_usd: float) -> ApiError:
    """400002 with HTTP 402: the account's spend has reached its balance."""
    return ApiError(402, 400002, f"insufficient balance: the account's ${balance_usd:g} is spent")


def bad_parameter(name: str, message: str) -> ApiError:
    """400000: a query parameter out of range (``detail`` names it)."""
    return ApiError(
        400,
        400000,
        f"invalid query parameter {name!r}: {message}",
        [{"loc": [name], "msg": message, "type": "query_parameter"}],
    )


def outside_api(method: str, path: str, allowed: frozenset[str]) -> ApiError:
    """404000 (no such path) or 405000 (the path exists, the method does not)."""
    if allowed:
        return ApiError(
            405,
            405000,
            f"method {method} not allowed on {path}; allowed: " + ", ".join(sorted(allowed)),
        )
    return ApiError(404, 404000, f"no such path: {path}")


def unknown_model(model_id: str) -> ApiError:
    """400001: no model with this id."""
    return ApiError(400, 400001, f"unknown model_id: {model_id!r}")


def not_yours() -> ApiError:
    """403001: the request id belongs to another token."""
    return ApiError(403, 403001, "the request belongs to another user")


def unknown_request(request_id: str) -> ApiError:
    """404001: an unknown, deleted or expired request id."""
    return ApiError(404, 404001, f"request {request_id!r} not found, deleted or expired")


def invalid_input(detail: list[Any]) -> ApiError:
    """422001: the input does not match the model's schema."""
    return ApiError(422, 422001, "input does not match the model's schema", detail)


def too_large(limit: int) -> ApiError:
    """413001: the body is over the cap.

    The code is inferred (RunComfy documents the 64 MiB cap, not the answer): 413 followed by
    001, after the pattern of its other codes.
    """
    return ApiError(413, 413001, f"request body larger than {limit} bytes")
