"""The one-job commands: ``run``, ``submit``, ``status``, ``result``, ``wait``, ``cancel``.

Each is one or two library calls. Standard output gets the answer in a form a script can
use (a request id, output URLs or file paths, or the JSON with ``--json``); standard error
gets the words for the person. An input is checked against its model's schema before it is
sent: the bundled schema for the Ideogram models, the catalog's for any other.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from .._constants import CLI_SINGLE_JOB_INDEX
from ..api._schema_check import bundled_schema, validate_payload
from ..client._client import AsyncRunComfy
from ..core._files import StoredFile
from ..core._wire import Job, JobResult, JobState
from ..store.downloads import Downloader, DownloadError
from ._connection import Connection, connect
from ._context import Context
from ._exit_codes import DATA_ERROR, JOBS_FAILED, NO_INPUT, SUCCESS, USAGE, CommandError
from ._outcomes import describe_error

__all__ = [
    "cancel_command",
    "result_command",
    "run_command",
    "status_command",
    "submit_command",
    "wait_command",
]



async def run_command(context: Context, args: argparse.Namespace) -> int:
    """``run MODEL_ID``: submit, wait, show (and download) the result."""
    payload = await anyio.to_thread.run_sync(_payload, args)
    async with connect(context.service) as connection:
        job = await _submit(connection.client, args.model_id, payload)
        context.streams.say(f"submitted {job.request_id} to {args.model_id}")
        if args.no_wait:
            _show_job(context, job, as_json=args.json)
            return SUCCESS
        prompt = payload.get("prompt")
        label = prompt if isinstance(prompt, str) else None
        return await _wait_and_show(context, connection, job.request_id, args, label)


async def submit_command(context: Context, args: argparse.Namespace) -> int:
    """``submit MODEL_ID``: submit and print the request id."""
    payload = await anyio.to_thread.run_sync(_payload, args)
    async with connect(context.service) as connection:
        job = await _submit(connection.client, args.model_id, payload)
    _show_job(context, job, as_json=args.json)
    return SUCCESS


async def status_command(context: Context, args: argparse.Namespace) -> int:
    """``status ID``: the job's state, and its place in the queue while queued."""
    async with connect(context.service) as connection:
        status = await connection.client.status(args.request_id)
    if args.json:
        context.streams.emit_json(dict(status.raw))
    else:
        state = status.raw_state or status.state.value
        position = (
            f" (queue position {status.queue_position})"
            if status.queue_position is not None
            else ""
        )
        context.streams.emit(f"{state}{position}")
    return SUCCESS


async def result_command(context: Context, args: argparse.Namespace) -> int:
    """``result ID``: the job's result now (its state, if it has not finished)."""
    async with connect(context.service) as connection:
        result = await connection.client.result(args.request_id)
    _show_result(context, result, (), as_json=args.json)
    return JOBS_FAILED if result.state in (JobState.FAILED, JobState.CANCELLED) else SUCCESS


async def wait_command(context: Context, args: argparse.Namespace) -> int:
    """``wait ID``: wait for the job, show (and download) its result."""
    async with connect(context.service) as connection:
        return await _wait_and_show(context, connection, args.request_id, args, None)


async def cancel_command(context: Context, args: argparse.Namespace) -> int:
    """``cancel ID``: cancel the job if it is still queued; exit 1 if it was too late."""
    async with connect(context.service) as connection:
        answer = await connection.client.cancel(args.request_id)
    if args.json:
        context.streams.emit_json(dict(answer.raw))
    else:
        context.streams.emit(answer.raw_outcome or answer.outcome.value)
    if answer.cancelled:
        context.streams.say(f"{args.request_id} was still queued and is cancelled (not billed)")
        return SUCCESS
    context.streams.say(
        ("warning: ", "bold yellow"),
        f"{args.request_id} could not be cancelled: only a queued job can be; if it is "
        "running it will finish and be billed",
    )
    return JOBS_FAILED


