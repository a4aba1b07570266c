"""An outcome in the two forms people and programs read: one JSON line, one line of words.

The JSON form is what ``batch --json`` writes to standard output, one object per input as it
completes; its error is the same JSON the manifest keeps (``error_json``), so that a program
can treat both alike. The words form is for failure lines and the gallery: a server's error
can be a string, an object or a list, and a person needs its message, on one line.

The JSON form's ``state`` is the batch's word for how the input ended (``succeeded``,
``failed``, ``cancelled``, ...); ``raw_state`` keeps the service's own word for its job, as
its last answer said it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from yarl import URL

from .._constants import ERROR_TEXT_CHARS
from ..batch import Outcome, OutcomeState
from ..core._errors import DownloadError, InsufficientBalanceError
from ..core._text import quote_body
from ..store._error_json import error_json

__all__ = ["describe_error", "download_hint", "held_back", "outcome_json"]

# How the downloader words a URL whose host is not allowed (the one refusal an option fixes).
_HOST_REFUSED = "is not an allowed download host"

# Keys that hold the message in the error shapes RunComfy has been seen to send.
_MESSAGE_KEYS = ("error_message", "message", "error", "detail", "msg")


def outcome_json(outcome: Outcome, *, line: int | None, out_dir: Path) -> dict[str, Any]:
    """The JSON object ``batch --json`` writes for one outcome.

    Args:
        outcome: the outcome.
        line: the input file's line the input came from.
        out_dir: the output folder (file paths are given under it, usable as they are).
    """
    return {
        "index": outcome.index,
        "line": line,
        "model_id": outcome.model_id,
        "request_id": outcome.request_id,
        "state": outcome.state.value,
        "raw_state": outcome.result.raw_state if outcome.result is not None else None,
        "outputs": list(outcome.outputs),
        "files": [
            {
                "path": str(out_dir / stored.path),
                "size": stored.size,
                "sha256": stored.sha256,
                "content_type": stored.content_type,
            }
            for stored in outcome.files
        ],
        "timings": {
            "submitted_at": _iso(outcome.timings.submitted_at),
            "finished_at": _iso(outcome.timings.finished_at),
            "detected_at": _iso(outcome.timings.detected_at),
        },
        "from_journal": outcome.from_journal,
        # As the service reported it (None when there was no job, or no report).
        "cost_usd": outcome.cost_usd,
        "error": error_json(outcome.error),
    }


def held_back(outcome: Outcome) -> bool:
    """True when the input was not sent for money, rather than failed: the batch stopped
    at its budget (``over_budget``), or this was the submit the service refused because
    the balance ran out (``refused`` with insufficient balance). A resumed batch (with a
    larger budget, after a top-up) sends it."""
    if outcome.state is OutcomeState.OVER_BUDGET:
        return True
    return outcome.state is OutcomeState.REFUSED and isinstance(
        outcome.error, InsufficientBalanceError
    )


def download_hint(error: object) -> str | None:
    """What to do about a download refused for its host: the option that allows it."""
    if not isinstance(error, DownloadError) or _HOST_REFUSED not in error.reason:
        return None
    try:
        origin = URL(error.url).origin()
    except ValueError:
        return None
    return f"if you trust it, add --download-origin {origin} to download from it"


def describe_error(error: Any) -> str:
    """A one-line message for an error as JSON data (a string, an object or a list).

    Args:
        error: the error as the manifest keeps it (``error_json``), or a server's raw error.
    """
    if error is None:
        return ""
    if isinstance(error, str):
        return quote_body(error, ERROR_TEXT_CHARS)
    if isinstance(error, Mapping):
        for key in _MESSAGE_KEYS:
            value = error.get(key)
            if isinstance(value, str) and value:
                return quote_body(value, ERROR_TEXT_CHARS)
    if isinstance(error, list) and error:
        return describe_error(error[0])
    return quote_body(json.dumps(error, ensure_ascii=False, default=str), ERROR_TEXT_CHARS)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None
