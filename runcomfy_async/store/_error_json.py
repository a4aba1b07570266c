"""How an error is kept on disk: the JSON form the journal and the manifest store.

It lives with the store because it is the store's format: a resumed batch, the manifest's
readers and the command line's ``--json`` output all read errors back in this shape, so it
changes only with them.
"""

from __future__ import annotations

from typing import Any

from ..core._job_errors import JobFailedError

__all__ = ["error_json"]


def error_json(error: BaseException | None) -> Any:
    """An error as JSON data, for the journal, the manifest and ``--json`` output.

    A failed job's error is the server's own (raw JSON); any other error is its type and
    message. Never holds the token: no message of the error hierarchy contains it.
    """
    if error is None:
        return None
    if isinstance(error, JobFailedError):
        return error.error
    return {"type": type(error).__name__, "message": str(error)}
