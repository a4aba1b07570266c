"""``batch INPUT --model MODEL_ID --out DIR``: many inputs, files, manifest and gallery.

The steps, each of which can end the command before anything is paid for:

1. read the input file, every line (a bad line is listed, not fatal yet);
2. refuse to start over an existing batch's journal unless ``--resume`` says to continue it;
3. check every line against its model's schema, and list every problem with its line number
   (nothing is sent unless ``--skip-invalid`` says to send the valid lines anyway);
4. ask the service about each model once, so that a wrong token, an unknown model or an
   unreachable service is reported before the first submit;
5. run the batch with ``client.map``: the library submits, polls, journals, downloads into
   the folder and appends the manifest; this command only shows progress;
6. write the gallery from the manifest, even when the batch stopped early, and say where
   everything is.

Ctrl-C during step 5 leaves the batch's ``async with`` block, which cancels the jobs still
queued and closes the journal; the command then prints what could not be cancelled and the
exact command that resumes the batch.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from .._constants import JOURNAL_FILE_NAME, MANIFEST_NAME, PROBLEMS_SHOWN, REQUEST_IDS_SHOWN
from ..batch import Batch, MapOptions, Outcome, OutcomeState
from ..client._client import AsyncRunComfy
from ..core._errors import InvalidRequestError, NotFoundError
from ..store.journal import Journal
from ._connection import connect
from ._context import Context
from ._exit_codes import (
    DATA_ERROR,
    INTERRUPTED,
    JOBS_FAILED,
    SUCCESS,
    USAGE,
    CommandError,
)
from ._gallery import write_gallery
from ._input_check import BatchInput, CheckedInputs, ModelSchemas, check_inputs
from ._input_files import STDIN_NAME, read_input_file
from ._outcomes import outcome_json
from ._progress import BatchDisplay, LineDisplay, LiveDisplay, format_duration

__all__ = ["batch_command"]

RESUME_FLAG = "--resume"


async def batch_command(context: Context, args: argparse.Namespace) -> int:
    """Run the ``batch`` command; return its exit code."""
    source = await anyio.to_thread.run_sync(read_input_file, args.input, sys.stdin.buffer)
    out_dir, journal = _batch_paths(args)
    await _check_journal(journal, resume=args.resume)
    async with connect(context.service) as connection:
        client = connection.client
        checked = await check_inputs(
            source.lines, default_model=args.model, schemas=ModelSchemas(client.models)
        )
        if checked.problems:
            _report_problems(context, source.name, len(source.lines), checked, args.skip_invalid)
            if not args.skip_invalid or not checked.valid:
                return DATA_ERROR
        await _check_models_known(client, {item.model_id for item in checked.valid})
        options: dict[str, Any] = {
            "journal": journal,
            "download_to": out_dir,
            "download_origins": connection.download_origins,
        }
        if args.max_in_flight is not None:
            options["max_in_flight"] = args.max_in_flight
        if args.job_timeout is not None:
            options["job_timeout"] = args.job_timeout
        run = _BatchRun(context, args, checked.valid, out_dir)
        return await run.run(client, options, journal, from_stdin=source.name == STDIN_NAME)


def _batch_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The batch's folder and its journal."""
    out_dir = Path(args.out).expanduser()
    journal = Path(args.journal).expanduser() if args.journal else out_dir / JOURNAL_FILE_NAME
    return out_dir, journal


