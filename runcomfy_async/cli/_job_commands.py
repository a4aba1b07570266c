"""The one-job commands: ``run``, ``submit``, ``status``, ``result``, ``wait``, ``cancel``.

Each is one or two library calls. Standard output gets the answer in a form a script can
use (a request id, output URLs or file paths, or the JSON with ``--json``); standard error
gets the words for the person (see :mod:`._job_output` for the words of states). An input is
checked against its model's schema before it is sent, fields the model does not have
included: the bundled schema for the Ideogram models, the catalog's for any other.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from .._constants import CLI_SINGLE_JOB_INDEX
from ..api._schema_check import bundled_schema
from ..batch._events import JobStateChanged
from ..client._client import AsyncRunComfy
from ..core._files import StoredFile
from ..core._wire import Job, JobState
from ..store.downloads import Downloader, DownloadError
from ._connection import Connection, connect
from ._context import Context
from ._exit_codes import (
    DATA_ERROR,
    IO_ERROR,
    JOBS_FAILED,
    NO_INPUT,
    SUCCESS,
    USAGE,
    CommandError,
    is_local_write_failure,
)
from ._input_check import check_payload
from ._job_output import show_result, state_word
from ._outcomes import download_hint

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
        job = await _submit(connection.client, args.model_id, payload, args.allow_unknown_fields)
        if not context.quiet:
            context.streams.say(f"submitted {job.request_id} to {args.model_id}")
        if args.no_wait:
            _show_job(context, job, as_json=args.json)
            return SUCCESS
        prompt = payload.get("prompt")
        label = prompt if isinstance(prompt, str) else None
        # `run` submitted the job: leaving it (Ctrl-C, timeout) cancels it while queued.
        return await _wait_and_show(context, connection, job.request_id, args, label,
                                    owned=True)


async def submit_command(context: Context, args: argparse.Namespace) -> int:
    """``submit MODEL_ID``: submit and print the request id."""
    payload = await anyio.to_thread.run_sync(_payload, args)
    async with connect(context.service) as connection:
        job = await _submit(connection.client, args.model_id, payload, args.allow_unknown_fields)
    _show_job(context, job, as_json=args.json)
    return SUCCESS


async def status_command(context: Context, args: argparse.Namespace) -> int:
    """``status ID``: the job's state, and its place in the queue while queued."""
    async with connect(context.service) as connection:
        client = connection.client
        status = await client.status(args.request_id)
        state = status.state
        if state is JobState.COMPLETED:
            # /status says "completed" for success and failure alike; /result tells which.
            state = (await client.result(args.request_id)).state
    word = state_word(state, status.raw_state)
    if args.json:
        context.streams.emit_json(
            {
                **status.raw,
                "request_id": status.request_id,
                "state": state_word(state),
                "raw_state": status.raw_state,
                "queue_position": status.queue_position,
            }
        )
    else:
        position = (
            f" (queue position {status.queue_position})"
            if status.queue_position is not None
            else ""
        )
        context.streams.emit(f"{word}{position}")
    return SUCCESS


async def result_command(context: Context, args: argparse.Namespace) -> int:
    """``result ID``: the job's result now (its state, if it has not finished)."""
    async with connect(context.service) as connection:
        result = await connection.client.result(args.request_id)
    show_result(context, result, (), as_json=args.json)
    return JOBS_FAILED if result.state in (JobState.FAILED, JobState.CANCELLED) else SUCCESS


async def wait_command(context: Context, args: argparse.Namespace) -> int:
    """``wait ID``: wait for the job, show (and download) its result."""
    async with connect(context.service) as connection:
        return await _wait_and_show(context, connection, args.request_id, args, None,
                                    owned=False)


async def cancel_command(context: Context, args: argparse.Namespace) -> int:
    """``cancel ID``: cancel the job if it is still queued; exit 1 if it was too late."""
    request_id = args.request_id
    async with connect(context.service) as connection:
        client = connection.client
        answer = await client.cancel(request_id)
        state = answer.state
        if not answer.cancelled and state in (JobState.COMPLETED, JobState.UNKNOWN):
            # Say what the job is, not what it might be: ask the service.
            state = (await client.result(request_id)).state
    if args.json:
        context.streams.emit_json(dict(answer.raw))
    else:
        context.streams.emit(answer.raw_outcome or answer.outcome.value)
    if answer.cancelled:
        if not context.quiet:
            context.streams.say(f"{request_id} was still queued and is cancelled (not billed)")
        return SUCCESS
    warning = ("warning: ", "bold yellow")
    if state is JobState.RUNNING:
        context.streams.say(
            warning, f"{request_id} is running and can no longer be cancelled: it will finish "
            "and be billed"
        )
    elif state.is_terminal:
        context.streams.say(
            warning, f"{request_id} has already {state_word(state)}: there is nothing to cancel"
        )
    else:
        context.streams.say(
            warning, f"{request_id} could not be cancelled (only a queued job can be); its "
            f"state: {state_word(state, answer.raw_state)}"
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


async def _submit(
    client: AsyncRunComfy, model_id: str, payload: dict[str, Any], allow_unknown_fields: bool
) -> Job:
    """Check the input against the model's schema (bundled, else the catalog's), fields it
    does not have included, then submit it."""
    schema = bundled_schema(model_id) or await client.models.schema_for(model_id)
    check_payload(model_id, payload, schema, allow_unknown_fields=allow_unknown_fields)
    return await client.submit(model_id, payload)


# --- Results ----------------------------------------------------------------------------------


async def _wait_and_show(
    context: Context,
    connection: Connection,
    request_id: str,
    args: argparse.Namespace,
    label: str | None,
    *,
    owned: bool,
) -> int:
    streams = context.streams

    def on_event(event: object) -> None:
        if isinstance(event, JobStateChanged) and not event.state.is_terminal \
                and not context.quiet:
            streams.say(f"{request_id}: {state_word(event.state, event.raw_state)}")

    result = await connection.client.wait(
        request_id, timeout=args.timeout, raise_on_failure=False, on_event=on_event,
        cancel_on_exit=owned,
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
    show_result(context, result, files, as_json=args.json, out_dir=args.out)
    if failure is not None:
        hint = download_hint(failure)
        streams.error(str(failure) + (f" ({hint})" if hint else ""))
        return IO_ERROR if is_local_write_failure(failure) else JOBS_FAILED
    return SUCCESS if result.ok else JOBS_FAILED


def _show_job(context: Context, job: Job, *, as_json: bool) -> None:
    if as_json:
        context.streams.emit_json(dict(job.raw))
    else:
        context.streams.emit(job.request_id)
    if context.quiet:
        return
    if context.service.sandbox:
        context.streams.say("(the --sandbox, and this job, end with this command)")
    else:
        follow = context.command("wait", job.request_id, *context.service_arguments())
        context.streams.say("follow it with: ", follow)
