"""One run of a checked batch: the display, the outcome loop, and what is said at the end.

The batch is ``client.map`` inside the command's stop scope. Whatever ends it (its last
outcome, Ctrl-C, SIGTERM, standard output closed under ``--json``, a disk that no longer
takes its files, its budget or the account's balance, an error), the gallery is written from
the manifest, and the person is told what happened to the jobs and the exact command that
resumes the batch (the words are in :mod:`._batch_summary`).

What the library logs about a batch that the command says in its own words (a failed
download, the jobs an early stop could not cancel, the balance running out) is kept out of
the log, so that nothing is said twice.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import anyio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

from ..batch import Batch, MapOptions, Outcome
from ..client._client import AsyncRunComfy
from ..core._errors import ConfigurationError, JournalError, RunComfyError
from ._batch_journal import RESUME_FLAG, journaled_beyond
from ._batch_summary import BatchSummary, Tally
from ._console import OutputClosed, RecordCount, hidden_records
from ._context import Context
from ._exit_codes import (
    BROKEN_PIPE,
    DATA_ERROR,
    IO_ERROR,
    JOBS_FAILED,
    SUCCESS,
    CommandError,
    exit_code_for,
    is_local_write_failure,
)
from ._gallery import write_gallery
from ._input_check import BatchInput, LineProblem
from ._outcomes import outcome_json
from ._progress import BatchDisplay, LineDisplay, LiveDisplay

__all__ = ["BatchInputs", "BatchRun", "FileInputs"]

# The library's log lines that the command says itself (see the module's docstring).
_SAID_BY_THE_COMMAND = (
    "batch stopped early",
    "input %d: download failed",
    "input %d: %s; the batch stops submitting (the balance ran out)",
)
# Logged by the library for each job cancelled at an early stop that the journal could not
# mark (a full disk): counted, and said once (see BatchSummary.report_unjournaled).
_NOT_JOURNALED = "job %s was cancelled, but the journal could not record it"
# Said once before the batch starts, when the inputs journaled beyond the file were counted.
_BEYOND_THE_INPUTS = "input %d is in the journal but not among this run's inputs"
# The library's names for what the command line calls by its options.
_OPTION_WORDS = (
    ("(assume_run_s, --assume-seconds)", "(--assume-seconds)"),
    ("assume_run_s", "--assume-seconds"),
    ("max_spend", "--budget"),
)


class BatchInputs(Protocol):
    """What a batch run needs of its inputs, read from a file or streamed."""

    @property
    def lines(self) -> Mapping[int, int]:
        """The input file's line number of each input, by batch index."""

    @property
    def total(self) -> int | None:
        """How many inputs there are; None while that is not known."""

    @property
    def count(self) -> int:
        """How many inputs have been handed to the batch so far."""

    @property
    def skipped(self) -> int:
        """Invalid lines skipped (``--skip-invalid``) while streaming."""

    @property
    def stopped_at(self) -> tuple[LineProblem, ...]:
        """The problems of the invalid line a stream stopped at."""

    def forget(self, index: int) -> int | None:
        """The line number of input ``index``, which need not be kept any more."""

    def items(self) -> Iterable[tuple[str, dict[str, Any]]] | AsyncIterable[
        tuple[str, dict[str, Any]]
    ]:
        """``(model_id, payload)`` pairs for ``client.map``."""


class FileInputs:
    """The checked inputs of a file, all in memory (a file is read and checked whole)."""

    skipped = 0
    stopped_at: tuple[LineProblem, ...] = ()

    def __init__(self, valid: tuple[BatchInput, ...]) -> None:
        self._valid = valid
        self.lines = {index: item.line for index, item in enumerate(valid)}
        self.total: int | None = len(valid)
        self.count = len(valid)

    def forget(self, index: int) -> int | None:
        return self.lines.get(index)

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return [(item.model_id, item.payload) for item in self._valid]