async def _check_journal(journal: Path, *, resume: bool) -> None:
    """Refuse to add a new batch to a journal that holds another, unless resuming it."""
    if resume or not await anyio.Path(journal).exists():
        return
    async with Journal(journal) as opened:
        known = await opened.max_index()
    if known is not None:
        raise CommandError(
            f"{journal} already holds a batch ({known + 1} inputs started). To continue it, "
            f"run the same command again with {RESUME_FLAG}; to start a new batch, choose "
            "another --out folder (or --journal file).",
            USAGE,
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


class _BatchRun:
    """One run of a checked batch: the display, the outcome loop, and the final report."""

    def __init__(
        self,
        context: Context,
        args: argparse.Namespace,
        inputs: tuple[BatchInput, ...],
        out_dir: Path,
    ) -> None:
        self.context = context
        self.args = args
        self.inputs = inputs
        self.out_dir = out_dir
        self.lines = {index: item.line for index, item in enumerate(inputs)}
        self.states: Counter[str] = Counter()
        self.incomplete = 0
        self.downloads_failed = 0

    async def run(
        self, client: AsyncRunComfy, options: dict[str, Any], journal: Path, *, from_stdin: bool
    ) -> int:
        context = self.context
        resume = context.same_command_with(RESUME_FLAG)
        if from_stdin:
            resume += "   (with the same input on standard input)"
        context.interrupt.parting_words = f"The journal is consistent. To resume: {resume}"
        display = self._display()
        batch = client.map(
            None,
            [(item.model_id, item.payload) for item in self.inputs],
            options=MapOptions.build(on_event=display.on_event, **options),
        )
        try:
            with display, context.interrupt.stops():
                async with batch as outcomes:
                    display.watch(batch)
                    await _consume(outcomes, self._take, display)
        finally:
            # Even after an error or Ctrl-C: what finished is on disk and belongs in the page.
            gallery = write_gallery(self.out_dir)
        self._report(journal, gallery, batch, display.elapsed)
        if context.interrupt.requested:
            self._report_interrupt(batch, resume)
            return INTERRUPTED
        return SUCCESS if self.incomplete == 0 else JOBS_FAILED

    def _display(self) -> BatchDisplay:
        streams = self.context.streams
        total = len(self.inputs)
        if streams.interactive and not self.args.quiet:
            return LiveDisplay(streams, total, self.lines)
        return LineDisplay(streams, total, self.lines, quiet=bool(self.args.quiet))

    def _take(self, outcome: Outcome) -> None:
        self.states[outcome.state.value] += 1
        if not outcome.ok or outcome.error is not None:
            self.incomplete += 1
        if outcome.ok and outcome.error is not None:
            self.downloads_failed += 1
        if self.args.json:
            self.context.streams.emit_json(
                outcome_json(outcome, line=self.lines.get(outcome.index), out_dir=self.out_dir)
            )

    def _report(self, journal: Path, gallery: Path | None, batch: Batch, elapsed: float) -> None:
        streams = self.context.streams
        done = sum(self.states.values())
        parts = ", ".join(
            f"{self.states[state.value]} {state.value.replace('_', ' ')}"
            for state in OutcomeState
            if state.is_final
            if self.states[state.value]
        )
        replayed = batch.progress.from_journal
        streams.say(
            (f"{done} of {len(self.inputs)} inputs finished", "bold"),
            f" in {format_duration(elapsed)}" + (f": {parts}" if parts else ""),
            f" ({replayed} from the journal of an earlier run)" if replayed else "",
        )
        if self.downloads_failed:
            streams.say(
                ("warning: ", "bold yellow"),
                f"{self.downloads_failed} job(s) succeeded but their files could not be "
                "downloaded; resuming the batch tries again",
            )
        streams.say("  files:    ", str(self.out_dir) + "/")
        streams.say("  manifest: ", str(self.out_dir / MANIFEST_NAME))
        if gallery is not None:
            streams.say("  gallery:  ", str(gallery))
        streams.say("  journal:  ", str(journal))

    def _report_interrupt(self, batch: Batch, resume: str) -> None:
        streams = self.context.streams
        report = batch.cancel_report
        if report is not None and report.cancelled:
            streams.say(
                f"{len(report.cancelled)} queued job(s) were cancelled before they ran "
                "(not billed)."
            )
        if report is not None and report.not_cancelled:
            shown = ", ".join(report.not_cancelled[:REQUEST_IDS_SHOWN])
            more = len(report.not_cancelled) - REQUEST_IDS_SHOWN
            streams.say(
                ("warning: ", "bold yellow"),
                f"{len(report.not_cancelled)} job(s) could not be cancelled (running, or the "
                "service did not answer): they will finish and be billed; resuming collects "
                f"their results: {shown}" + (f" and {more} more" if more > 0 else ""),
            )
        streams.say(("To resume: ", "bold"), resume)


async def _consume(
    outcomes: Batch, take: Callable[[Outcome], None], display: BatchDisplay
) -> None:
    """Hand every outcome to ``take`` while the display redraws beside it."""
    failure: Exception | None = None
    async with anyio.create_task_group() as redraws:
        redraws.start_soon(display.run)
        try:
            async for outcome in outcomes:
                take(outcome)
        except Exception as exc:
            # Raised again outside the task group, which would wrap it in an ExceptionGroup.
            failure = exc
        redraws.cancel_scope.cancel()
    if failure is not None:
        raise failure
