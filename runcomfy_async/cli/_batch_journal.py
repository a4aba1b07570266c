"""A batch's journal before the batch opens it: whose it is, and what a sandbox took with it.

Two rules keep a journal from being resumed against the wrong service:

- a journal that already holds a batch is continued only with ``--resume``;
- a ``--sandbox`` batch marks its journal (a ``<journal>.sandbox`` file beside it), and a
  marked journal is resumed only with ``--sandbox``, an unmarked one only without it.

Why a sandbox journal is different: the sandbox runs inside the command and ends with it,
jobs and files included. Nothing it ran was billed, and a new sandbox does not know the old
one's request ids (it would answer 404, and the inputs would end ``expired`` for good). So
before a resumed ``--sandbox`` batch starts, every input whose job, or whose files, went
away with the previous sandbox is journaled ``withdrawn``: the state of a job that never
cost anything, which the batch submits again. Inputs that ended (failed, cancelled) or whose
files are all on disk intact stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import anyio

from .._constants import RESUME_PAGE_SIZE
from ..core._errors import RunComfyError
from ..core._lifecycle import InputState
from ..core._parse import parse_result
from ..store.downloads._folder import OutputFolder
from ..store.journal import Journal, JournalEntry
from ._exit_codes import USAGE, CommandError

__all__ = [
    "RESUME_FLAG",
    "SANDBOX_MARK_SUFFIX",
    "check_journal",
    "journaled_beyond",
    "mark_sandbox_journal",
    "release_sandbox_jobs",
]

SANDBOX_MARK_SUFFIX: Final = ".sandbox"
RESUME_FLAG: Final = "--resume"
_MARK_TEXT: Final = (
    "This journal belongs to a batch run with --sandbox: its jobs ran in a sandbox that ended\n"
    "with the command, and were never billed. Resume it only with --sandbox.\n"
)
# Where a job may still be queued, running or remembered: only the sandbox that had it knew.
_WITH_THE_SANDBOX: Final = frozenset(
    {
        InputState.INTENT,
        InputState.SUBMITTED,
        InputState.TIMED_OUT,
        InputState.UNKNOWN,
        InputState.EXPIRED,
    }
)
_RELEASED: Final = {
    "message": "the --sandbox that ran this job ended with its command (nothing was billed); "
    "a resumed --sandbox batch submits the input again"
}


def _mark(journal: Path) -> Path:
    return journal.with_name(journal.name + SANDBOX_MARK_SUFFIX)


async def check_journal(journal: Path, *, resume: bool, sandbox: bool) -> None:
    """Refuse a journal that holds another batch (unless resuming it) or that belongs to the
    other kind of service.

    Raises:
        CommandError: the journal holds a batch and ``--resume`` was not given, or it was run
            with ``--sandbox`` and this command is not, or the other way round (64).
    """
    mark = anyio.Path(_mark(journal))
    known: int | None = None
    if await anyio.Path(journal).exists():
        async with Journal(journal) as opened:
            known = await opened.max_index()
    if known is None:
        # A new batch: a mark left by a run that sent nothing means nothing.
        if not sandbox and await mark.exists():
            await mark.unlink()
        return
    if not resume:
        raise CommandError(
            f"{journal} already holds a batch ({known + 1} inputs started). To continue it, "
            f"run the same command again with {RESUME_FLAG}; to start a new batch, choose "
            "another --out folder (or --journal file).",
            USAGE,
        )
    marked = await mark.exists()
    if marked and not sandbox:
        raise CommandError(
            f"{journal} holds a --sandbox batch: its jobs ran in a sandbox that has ended, "
            "and no other service knows them. Resume it with --sandbox (its unfinished "
            "inputs are submitted again, at no cost), or choose another --out folder.",
            USAGE,
        )
    if sandbox and not marked:
        raise CommandError(
            f"{journal} holds a batch run against a service, not --sandbox: a sandbox does not "
            "know its jobs, and resuming it there would lose track of them. Resume it without "
            "--sandbox (with the --base-url it ran against), or choose another --out folder.",
            USAGE,
        )


async def journaled_beyond(journal: Path, count: int) -> int:
    """How many inputs the journal holds at index ``count`` or after: those of an earlier,
    longer input file (a batch stopped, then resumed with fewer lines). The batch collects
    their jobs, or reports them as they stand, after this run's ``count`` inputs; the
    progress and the summary count them too.

    Reads the journal a page at a time, and only when it reaches that far.
    """
    if not await anyio.Path(journal).exists():
        return 0
    beyond = 0
    async with Journal(journal) as opened:
        last = await opened.max_index()
        start = count
        while last is not None and start <= last:
            page = await opened.entries(start, RESUME_PAGE_SIZE)
            if not page:
                break
            beyond += len(page)
            start = page[-1].index + 1
    return beyond


async def mark_sandbox_journal(journal: Path) -> None:
    """Mark the journal as a ``--sandbox`` batch's, before the batch writes to it."""
    mark = anyio.Path(_mark(journal))
    await mark.parent.mkdir(parents=True, exist_ok=True)
    await mark.write_text(_MARK_TEXT, encoding="utf-8")


async def release_sandbox_jobs(journal: Path, out_dir: Path) -> int:
    """Journal as ``withdrawn`` every input whose job or files ended with an earlier
    ``--sandbox`` run, so that this run submits it again; return how many.

    Reads the journal a page at a time. Call it only for a journal :func:`check_journal`
    found marked, before the batch opens it.
    """
    folder = OutputFolder(str(await anyio.Path(out_dir).resolve()), {})
    released = 0
    async with Journal(journal) as opened:
        start = 0
        while True:
            page = await opened.entries(start, RESUME_PAGE_SIZE)
            if not page:
                return released
            gone = await anyio.to_thread.run_sync(_gone_with_the_sandbox, page, folder)
            for index in gone:
                await opened.record_finished(index, InputState.WITHDRAWN, error=_RELEASED)
            released += len(gone)
            start = page[-1].index + 1


def _gone_with_the_sandbox(page: Sequence[JournalEntry], folder: OutputFolder) -> list[int]:
    """The indices of a page whose job, or whose files, only the old sandbox had (blocking:
    it hashes the files on disk)."""
    return [
        entry.index
        for entry in page
        if entry.state in _WITH_THE_SANDBOX
        or (entry.state is InputState.SUCCEEDED and not _files_intact(entry, folder))
    ]


def _files_intact(entry: JournalEntry, folder: OutputFolder) -> bool:
    """True when every output of a succeeded entry is on disk as recorded (or it had none)."""
    if entry.result is None:
        return True
    try:
        outputs = parse_result(entry.result, request_id=entry.request_id).outputs
    except (RunComfyError, RecursionError):
        return True  # the batch will say what it makes of it
    recorded = {stored.url: stored for stored in entry.files}
    return all(url in recorded and folder.is_intact(recorded[url]) for url in outputs)
