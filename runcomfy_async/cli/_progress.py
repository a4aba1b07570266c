"""What a person sees while a batch runs, on standard error.

On a terminal: a live display redrawn a few times a second (a bar, counts per state,
throughput and ETA) with a line per failure printed above it as it happens. Elsewhere (a
log file, CI): a plain progress line every few seconds and the same failure lines. Both
read the batch's live counters (``batch.progress``) and learn of failures, retries and rate
changes from its events (``on_event``); neither changes anything about the batch.

A batch where everything fails must not bury the terminal: the first failures get a line
each, then one line per hundred more, and the end says how many were not shown (every one is
in the manifest). ``-v`` shows them all, and a line per job submitted and succeeded.

Money is shown once anything is known: what the finished jobs cost, what the batch will
have cost once the jobs in flight finish (``~``: an estimate), and the budget. Inputs held
back for money (the budget, an empty balance) are not failures: one line says when the batch
stopped submitting, not one per input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType

import anyio
from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .._constants import (
    CLI_BAR_WIDTH,
    FAILURE_LINES_EVERY,
    FAILURE_LINES_SHOWN,
    LIVE_REFRESH_S,
    PLAIN_PROGRESS_INTERVAL_S,
)
from ..batch import (
    Batch,
    BatchEvent,
    BatchProgress,
    JobCompleted,
    JobSubmitted,
    Outcome,
    RateChanged,
)
from ..core._events import RetryEvent
from ..store._error_json import error_json
from ._console import Streams
from ._money import format_usd
from ._outcomes import describe_error, download_hint, held_back

__all__ = ["BatchDisplay", "LineDisplay", "LiveDisplay", "format_duration"]

# Counters always shown, then those shown only once they are not zero, with their styles.
_ALWAYS = ("waiting", "queued", "running", "succeeded", "failed")
_WHEN_SEEN = (
    "cancelled", "expired", "withdrawn", "timed_out", "refused", "not_sent", "over_budget",
    "unknown",
)
_STYLES = {
    "waiting": "dim",
    "queued": "cyan",
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
}


def format_duration(seconds: float) -> str:
    """``0:07``, ``12:34``, ``1:02:03``: seconds as a clock reading."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class BatchDisplay:
    """The progress of one batch, shown somehow; subclasses say how.

    Use it as a context manager around the batch, hand :meth:`on_event` to the batch as its
    ``on_event``, :meth:`watch` the batch once it exists, and run :meth:`run` in a task for
    as long as the batch runs.

    Args:
        streams: where to write.
        total: how many inputs the batch has; None while it is not known (standard input).
        lines: the input file's line number of each input, by index.
        verbose: a line per job submitted and succeeded, and every failure line (``-v``).
        budget: the batch's ``--budget`` in USD, shown beside what it spent.
    """

    interval: float | None = None
    """Seconds between two redraws; None for none."""

    def __init__(
        self,
        streams: Streams,
        total: int | None,
        lines: Mapping[int, int],
        *,
        verbose: bool = False,
        budget: float | None = None,
    ) -> None:
        self.streams = streams
        self.total = total
        self.lines = lines
        self.verbose = verbose
        self.budget = budget
        self.stop_shown = False
        self.progress = BatchProgress()
        self.retries = 0
        self.submit_rate: float | None = None
        self.failures = 0
        self._started = time.monotonic()

    def watch(self, batch: Batch) -> None:
        """Read this batch's live counters from now on."""
        self.progress = batch.progress

    def on_event(self, event: BatchEvent) -> None:
        """The batch's event hook: report failures, count retries, note rate changes."""
        if isinstance(event, JobCompleted) and held_back(event.outcome):
            self._held_back(event.outcome)
        elif isinstance(event, JobCompleted) and (
            not event.outcome.ok or event.outcome.error is not None
        ):
            self._failure(event.outcome)
        elif isinstance(event, JobCompleted) and self.verbose:
            self.show_line(self.success_text(event.outcome))
        elif isinstance(event, JobSubmitted) and self.verbose:
            self.show_line(
                Text.assemble(("→ ", "dim"), self._where(event.index), " submitted · request ",
                              (event.request_id, "bold"))
            )
        elif isinstance(event, RetryEvent):
            self.retries += 1
        elif isinstance(event, RateChanged):
            self.submit_rate = event.rate

    async def run(self) -> None:
        """Redraw every :attr:`interval` seconds until cancelled."""
        if self.interval is None:
            return
        while True:
            await anyio.sleep(self.interval)
            self.redraw()

    def redraw(self) -> None:
        """Show the current state."""

    def __enter__(self) -> BatchDisplay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    # --- What both forms say -----------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def throughput(self) -> float | None:
        """Inputs finished per second by this run (not those taken from a journal)."""
        done_here = self.progress.finished - self.progress.from_journal
        elapsed = self.elapsed
        return done_here / elapsed if done_here > 0 and elapsed > 0 else None

    def eta(self) -> float | None:
        """Seconds until every input is finished, at the throughput so far."""
        if self.total is None:
            return None
        rate = self.throughput()
        remaining = self.total - self.progress.finished
        return remaining / rate if rate and remaining > 0 else None

    def _failure(self, outcome: Outcome) -> None:
        self.failures += 1
        beyond = self.failures - FAILURE_LINES_SHOWN
        if self.verbose or beyond <= 0:
            self.show_line(self.failure_text(outcome))
        elif beyond % FAILURE_LINES_EVERY == 0:
            self.show_line(
                Text(f"✗ … {beyond} more failures not shown ({self.failures} in all so far; "
                     "every one is in the manifest)", style="red")
            )

    def _held_back(self, outcome: Outcome) -> None:
        """The first input held back says once that the batch stopped submitting; the
        others are counted (``over budget``), not listed: they did not fail."""
        if self.stop_shown:
            return
        self.stop_shown = True
        message = describe_error(error_json(outcome.error))
        self.show_line(Text.assemble(
            ("■ ", "bold yellow"), "stopped submitting at ", self._where(outcome.index),
            (f": {message}" if message else ""),
            "; the jobs in flight finish and are collected",
        ))

    @property
    def failures_not_shown(self) -> int:
        """Failure lines left out so far (see the module's docstring)."""
        return 0 if self.verbose else max(0, self.failures - FAILURE_LINES_SHOWN)

    def counts(self) -> list[tuple[str, int]]:
        """``(state, count)`` for the states worth showing now."""
        snapshot = {key: int(value) for key, value in self.progress.snapshot().items()}
        shown = [(name, snapshot[name]) for name in _ALWAYS]
        shown += [(name, snapshot[name]) for name in _WHEN_SEEN if snapshot[name]]
        if snapshot["from_journal"]:
            shown.append(("from journal", snapshot["from_journal"]))
        return shown

    def _where(self, index: int | None) -> str:
        if index is None:  # events of a job outside a batch carry no input index
            return "a job"
        line = self.lines.get(index)
        return f"input {index}" + (f" (line {line})" if line is not None else "")

    def failure_text(self, outcome: Outcome) -> Text:
        """One line for an input that did not succeed (or whose files did not download)."""
        what = "download failed" if outcome.ok else outcome.state.value.replace("_", " ")
        parts: list[str | tuple[str, str]] = [
            ("✗ ", "bold red"), self._where(outcome.index), " ", (what, "red")
        ]
        if outcome.request_id:
            parts += [" · request ", (outcome.request_id, "bold")]
        message = describe_error(error_json(outcome.error))
        if message:
            parts += [": ", message]
        hint = download_hint(outcome.error)
        if hint:
            parts += [" (", hint, ")"]
        return Text.assemble(*parts)

    def success_text(self, outcome: Outcome) -> Text:
        """One line for an input that succeeded (``-v``): its request, time, files."""
        parts: list[str | tuple[str, str]] = [
            ("✓ ", "bold green"), self._where(outcome.index), " ", ("succeeded", "green")
        ]
        if outcome.request_id:
            parts += [" · request ", (outcome.request_id, "bold")]
        timings = outcome.timings
        if timings.submitted_at is not None and timings.finished_at is not None:
            took = (timings.finished_at - timings.submitted_at).total_seconds()
            parts += [f" · {max(took, 0.0):.1f} s"]
        if outcome.from_journal:
            parts += [" · from the journal"]
        names = [stored.path for stored in outcome.files] or list(outcome.outputs)
        if names:
            parts += [" · ", ", ".join(names)]
        return Text.assemble(*parts)

    def show_line(self, text: Text) -> None:
        """Print a line as it happens (above a live display, which shares the console)."""
        self.streams.err.print(text, soft_wrap=True)

    def status_line(self) -> Text:
        """The whole state in one line of text."""
        finished = self.progress.finished
        head = f"[{format_duration(self.elapsed)}] {finished}"
        if self.total is None:  # standard input: no end known yet
            head += " finished"
        else:
            percent = 100 * finished // self.total if self.total else 100
            head += f"/{self.total} finished ({percent}%)"
        parts: list[str | tuple[str, str]] = [head]
        for name, count in self.counts():
            parts += [" · ", (f"{count} {name}", _STYLES.get(name, "magenta"))]
        parts += [self._money(), self._speed()]
        return Text.assemble(*parts)

    def _money(self) -> str:
        """`` · $1.20 spent · ~$3.00 total of $5.00 budget``: once anything is known."""
        progress = self.progress
        spent, coming = progress.spent_usd, progress.in_flight_usd
        if not spent and not coming and self.budget is None:
            return ""
        text = f" · {format_usd(spent)} spent"
        of_budget = f" of {format_usd(self.budget)} budget" if self.budget is not None else ""
        if coming and progress.in_flight:
            # With the jobs in flight, which are estimated until they report their cost (a
            # hold released leaves a float's dust: only jobs in flight make a total worth
            # showing).
            text += f" · ~{format_usd(progress.estimated_usd)} total"
        return text + of_budget

    def _speed(self) -> str:
        text = ""
        rate = self.throughput()
        if rate is not None:
            text += f" · {rate:.1f} jobs/s"
        eta = self.eta()
        if eta is not None:
            text += f" · ETA {format_duration(eta)}"
        if self.retries:
            text += f" · {self.retries} retries"
        if self.submit_rate is not None:
            text += f" · submits slowed to {self.submit_rate:.1f}/s (rate limited)"
        return text


