"""The API's answers as JSON, and its error bodies ``{error_code, error_message, detail?}``."""

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
            400004, which RunComfy answers with HTTP 400).
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

    def response(self) -> web.Response:
        """The JSON answer for this error."""
        body: dict[str, Any] = {"error_code": self.error_code, "error_message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return json_response(self.status, body)


def token_missing(message: str = "token missing") -> ApiError:
    """400004: no usable bearer token (also said for an expired or revoked one)."""
    return ApiError(400, 400004, message)


def unauthorized() -> ApiError:
    """401001: a token the service does not know."""
    return ApiError(401, 401001, "unauthorized")


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
