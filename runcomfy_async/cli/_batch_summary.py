"""What a batch run says at its end: what happened, what it cost, and how to go on.

- the summary: how many inputs finished and how, what they cost (the sum of the costs the
  service reported), where the files, the manifest, the gallery and the journal are;
- a batch stopped for money: at its ``--budget`` (exit 3: raise it and resume) or because
  the RunComfy balance ran out (exit 77: top up and resume). The inputs it did not send are
  held back, not failed, and the words say so; this part is said even under ``-q``, since
  it is how to resume;
- a batch stopped by Ctrl-C or SIGTERM: what became of the jobs still pending, and how to
  resume.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import attrs

from .._constants import MANIFEST_NAME, REQUEST_IDS_SHOWN
from ..batch import Batch, Outcome, OutcomeState
from ._context import Context
from ._exit_codes import BUDGET_REACHED, NO_PERMISSION
from ._money import format_usd
from ._outcomes import held_back
from ._progress import BatchDisplay, format_duration

__all__ = ["BatchSummary", "Tally"]

# States whose words in the summary are not their journal spelling.
_STATE_WORDS = {"over_budget": "held back"}


@attrs.define
class Tally:
    """What one run's outcomes added up to, counted as they come.

    Attributes:
        states: outcomes per state.
        incomplete: outcomes that did not end with their files on disk, not counting the
            inputs held back for money (they did not fail).
        held_back: inputs not sent for money (see :func:`._outcomes.held_back`).
        downloads_failed: succeeded jobs whose files could not be downloaded.
        reported_usd: the costs the service reported, added up (earlier runs' included).
        earlier_usd: the part of it reported to earlier runs (outcomes from the journal).
        priced: outcomes with a reported cost.
        beyond: outcomes of inputs journaled beyond this run's inputs (an earlier run's
            longer input file), collected from the journal.
    """

    states: Counter[str] = attrs.field(factory=Counter)
    incomplete: int = 0
    held_back: int = 0
    downloads_failed: int = 0
    reported_usd: float = 0.0
    earlier_usd: float = 0.0
    priced: int = 0
    beyond: int = 0

    def take(self, outcome: Outcome, *, beyond: bool = False) -> None:
        """Count one outcome (``beyond``: of an input journaled beyond this run's)."""
        self.states[outcome.state.value] += 1
        self.beyond += beyond
        if held_back(outcome):
            self.held_back += 1
        elif not outcome.ok or outcome.error is not None:
            self.incomplete += 1
        if outcome.ok and outcome.error is not None:
            self.downloads_failed += 1
        cost = outcome.cost_usd
        if cost is not None:
            self.priced += 1
            self.reported_usd += cost
            if outcome.from_journal:
                self.earlier_usd += cost


class BatchSummary:
    """The words at the end of one batch run.

    Args:
        context: the command's context.
        out_dir: the batch's folder.
        journal: its journal.
        resume: the command that resumes the batch.
        budget: the ``--budget``, if one was given.
    """

    def __init__(
        self, context: Context, out_dir: Path, journal: Path, resume: str, budget: float | None
    ) -> None:
        self.context = context
        self.out_dir = out_dir
        self.journal = journal
        self.resume = resume
        self.budget = budget

    def report(
        self,
        tally: Tally,
        batch: Batch,
        display: BatchDisplay,
        *,
        of: str,
        skipped: int,
        gallery: Path | None,
        beyond: str | None = None,
    ) -> None:
        """What happened: states, cost, where everything is.

        Args:
            tally: the run's outcomes.
            batch: the batch.
            display: its display (for the time it took and the failure lines left out).
            of: how many inputs there were (``"10 inputs"``, ``"12 inputs read"``), those
                journaled beyond the input file included.
            beyond: what became of the inputs journaled beyond the input file, if any
                (``"11 collected from the journal beyond the input file"``).
            skipped: invalid lines skipped (``--skip-invalid``).
            gallery: the gallery page, if it was written.
        """
        streams = self.context.streams
        if tally.downloads_failed:
            streams.say(
                ("warning: ", "bold yellow"),
                f"{tally.downloads_failed} job(s) succeeded but their files could not be "
                "downloaded; resuming the batch tries again",
            )
        if self.context.quiet:
            return
        done = sum(tally.states.values())
        parts = ", ".join(
            f"{tally.states[state.value]} "
            + _STATE_WORDS.get(state.value, state.value.replace("_", " "))
            for state in OutcomeState
            if state.is_final
            if tally.states[state.value]
        )
        replayed = batch.progress.from_journal
        notes = "; ".join(
            note for note in (
                f"{replayed} from the journal of an earlier run" if replayed else None, beyond
            ) if note
        )
        streams.say(
            (f"{done} of {of} finished", "bold"),
            f" in {format_duration(display.elapsed)}" + (f": {parts}" if parts else ""),
            f" ({notes})" if notes else "",
        )
        if tally.priced:
            streams.say(self._spent(tally))
        if display.failures_not_shown:
            streams.say(
                f"{display.failures_not_shown} failure line(s) were not shown (-v shows them "
                "all); every failure is in the manifest"
            )
        if skipped:
            streams.say(f"{skipped} invalid line(s) skipped (--skip-invalid)")
        streams.say("  files:    ", str(self.out_dir) + "/")
        streams.say("  manifest: ", str(self.out_dir / MANIFEST_NAME))
        if gallery is not None:
            streams.say("  gallery:  ", str(gallery))
        streams.say("  journal:  ", str(self.journal))

    def _spent(self, tally: Tally) -> str:
        who = "the --sandbox: nothing real was billed" if self.context.service.sandbox \
            else "the service"
        earlier = (
            f"; {format_usd(tally.earlier_usd)} of it in earlier runs"
            if tally.earlier_usd else ""
        )
        return f"spent {format_usd(tally.reported_usd)} (as reported by {who}{earlier})"

    def report_stop(self, tally: Tally, batch: Batch) -> int | None:
        """A batch stopped for money says so and how to go on; returns its exit code
        (None when it did not stop for money)."""
        stopped = batch.stopped
        if stopped is None:
            return None
        streams = self.context.streams
        held = f"{tally.held_back} input(s) not sent"
        if stopped.kind == "budget":
            budget = format_usd(self.budget) if self.budget is not None else "the budget"
            streams.say(
                ("stopped at the budget: ", "bold yellow"),
                f"spent {format_usd(batch.progress.spent_usd)} of {budget}; {held} (held "
                "back, not failed)",
            )
            streams.say(
                f"To send them, raise --budget (now {budget}) by editing it in the command "
                "below: it caps what the whole batch spends, earlier runs included."
            )
            streams.say(("To resume: ", "bold"), self.resume)
            return BUDGET_REACHED
        streams.say(
            f"{held} (held back, not failed); the jobs already submitted were collected"
        )
        streams.error(
            f"your RunComfy balance ran out after {batch.progress.submits} job(s); top up and "
            f"resume with: {self.resume}"
        )
        return NO_PERMISSION

    def report_unjournaled(self, count: int) -> None:
        """One line for the jobs cancelled at an early stop that the journal could not mark
        (the library logs each; a full disk would otherwise print one line per job)."""
        if count:
            self.context.streams.say(
                ("warning: ", "bold yellow"),
                f"{count} queued job(s) were cancelled before they ran (not billed), but the "
                "journal could not record it",
            )

    def report_interrupt(self, batch: Batch) -> None:
        """What became of the jobs still pending when Ctrl-C or SIGTERM stopped the batch."""
        streams = self.context.streams
        report = batch.cancel_report
        if self.context.service.sandbox:
            taken = len(report.cancelled) + len(report.not_cancelled) if report else 0
            streams.say(
                "Nothing was billed: the jobs ran in this command's --sandbox, which ends with "
                "it." + (
                    f" Resuming submits again the {taken} unfinished job(s) it takes with it."
                    if taken else ""
                )
            )
        else:
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
                    f"{len(report.not_cancelled)} job(s) could not be cancelled (running, or "
                    "the service did not answer): they will finish and be billed; resuming "
                    f"collects their results: {shown}" + (f" and {more} more" if more > 0 else ""),
                )
        streams.say(("To resume: ", "bold"), self.resume)
