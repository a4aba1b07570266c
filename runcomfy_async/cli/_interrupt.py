"""Stopping a command early: Ctrl-C, SIGTERM, and the reasons a command finds itself.

The first SIGINT (or SIGTERM, which a service manager or ``timeout`` sends) cancels the scope
the command registered. For a batch that means leaving its ``async with`` block, which stops
submitting, cancels the jobs still queued (bounded by the batch's cancel timeout), and closes
the journal and manifest; the command then says what happened and how to resume. Waiting for
that can take seconds, so a second signal ends the process on the spot with ``os._exit``: the
journal stays consistent because every write it acknowledged is already committed (SQLite in
WAL mode), and a submit that was on the wire is recorded as an intent that a resumed run
reports instead of paying for again.

A command can stop itself the same way (:meth:`Interrupt.stop`): a batch does when standard
output is closed under it (``--json | head -1``) or when its files can no longer be written.
Each reason carries the exit code the command ends with.

The handlers are installed on the running event loop (``loop.add_signal_handler``), so they
run between callbacks, never in the middle of a journal write or an HTTP exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator

import anyio

from ._exit_codes import INTERRUPTED, TERMINATED

__all__ = ["Interrupt"]

# Shows the cursor again: a live display hides it, and os._exit skips rich's clean-up.
_SHOW_CURSOR = "\x1b[?25h"
# What each signal says and the code the command then exits with.
_SIGNALS: dict[signal.Signals, tuple[str, int]] = {
    signal.SIGINT: ("interrupted: stopping (press Ctrl-C again to exit at once)", INTERRUPTED),
}
if sys.platform != "win32":  # pragma: no branch
    _SIGNALS[signal.SIGTERM] = (
        "terminated: stopping (send SIGTERM again, or press Ctrl-C, to exit at once)",
        TERMINATED,
    )


class Interrupt:
    """Early stops of one command run.

    Args:
        say: writes a line for the person (to standard error).
        interactive: standard error is a terminal (the cursor may need restoring).

    Attributes:
        requested: the command was asked to stop (by a signal or by itself).
        exit_code: the code the stop asks the command to exit with.
        parting_words: printed before exiting on a second signal (how to resume, for a batch).
    """

    def __init__(self, say: Callable[[str], None], *, interactive: bool) -> None:
        self._say = say
        self._interactive = interactive
        self._scope: anyio.CancelScope | None = None
        self.requested = False
        self.exit_code = INTERRUPTED
        self.parting_words = ""

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT and SIGTERM on the running loop while the block runs.

        Where the loop cannot take signal handlers (Windows), Ctrl-C keeps its default
        behaviour: a KeyboardInterrupt.
        """
        loop = asyncio.get_running_loop()
        added: list[signal.Signals] = []
        try:
            for signum in _SIGNALS:
                loop.add_signal_handler(signum, self._on_signal, signum)
                added.append(signum)
        except (NotImplementedError, RuntimeError):
            pass
        try:
            yield
        finally:
            for signum in added:
                loop.remove_signal_handler(signum)

    @contextlib.contextmanager
    def stops(self) -> Iterator[anyio.CancelScope]:
        """A scope that the first stop cancels; the block ends quietly when it does.

        Scopes nest: a stop cancels the innermost one, so that a batch inside a command
        can stop cleanly and the command still reports what happened.
        """
        outer = self._scope
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self.requested:
                scope.cancel()
            try:
                yield scope
            finally:
                self._scope = outer

    def stop(self, exit_code: int, message: str | None = None) -> None:
        """Stop the command as the first Ctrl-C would; the first reason given wins.

        Args:
            exit_code: what the command exits with.
            message: said to the person, if anything.
        """
        if self.requested:
            return
        self.requested = True
        self.exit_code = exit_code
        if message:
            self._say(message)
        if self._scope is not None:
            self._scope.cancel()

    def _on_signal(self, signum: signal.Signals) -> None:
        if self.requested:
            self._exit_now()
        message, code = _SIGNALS[signum]
        self.stop(code, message)

    def _exit_now(self) -> None:
        # Straight to the file descriptor: the exit must wait on no console lock or buffer.
        text = "\ninterrupted again: exiting now."
        if self.parting_words:
            text += " " + self.parting_words
        if self._interactive:
            text = _SHOW_CURSOR + text
        try:
            os.write(sys.stderr.fileno(), (text + "\n").encode("utf-8", "replace"))
        finally:
            os._exit(self.exit_code)
