"""``batch INPUT --model MODEL_ID --out DIR``: many inputs, files, manifest and gallery.

The steps, each of which can end the command before anything is paid for:

1. read the input file, every line (a bad line is listed, not fatal yet);
2. refuse to start over an existing batch's journal unless ``--resume`` says to continue it,
   and refuse to resume a ``--sandbox`` journal against a service or the other way round;
3. check every line against its model's schema, and list every problem with its line number
   (nothing is sent unless ``--skip-invalid`` says to send the valid lines anyway);
4. ask the service about each model once, so that a wrong token, an unknown model or an
   unreachable service is reported before the first submit; with ``--budget``, make sure
   each model's jobs can be estimated (a budget needs every job's estimate before sending);
   ``--dry-run`` ends here, printing what the batch would cost (see :mod:`._dry_run`);
5. make sure the folder (and the journal's) can be written to;
6. run the batch with ``client.map`` (see :mod:`._batch_run`): the library submits, polls,
   journals, downloads into the folder and appends the manifest; this command only shows
   progress and says at the end what happened and how to resume.

``-`` (standard input) is not read whole first: it may never end. Its lines are read and
checked as the batch pulls them (see :mod:`._input_stream`); steps 1 and 3 happen line by
line, and step 4 for each model as it is first named. A ``--dry-run`` reads it to its end
instead: an estimate needs every input.

A resumed ``--sandbox`` batch first journals as withdrawn the inputs whose jobs or files
ended with the earlier run's sandbox (see :mod:`._batch_journal`), so that they are sent
again rather than looked for in a sandbox that never knew them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import anyio

from .._constants import JOURNAL_FILE_NAME, PROBLEMS_SHOWN
from ..client._client import AsyncRunComfy
from ..core._errors import InvalidRequestError, NotFoundError
from ._batch_journal import check_journal, mark_sandbox_journal, release_sandbox_jobs
from ._batch_run import BatchInputs, BatchRun, FileInputs
from ._connection import connect
from ._context import Context
from ._dry_run import budget_problem, dry_run
from ._exit_codes import CANT_CREATE, DATA_ERROR, USAGE, CommandError
from ._input_check import CheckedInputs, LineProblem, ModelSchemas, check_inputs
from ._input_files import STDIN_NAME, InputLine, read_input_file
from ._input_stream import StdinReader, StreamedInputs
from ._skipped_lines import SkippedLines, problems_by_line

__all__ = ["batch_command"]


async def batch_command(context: Context, args: argparse.Namespace) -> int:
    """Run the ``batch`` command; return its exit code."""
    from_stdin = args.input == STDIN_NAME
    source = None
    if not from_stdin or args.dry_run:
        source = await anyio.to_thread.run_sync(read_input_file, args.input, sys.stdin.buffer)
    out_dir, journal = _batch_paths(args)
    sandbox = context.service.sandbox
    if not args.dry_run:  # a dry run touches no journal: it only prices the inputs
        await check_journal(journal, resume=args.resume, sandbox=sandbox)
    left_out = SkippedLines(out_dir, default_model=args.model)
    async with connect(context.service) as connection:
        client = connection.client
        schemas = ModelSchemas(client.models)
        inputs: BatchInputs
        skipped_in_file: list[tuple[InputLine, tuple[LineProblem, ...]]] = []
        if source is not None:
            checked = await check_inputs(
                source.lines,
                default_model=args.model,
                schemas=schemas,
                allow_unknown_fields=args.allow_unknown_fields,
            )
            if checked.problems:
                name = "standard input" if from_stdin else source.name
                _report_problems(context, name, len(source.lines), checked, args.skip_invalid)
                if not args.skip_invalid or not checked.valid:
                    return DATA_ERROR
            models = {item.model_id for item in checked.valid}
            await _check_models_known(client, models)
            await _check_budget(client, models, args)
            if args.dry_run:
                items = [(item.model_id, item.payload) for item in checked.valid]
                return await dry_run(context, args, client, items, journal=journal)
            inputs = FileInputs(checked.valid)
            skipped_in_file = problems_by_line(source.lines, checked.problems)
        else:
            if args.model is not None:
                await _check_models_known(client, {args.model})
                await _check_budget(client, {args.model}, args)
            inputs = _streamed(context, args, client, schemas, left_out)
        await anyio.to_thread.run_sync(_usable_folders, out_dir, journal)
        if sandbox:
            await mark_sandbox_journal(journal)
            if args.resume:
                released = await release_sandbox_jobs(journal, out_dir)
                if released and not context.quiet:
                    context.streams.say(
                        f"{released} input(s) whose jobs or files ended with the earlier "
                        "run's sandbox are sent again (nothing was billed)"
                    )
        options: dict[str, Any] = {
            "journal": journal,
            "download_to": out_dir,
            "download_origins": connection.download_origins,
        }
        if args.max_in_flight is not None:
            options["max_in_flight"] = args.max_in_flight
        if args.job_timeout is not None:
            options["job_timeout"] = args.job_timeout
        # Always tracked: the progress line shows the estimate of the jobs in flight (one
        # catalog request per model, which the checks above have cached).
        options["track_cost"] = True
        options["max_spend"] = args.budget
        options["assume_run_s"] = args.assume_seconds
        run = BatchRun(context, args, inputs, out_dir, journal, from_stdin=from_stdin)
        with left_out:
            # The lines left out are in the manifest (and so the gallery), with their errors.
            await left_out.add_all(skipped_in_file)
            return await run.run(client, options)


def _batch_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The batch's folder and its journal."""
    out_dir = Path(args.out).expanduser()
    journal = Path(args.journal).expanduser() if args.journal else out_dir / JOURNAL_FILE_NAME
    return out_dir, journal