class BatchRun:
    """One run of a checked batch.

    Args:
        context: the command's context.
        args: its arguments.
        inputs: the inputs.
        out_dir: the batch's folder.
        journal: its journal.
        from_stdin: the inputs come from standard input (the resume command says so).
    """

    def __init__(
        self,
        context: Context,
        args: argparse.Namespace,
        inputs: BatchInputs,
        out_dir: Path,
        journal: Path,
        *,
        from_stdin: bool,
    ) -> None:
        self.context = context
        self.args = args
        self.inputs = inputs
        self.out_dir = out_dir
        self.journal = journal
        self.resume = context.same_command_with(RESUME_FLAG) + (
            "   (with the same input on standard input)" if from_stdin else ""
        )
        self.source = "standard input" if from_stdin else "the input file"
        self.beyond = 0
        self.tally = Tally()
        self.summary = BatchSummary(context, out_dir, journal, self.resume, args.budget)
        self.json_open = bool(args.json)

    async def run(self, client: AsyncRunComfy, options: dict[str, Any]) -> int:
        """Run the batch to its end (or an early stop); return the exit code."""
        context = self.context
        context.interrupt.parting_words = f"The journal is consistent. To resume: {self.resume}"
        if self.args.resume and self.inputs.total is not None:
            # A shorter input file than the run that began the batch: the inputs journaled
            # beyond it are collected too, so they count in the total.
            self.beyond = await journaled_beyond(self.journal, self.inputs.total)
            if self.beyond and not context.quiet:
                context.streams.say(
                    f"{self.beyond} input(s) journaled beyond {self.source} (an earlier run's "
                    "longer one) are collected too, and counted in the progress"
                )
        display = self._display()
        batch = client.map(
            None,
            self.inputs.items(),
            options=MapOptions.build(on_event=display.on_event, **options),
        )
        failure: BaseException | None = None
        unjournaled = RecordCount(_NOT_JOURNALED)
        try:
            said = (*_SAID_BY_THE_COMMAND, *((_BEYOND_THE_INPUTS,) if self.beyond else ()))
            with display, context.interrupt.stops(), hidden_records(*said), \
                    unjournaled.installed():
                async with batch as outcomes:
                    display.watch(batch)
                    await _consume(outcomes, self._take, display)
        except (CommandError, RunComfyError, OSError) as exc:
            failure = exc
        except BaseExceptionGroup as group:
            # The batch's clean-up can fail in several tasks at once (a full disk under the
            # journal): the first real error says what happened.
            failure = _first_error(group)
            if failure is None:
                raise
        finally:
            # Even after an error or Ctrl-C: what finished is on disk and belongs in the page.
            gallery = await self._write_gallery()
        self.summary.report_unjournaled(unjournaled.count)
        if failure is not None:
            raise self._ended_by(failure, batch) from None
        beyond = self.tally.beyond
        self.summary.report(
            self.tally, batch, display, gallery=gallery, skipped=self.inputs.skipped,
            of=self._counted(),
            beyond=f"{beyond} collected from the journal beyond {self.source}" if beyond
            else None,
        )
        if context.interrupt.requested:
            self.summary.report_interrupt(batch)
            return context.interrupt.exit_code
        if self.inputs.stopped_at:
            (first, *_) = self.inputs.stopped_at
            self.context.streams.error(
                f"standard input: {first}; nothing after line {first.line} was read. Fix the "
                "line and resume, or pass --skip-invalid to leave out invalid lines."
            )
            self.context.streams.say(("To resume: ", "bold"), self.resume)
            return DATA_ERROR
        stopped = self.summary.report_stop(self.tally, batch)
        if stopped is not None:
            return stopped
        return SUCCESS if self.tally.incomplete == 0 else JOBS_FAILED

    def _counted(self) -> str:
        """How many inputs the batch had, those journaled beyond the input file included:
        ``"10 inputs"``, or ``"12 inputs read"`` from standard input."""
        inputs, beyond = self.inputs, self.tally.beyond
        if inputs.total is not None:
            return f"{inputs.total + self.beyond} inputs"
        if beyond:
            return f"{inputs.count + beyond} inputs ({inputs.count} read)"
        return f"{inputs.count} inputs read"

    def _display(self) -> BatchDisplay:
        context = self.context
        streams = context.streams
        total, lines = self.inputs.total, self.inputs.lines
        if total is not None:
            total += self.beyond
        budget = self.args.budget
        if streams.interactive and not context.quiet:
            return LiveDisplay(streams, total, lines, verbose=context.verbose, budget=budget)
        return LineDisplay(streams, total, lines, quiet=context.quiet, verbose=context.verbose,
                           budget=budget)

    def _take(self, outcome: Outcome) -> None:
        # Indices go past the inputs handed over only for inputs journaled beyond them.
        self.tally.take(outcome, beyond=outcome.index >= self.inputs.count)
        line = self.inputs.forget(outcome.index)
        if outcome.ok and outcome.error is not None and is_local_write_failure(outcome.error):
            self._stop_writing(outcome.error)
        if self.json_open:
            try:
                self.context.streams.emit_json(
                    outcome_json(outcome, line=line, out_dir=self.out_dir)
                )
            except OutputClosed:
                # `--json | head -1`: the reader has what it wanted; stop as for Ctrl-C.
                self.json_open = False
                self.context.interrupt.stop(
                    BROKEN_PIPE,
                    None if self.context.quiet else "standard output was closed: stopping",
                )

    def _stop_writing(self, error: BaseException) -> None:
        """A file could not be written into the folder (a full disk): every next one would
        fail too, while its job is paid for. Stop as Ctrl-C would."""
        if self.context.interrupt.requested:
            return
        reason = getattr(error, "reason", None) or str(error)
        self.context.streams.error(
            f"cannot write into {self.out_dir}/: {reason}; stopping the batch"
        )
        self.context.interrupt.stop(IO_ERROR)

    async def _write_gallery(self) -> Path | None:
        """Write the gallery in a worker thread: its thumbnails take seconds for a large
        batch, and the event loop must stay free to hear a second Ctrl-C (which exits at
        once). Shielded, so that a first stop arriving meanwhile lets the page be finished
        and the summary said."""
        page: Path | None = None
        try:
            with anyio.CancelScope(shield=True):
                page = await anyio.to_thread.run_sync(write_gallery, self.out_dir)
        except OSError as exc:
            self.context.streams.say(
                ("warning: ", "bold yellow"),
                f"the gallery could not be written: {exc.strerror or exc}",
            )
        return page

    def _ended_by(self, failure: BaseException, batch: Batch) -> CommandError:
        """The error that ends the command, with the resume command when there is
        something to resume (not when the journal itself is what stopped the batch)."""
        if isinstance(failure, CommandError):
            message = str(failure)
        elif isinstance(failure, OSError):
            where = f"{failure.filename}: " if failure.filename else ""
            message = f"cannot write {where}{failure.strerror or failure}"
        else:
            message = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
        if isinstance(failure, ConfigurationError):
            # The library names its keyword arguments; the person typed options.
            for library, option in _OPTION_WORDS:
                message = message.replace(library, option)
        progress = batch.progress
        started = progress.submits or progress.from_journal or self.args.resume
        hint = f"The journal is consistent. To resume: {self.resume}" if started else None
        if isinstance(failure, JournalError) and not is_local_write_failure(failure):
            # The journal itself stopped the batch (lost, another batch's, unreadable): the
            # resume command would stop the same way. The message says what to do instead.
            hint = (
                f"The journal ({self.journal}) stopped the batch: the same command, with or "
                f"without {RESUME_FLAG}, stops here again until you do what the message above "
                "says."
            )
        return CommandError(message, exit_code_for(failure), hint=hint)


def _first_error(error: BaseException) -> BaseException | None:
    """The first error of a group that the command reports in one line, if any."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _first_error(inner)
            if found is not None:
                return found
        return None
    return error if isinstance(error, (CommandError, RunComfyError, OSError)) else None


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