class LineDisplay(BatchDisplay):
    """Plain progress lines every few seconds, and one at the end (not a terminal).

    Args:
        quiet: no periodic lines, only failures (``-q``).
    """

    def __init__(
        self,
        streams: Streams,
        total: int | None,
        lines: Mapping[int, int],
        *,
        quiet: bool = False,
        verbose: bool = False,
        budget: float | None = None,
    ) -> None:
        super().__init__(streams, total, lines, verbose=verbose, budget=budget)
        self.quiet = quiet
        self.interval = None if quiet else PLAIN_PROGRESS_INTERVAL_S

    def redraw(self) -> None:
        self.streams.err.print(self.status_line(), soft_wrap=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.quiet:
            self.redraw()


class LiveDisplay(BatchDisplay):
    """A live display on a terminal: bar, counts per state, throughput and ETA."""

    interval = LIVE_REFRESH_S

    def __init__(
        self,
        streams: Streams,
        total: int | None,
        lines: Mapping[int, int],
        *,
        verbose: bool = False,
        budget: float | None = None,
    ) -> None:
        super().__init__(streams, total, lines, verbose=verbose, budget=budget)
        # Redrawn by our own ticker on the event loop, not by a rich thread, so that the
        # counters are read between the batch's steps. Standard output is left alone: it
        # carries --json lines, which must not be routed through the display.
        self._live = Live(
            console=streams.err,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=self._renderable,
        )

    def _renderable(self) -> RenderableType:
        finished = self.progress.finished
        head = Table.grid(padding=(0, 1))
        head.add_row(
            ProgressBar(
                # No total (standard input): a bar that pulses.
                total=None if self.total is None else max(self.total, 1),
                completed=finished,
                width=CLI_BAR_WIDTH,
            ),
            Text(f"{finished}/{self.total}" if self.total is not None else f"{finished}",
                 style="bold"),
            Text(f"{format_duration(self.elapsed)} elapsed{self._money()}{self._speed()}",
                 style="dim"),
        )
        counts = Text("  ").join(
            Text.assemble((f"{count}", _STYLES.get(name, "magenta")), f" {name}")
            for name, count in self.counts()
        )
        return Group(head, counts)

    def redraw(self) -> None:
        self._live.refresh()

    def show_line(self, text: Text) -> None:
        # The display is drawn again under the line from its last rendering: bring its
        # counts up to date first, or it would show the failure line over "0 failed".
        self._live.refresh()
        super().show_line(text)

    def __enter__(self) -> LiveDisplay:
        self._live.start(refresh=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.refresh()
        self._live.stop()
