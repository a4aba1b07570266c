"""What the one-job commands print: one vocabulary of states for people, and the service's
own words kept in ``--json``.

RunComfy speaks two vocabularies (``/status`` says ``in_queue``, ``in_progress``,
``completed``; ``/result`` says ``succeeded`` or ``failed``), and the batch has its own
(``succeeded``, ``failed``, ``cancelled``, ...). A person reads one set of words everywhere:
``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``. The service's word stays in
the JSON (``raw_state``), for scripts that want exactly what it said.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from ..core._files import StoredFile
from ..core._wire import JobResult, JobState
from ._context import Context
from ._outcomes import describe_error

__all__ = ["result_json", "show_result", "state_word"]

_WORDS: Final[dict[JobState, str]] = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "running",
    JobState.SUCCEEDED: "succeeded",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
    # /status's word for "over", success or failure: the commands ask /result which.
    JobState.COMPLETED: "finished",
}


def state_word(state: JobState, raw: str | None = None) -> str:
    """The word a person reads for a job's state.

    Args:
        state: the normalised state.
        raw: the service's word, shown for a state this client does not know.
    """
    if state is JobState.UNKNOWN:
        return f"{raw} (a state this client does not know)" if raw else "unknown"
    return _WORDS[state]


def result_json(result: JobResult, paths: Sequence[str]) -> dict[str, Any]:
    """The JSON ``result``, ``wait`` and ``run`` print with ``--json``."""
    return {
        "request_id": result.request_id,
        "state": state_word(result.state),
        "raw_state": result.raw_state,
        "outputs": list(result.outputs),
        "files": list(paths),
        "output": result.output,
        "error": result.error,
        "created_at": _iso(result.created_at),
        "started_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
    }


def show_result(
    context: Context,
    result: JobResult,
    files: Sequence[StoredFile],
    *,
    as_json: bool,
    out_dir: str | None = None,
) -> None:
    """The result on standard output (file paths, else URLs; or JSON), a line on stderr
    (a failure's even with ``-q``; timings and URLs with ``-v``)."""
    streams = context.streams
    folder = Path(out_dir).expanduser() if out_dir is not None else Path()
    paths = [str(folder / stored.path) for stored in files]
    if as_json:
        streams.emit_json(result_json(result, paths))
    else:
        for line in paths or result.outputs:
            streams.emit(line)
    word = state_word(result.state, result.raw_state)
    if result.state is JobState.FAILED:
        streams.say((word, "bold red"), f" {result.request_id}: {describe_error(result.error)}")
    elif not context.quiet:
        style = "bold green" if result.ok else "bold"
        took = _seconds(result.created_at, result.finished_at)
        streams.say((word, style), f" {result.request_id}" + (f" in {took}" if took else ""))
    if context.verbose:
        _show_detail(context, result, paths)


def _show_detail(context: Context, result: JobResult, paths: Sequence[str]) -> None:
    streams = context.streams
    queued = _seconds(result.created_at, result.started_at)
    ran = _seconds(result.started_at, result.finished_at)
    if queued or ran:
        streams.say("  ", " · ".join(
            part for part in (queued and f"queued {queued}", ran and f"ran {ran}") if part
        ))
    if result.raw_state:
        streams.say("  service state: ", result.raw_state)
    if paths:
        for url in result.outputs:
            streams.say("  output: ", url)
    if result.cost is not None:
        streams.say(f"  cost: {result.cost:g} USD")


def _seconds(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{max((end - start).total_seconds(), 0.0):.1f} s"


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None