def _streamed(
    context: Context,
    args: argparse.Namespace,
    client: AsyncRunComfy,
    schemas: ModelSchemas,
    left_out: SkippedLines,
) -> StreamedInputs:
    streams = context.streams

    def on_problem(problem: LineProblem) -> None:
        if args.skip_invalid:
            streams.say(("warning: ", "bold yellow"), f"standard input: {problem}; skipped")

    async def check_model(model_id: str) -> None:
        await _check_models_known(client, {model_id})
        await _check_budget(client, {model_id}, args)

    return StreamedInputs(
        StdinReader(sys.stdin.buffer).read,
        default_model=args.model,
        schemas=schemas,
        allow_unknown_fields=args.allow_unknown_fields,
        skip_invalid=args.skip_invalid,
        on_problem=on_problem,
        on_skipped=left_out.add,
        check_model=check_model,
    )


def _usable_folders(out_dir: Path, journal: Path) -> None:
    """Create the batch's folder and the journal's, and check that both take files.

    Raises:
        CommandError: one cannot be created or written to (73).
    """
    for folder, what in ((out_dir, "--out folder"), (journal.parent, "journal's folder")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(
                f"cannot use {folder} as the {what}: {exc.strerror or exc}", CANT_CREATE
            ) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CommandError(
                f"cannot use {folder} as the {what}: it is not writable", CANT_CREATE
            )


def _report_problems(
    context: Context, name: str, lines: int, checked: CheckedInputs, skipping: bool
) -> None:
    streams = context.streams
    bad = checked.bad_lines
    head = f"{name}: {bad} of {lines} input{'s' if lines != 1 else ''} invalid"
    if skipping and checked.valid:
        streams.say(("warning: ", "bold yellow"), f"{head}; skipping them (--skip-invalid):")
    else:
        streams.error(f"{head}; nothing was sent:")
    for problem in checked.problems[:PROBLEMS_SHOWN]:
        streams.say("  ", str(problem))
    if len(checked.problems) > PROBLEMS_SHOWN:
        streams.say(f"  ... and {len(checked.problems) - PROBLEMS_SHOWN} more")
    if not skipping:
        streams.say("Fix them, or pass --skip-invalid to send only the valid inputs.")


async def _check_models_known(client: AsyncRunComfy, model_ids: set[str]) -> None:
    """Ask the service about each model: a wrong token, an unknown model or an unreachable
    service ends the command here (77, 65, 69) instead of at the first submit, where a
    batch would keep retrying an unreachable service until its jobs' deadline."""
    for model_id in sorted(model_ids):
        try:
            await client.models.get(model_id)
        except (NotFoundError, InvalidRequestError) as exc:
            raise CommandError(
                f"the service does not know the model {model_id!r}: {exc.message}", DATA_ERROR
            ) from None


async def _check_budget(
    client: AsyncRunComfy, model_ids: set[str], args: argparse.Namespace
) -> None:
    """With ``--budget``, make sure every model's jobs can be estimated before the first
    submit: the batch would otherwise stop at its first input, after the checks, with the
    library's words (``assume_run_s``) instead of the option to add."""
    if args.budget is None:
        return
    for model_id in sorted(model_ids):
        problem = budget_problem(model_id, await client.price_of(model_id), args.assume_seconds)
        if problem is not None:
            raise CommandError(problem, USAGE)
