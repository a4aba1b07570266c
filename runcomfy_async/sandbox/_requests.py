"""Reading what a request to the API sends: the body under its cap, a JSON object, the
declared type, and query parameters in range. Each refusal is an `ApiError` naming what was
wrong.

Where the sandbox knowingly guesses at the service: a POST body with a ``Content-Type`` that
is not JSON is refused with 422001, its ``detail`` saying the body must be JSON; a body
without ``Content-Type`` is read as JSON. Inferred: RunComfy's validation errors (``detail`` as
``[{loc, msg, type}]``) are those of a FastAPI/pydantic service, which reads a JSON body only
under a JSON content type (or none) and refuses anything else as input that is not an object,
with 422.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from ._constants import BODY_READ_CHUNK_BYTES, CLIENT_MAX_SIZE_MARGIN_BYTES, MAX_REQUEST_BYTES
from ._http import bad_parameter, invalid_input, too_large

# Bodies read as JSON: no Content-Type at all, application/json, application/*+json.
JSON_SUBTYPE_SUFFIX: Final = "+json"
TRUE_WORDS: Final = frozenset({"true", "1", "yes"})


async def read_body(request: web.Request) -> bytes:
    """The body, or 413 when over the cap (read through so the client sees the answer)."""
    length = request.content_length
    if length is not None and length > MAX_REQUEST_BYTES:
        read = 0
        while read <= MAX_REQUEST_BYTES + CLIENT_MAX_SIZE_MARGIN_BYTES:
            chunk = await request.content.read(BODY_READ_CHUNK_BYTES)
            if not chunk:
                break
            read += len(chunk)
        raise too_large(MAX_REQUEST_BYTES)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(MAX_REQUEST_BYTES) from None
    if len(body) > MAX_REQUEST_BYTES:
        raise too_large(MAX_REQUEST_BYTES)
    return body


def check_json_type(request: web.Request) -> None:
    """Refuse a body declared as something other than JSON (see the module docstring)."""
    if "Content-Type" not in request.headers:
        return
    declared = request.content_type
    if declared == "application/json" or (
        declared.startswith("application/") and declared.endswith(JSON_SUBTYPE_SUFFIX)
    ):
        return
    raise invalid_input(
        [
            {
                "loc": [],
                "msg": f"the body must be JSON (Content-Type: application/json), not {declared}",
                "type": "content_type",
            }
        ]
    )


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 422001 saying it is not JSON or not an object."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise invalid_input(
            [{"loc": [], "msg": "the body is not valid JSON", "type": "json_invalid"}]
        ) from None
    if not isinstance(payload, dict):
        raise invalid_input(
            [{"loc": [], "msg": "the input must be a JSON object", "type": "object_type"}]
        )
    return payload


def query_int(
    request: web.Request, name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    """An integer query parameter from `minimum` to `maximum`, or 400000 naming it."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        wanted = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise bad_parameter(name, f"must be an integer {wanted}, got {raw!r}")
    return value


def query_flag(request: web.Request, name: str) -> bool:
    """Whether a yes/no query parameter says yes (``true``, ``1``, ``yes``, any case)."""
    return request.query.get(name, "").lower() in TRUE_WORDS