# --- Inputs -----------------------------------------------------------------------------------


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    """The input object from ``--input``, ``--input-file`` and ``--prompt`` (blocking: it
    may read a file or standard input)."""
    text: str | None = None
    where = ""
    if args.input is not None:
        text, where = args.input, "--input"
    elif args.input_file is not None:
        where = args.input_file
        text = _read_input_file(args.input_file)
    payload: dict[str, Any] = {}
    if text is not None:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{where}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                DATA_ERROR,
            ) from None
        if not isinstance(value, dict):
            raise CommandError(f"{where}: the input must be a JSON object", DATA_ERROR)
        payload = value
    if args.prompt is not None:
        payload["prompt"] = args.prompt
    elif text is None:
        raise CommandError(
            "give the input: --prompt TEXT, --input JSON or --input-file FILE", USAGE
        )
    return payload


def _read_input_file(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8-sig")
        return Path(path).expanduser().read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}", NO_INPUT) from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text", DATA_ERROR) from None


async def _submit(client: AsyncRunComfy, model_id: str, payload: dict[str, Any]) -> Job:
    """Check the input against the model's schema, then submit it."""
    schema = bundled_schema(model_id)
    if schema is None:
        return await client.submit(model_id, payload, validate=True)
    validate_payload(model_id, payload, schema)
    return await client.submit(model_id, payload)


# --- Results ----------------------------------------------------------------------------------


async def _wait_and_show(
    context: Context,
    connection: Connection,
    request_id: str,
    args: argparse.Namespace,
    label: str | None,
) -> int:
    streams = context.streams

    def on_update(answer: JobResult) -> None:
        if not answer.state.is_terminal:
            streams.say(f"{request_id}: {answer.raw_state or answer.state.value}")

    result = await connection.client.wait(
        request_id, timeout=args.timeout, raise_on_failure=False, on_update=on_update
    )
    files: Sequence[StoredFile] = ()
    failure: DownloadError | None = None
    if result.ok and args.out is not None and result.outputs:
        try:
            async with Downloader(
                args.out, allowed_origins=connection.download_origins
            ) as downloader:
                files = await downloader.download(CLI_SINGLE_JOB_INDEX, label, result.outputs)
        except DownloadError as exc:
            failure = exc
    _show_result(context, result, files, as_json=args.json, out_dir=args.out)
    if failure is not None:
        streams.error(str(failure))
        return JOBS_FAILED
    return SUCCESS if result.ok else JOBS_FAILED


def _show_job(context: Context, job: Job, *, as_json: bool) -> None:
    if as_json:
        context.streams.emit_json(dict(job.raw))
    else:
        context.streams.emit(job.request_id)
    if context.service.sandbox:
        context.streams.say("(the --sandbox, and this job, end with this command)")
    else:
        context.streams.say("follow it with: ", context.command("wait", job.request_id))


def _show_result(
    context: Context,
    result: JobResult,
    files: Sequence[StoredFile],
    *,
    as_json: bool,
    out_dir: str | None = None,
) -> None:
    """The result on standard output (file paths, else URLs; or JSON), a summary on stderr."""
    streams = context.streams
    folder = Path(out_dir).expanduser() if out_dir is not None else Path()
    paths = [str(folder / stored.path) for stored in files]
    if as_json:
        streams.emit_json(
            {
                "request_id": result.request_id,
                "state": result.state.value,
                "raw_state": result.raw_state,
                "outputs": list(result.outputs),
                "files": paths,
                "output": result.output,
                "error": result.error,
                "created_at": _iso(result.created_at),
                "finished_at": _iso(result.finished_at),
            }
        )
    else:
        for line in paths or result.outputs:
            streams.emit(line)
    state = result.raw_state or result.state.value
    took = ""
    if result.created_at is not None and result.finished_at is not None:
        took = f" in {(result.finished_at - result.created_at).total_seconds():.1f} s"
    if result.state is JobState.FAILED:
        streams.say((state, "bold red"), f" {result.request_id}: {describe_error(result.error)}")
    else:
        style = "bold green" if result.ok else "bold"
        streams.say((state, style), f" {result.request_id}{took}")


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None
