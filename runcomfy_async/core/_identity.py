"""An input's identity: canonical JSON and its fingerprint.

The fingerprint finds a job whose submit outcome is unknown, and lets the journal notice that
the input at an index changed between runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_json", "fingerprint_of", "input_fingerprint"]


# One encoder for every call: json.dumps with options builds a new JSONEncoder each time,
# once per submit. The same options, so the same text as json.dumps gives.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: object) -> str:
    """Compact JSON with sorted keys: the same input always gives the same text."""
    return _CANONICAL.encode(value)


def input_fingerprint(model_id: str, payload: Mapping[str, Any]) -> str:
    """sha256 hex of the model id and the canonical input JSON.

    Used to find a job whose submit outcome is unknown, and by the journal to notice that
    the input at an index has changed between runs.
    """
    return fingerprint_of(model_id, canonical_json(payload).encode("utf-8"))


def fingerprint_of(model_id: str, canonical: bytes) -> str:
    """:func:`input_fingerprint` from the canonical JSON already encoded (a submit's body is
    that JSON: a payload of megabytes is encoded once, not once per use)."""
    digest = hashlib.sha256()
    digest.update(model_id.encode("utf-8"))
    digest.update(b"\n")
    digest.update(canonical)
    return digest.hexdigest()
