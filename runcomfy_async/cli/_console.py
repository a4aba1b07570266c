"""Where the command line writes, and how library logs reach the person.

Standard output carries a command's answer (a request id, output URLs, JSON lines), so that
it can be piped; everything meant for the person (progress, logs, errors, hints) goes to
standard error. Text built from data (prompts, server messages) is written as plain text,
never parsed as rich markup: a prompt like ``[bold]`` must print as typed.

When the reader of standard output goes away (``--json | head -1``), writing raises
:class:`OutputClosed` once, and standard output is pointed at the null device so that nothing
else (the interpreter's last flush included) trips over the broken pipe again.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

import attrs
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

from .._constants import LOGGER_NAME

__all__ = [
    "OutputClosed",
    "RecordCount",
    "Streams",
    "configure_logging",
    "hidden_records",
    "make_streams",
    "silence_stdout",
]


class OutputClosed(Exception):
    """Standard output's reader went away: nothing more can be written there."""


def silence_stdout() -> None:
    """Point standard output's file descriptor at the null device (after a broken pipe)."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


@attrs.frozen
class Streams:
    """The two consoles of a command.

    Attributes:
        out: standard output, for answers (tables use it; JSON goes through :meth:`emit`).
        err: standard error, for the person.
    """

    out: Console
    err: Console

    @property
    def interactive(self) -> bool:
        """True when a person watches standard error on a terminal."""
        return self.err.is_terminal

    def emit(self, line: str) -> None:
        """Write one line to standard output as is (no wrapping, no colour) and flush it, so
        that a consumer reading a pipe sees each result as it arrives.

        Raises:
            OutputClosed: the reader of standard output has gone away.
        """
        try:
            self.out.file.write(line + "\n")
            self.out.file.flush()
        except BrokenPipeError:
            silence_stdout()
            raise OutputClosed from None

    def emit_json(self, value: Any) -> None:
        """Write one value as one line of compact JSON to standard output."""
        self.emit(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def say(self, *parts: str | tuple[str, str]) -> None:
        """Write a line to standard error: plain strings, or ``(text, style)`` pairs."""
        self.err.print(Text.assemble(*parts), soft_wrap=True)

    def error(self, message: str) -> None:
        """Write an error to standard error, prefixed so that it stands out in a log."""
        self.say(("error: ", "bold red"), message)


def make_streams() -> Streams:
    """Consoles on the process's standard output and standard error."""
    # soft_wrap: long lines (a resume command, a URL) must stay copyable, not be cut in two.
    return Streams(
        out=Console(file=sys.stdout, soft_wrap=True, highlight=False),
        err=Console(file=sys.stderr, soft_wrap=True, highlight=False),
    )


def configure_logging(verbosity: int, streams: Streams) -> None:
    """Send the library's log records to standard error at the level asked for.

    Args:
        verbosity: ``-v`` count minus ``-q`` count: below 0 errors only, 0 warnings,
            1 information, 2 and more debugging.
        streams: where records are written; on a terminal through rich, so that they
            appear above a live progress display instead of tearing it.
    """
    level = (
        logging.ERROR
        if verbosity < 0
        else {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    )
    handler: logging.Handler
    if streams.interactive:
        handler = RichHandler(
            console=streams.err, show_path=False, markup=False, rich_tracebacks=False
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(streams.err.file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level)


class _Hide(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self._prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self._prefixes))


@contextlib.contextmanager
def hidden_records(*prefixes: str) -> Iterator[None]:
    """Drop the library's log records whose message starts with one of ``prefixes`` while
    the block runs: those the command shows in its own words (a line per failure, the
    report of an interrupted batch), so that nothing is said twice."""
    logger = logging.getLogger(LOGGER_NAME)
    hide = _Hide(prefixes)
    logger.addFilter(hide)
    try:
        yield
    finally:
        logger.removeFilter(hide)


class RecordCount(logging.Filter):
    """Holds back the library's log records whose message starts with ``prefix``, and
    counts them: for a line the library logs once per job, which the command says once.

    Args:
        prefix: the start of the message (its format string, before ``%`` arguments).

    Attributes:
        count: how many records were held back.
    """

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(self._prefix):
            self.count += 1
            return False
        return True

    @contextlib.contextmanager
    def installed(self) -> Iterator[RecordCount]:
        """Hold back and count while the block runs."""
        logger = logging.getLogger(LOGGER_NAME)
        logger.addFilter(self)
        try:
            yield self
        finally:
            logger.removeFilter(self)
