"""``batch --dry-run``: what a batch would cost, said before anything is sent.

The inputs have been read and checked exactly as a real run reads and checks them (the
``batch`` command's steps 1, 3 and 4); here they are priced from the catalog
(``client.estimate``) and the estimate is printed: per model the jobs, the outputs they
would make, the price and the pricing note, the estimated cost, then the total. Nothing is
submitted, and no folder or journal is created.

An estimate is exact only for models billed per output file. A model billed per second of
run time has none unless ``--assume-seconds`` says how long a job runs, and then it rests
on that assumption: both cases are marked ``?`` and say why, in the words and options of the
command line (the library's words name its keyword arguments).

``--budget`` needs an estimate of every job before it is sent, so the same wording explains
why a budget cannot be kept (:func:`budget_problem`), before anything is sent.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from rich.text import Text

from ..client._client import AsyncRunComfy
from ..core._cost import Estimate, EstimateLine
from ..core._wire import Price
from ._context import Context
from ._exit_codes import SUCCESS
from ._input_files import STDIN_NAME
from ._money import format_usd

__all__ = ["budget_problem", "dry_run", "unestimated"]

_UNCERTAIN_STYLE = "bold yellow"


def unestimated(price: Price | None, assume_seconds: float | None) -> str | None:
    """Why a model's jobs cannot be estimated, in the command line's words; None when they
    can (priced per output, or per second with ``--assume-seconds``)."""
    if price is None:
        return "the catalog gives no price for it"
    if price.per_output:
        return None
    if price.per_second:
        if assume_seconds is None:
            return "it is billed per second of run time: cannot be estimated without " \
                "--assume-seconds"
        return None
    return f"it is billed per {price.unit!r}, a unit this version cannot estimate"


def budget_problem(model_id: str, price: Price | None, assume_seconds: float | None) -> str | None:
    """Why ``--budget`` cannot be kept for a model's jobs (None when it can): a budget needs
    each job's estimate before the job is sent."""
    why = unestimated(price, assume_seconds)
    if why is None:
        return None
    fix = (
        "add --assume-seconds S (how long to assume each job runs), or leave out --budget"
        if price is not None and price.per_second
        else "leave out --budget (the batch still reports what each job cost)"
    )
    return (
        f"--budget needs an estimate of every job before it is sent, and {model_id} has "
        f"none: {why}; {fix}"
    )


async def dry_run(
    context: Context,
    args: argparse.Namespace,
    client: AsyncRunComfy,
    items: Sequence[tuple[str, dict[str, Any]]],
    *,
    journal: Path,
) -> int:
    """Price the checked inputs and print the estimate (``--json``: as one object).

    Args:
        context: the command's context.
        args: its arguments (``--assume-seconds``, ``--budget``, ``--json``).
        client: the client, whose catalog has the models' prices (cached by the checks).
        items: the checked inputs, as ``(model_id, payload)``.
        journal: the journal a real run would use: when it holds an earlier run, resuming
            would send fewer inputs than are priced here, and the person is told.
    """
    # Already checked against the schemas: checking again would only ask the catalog twice.
    estimate = await client.estimate(
        None, items, assume_run_s=args.assume_seconds, validate=False
    )
    streams = context.streams
    if args.json:
        streams.emit_json(estimate.as_json())
    else:
        for text in _estimate_text(estimate, args):
            streams.out.print(text, soft_wrap=True)
    if await anyio.Path(journal).exists() and not context.quiet:
        streams.say(
            ("note: ", "bold"),
            f"{journal} holds an earlier run of this batch: resuming it (--resume) sends only "
            "the inputs not finished, so it costs less than this estimate of every input",
        )
    return SUCCESS


def _estimate_text(estimate: Estimate, args: argparse.Namespace) -> list[Text]:
    name = "standard input" if args.input == STDIN_NAME else args.input
    texts = [Text(f"What {name} would cost:", style="bold")]
    for line in estimate.lines:
        texts += _model_text(line, args.assume_seconds)
    texts.append(_total_text(estimate, args.assume_seconds))
    if args.budget is not None and estimate.total_usd is not None:
        texts.append(_budget_text(estimate.total_usd, args.budget))
    texts.append(Text("Nothing was sent (--dry-run).", style="dim"))
    return texts


def _model_text(line: EstimateLine, assume_seconds: float | None) -> list[Text]:
    texts = [Text(f"  {line.model_id}", style="bold")]
    outputs = _outputs(line.jobs, line.outputs)
    price = f", at {_price(line.price)}" if line.price is not None else ""
    texts.append(Text(f"    {outputs}{price}"))
    why = unestimated(line.price, assume_seconds)
    if line.usd is None or why is not None:
        texts.append(Text.assemble("    estimated: ", ("? ", _UNCERTAIN_STYLE),
                                   f"unknown: {why or 'no estimate'}"))
    elif line.assumed_run_s is not None:
        texts.append(Text.assemble(
            f"    estimated: ~{format_usd(line.usd)} ", ("? ", _UNCERTAIN_STYLE),
            f"assumes each job runs {line.assumed_run_s:g} s (--assume-seconds); it is "
            "billed per second of actual run time",
        ))
    else:
        texts.append(Text(f"    estimated: {format_usd(line.usd)}"))
    if line.price is not None and line.price.note:
        texts.append(Text(f"    pricing note: {line.price.note}", style="dim"))
    return texts


def _total_text(estimate: Estimate, assume_seconds: float | None) -> Text:
    head = f"Total: {_count(estimate.jobs, 'job')}, {_count(estimate.outputs, 'output')}: "
    total = estimate.total_usd
    if total is not None and estimate.certain:
        return Text.assemble(head, (f"estimated {format_usd(total)}", "bold"))
    if total is not None:
        return Text.assemble(
            head, (f"estimated ~{format_usd(total)}", "bold"), " ", ("? ", _UNCERTAIN_STYLE),
            f"rests on --assume-seconds {assume_seconds:g}",
        )
    unknown = sum(line.jobs for line in estimate.lines if line.usd is None)
    known = (
        f"at least {format_usd(estimate.known_usd)}" if estimate.known_usd else "unknown"
    )
    return Text.assemble(
        head, (f"estimated {known}", "bold"), " ", ("? ", _UNCERTAIN_STYLE),
        f"{_count(unknown, 'job')} cannot be estimated (see above)",
    )


def _budget_text(total: float, budget: float) -> Text:
    if total <= budget:
        return Text(f"Within the --budget of {format_usd(budget)}.")
    return Text.assemble(
        ("Over the --budget ", "bold yellow"),
        f"of {format_usd(budget)}: the batch would stop submitting before passing it and hold "
        "back the inputs left (exit 3); resuming with a larger --budget sends them.",
    )


def _outputs(jobs: int, outputs: int) -> str:
    if jobs and outputs % jobs == 0:
        each = outputs // jobs
        return f"{_count(jobs, 'job')} × {_count(each, 'output')} = {_count(outputs, 'output')}"
    return f"{_count(jobs, 'job')}, {_count(outputs, 'output')} in all"


def _price(price: Price) -> str:
    return f"{format_usd(price.usd)} per {price.unit}"


def _count(number: int, word: str) -> str:
    return f"{number:,} {word}{'' if number == 1 else 's'}"
