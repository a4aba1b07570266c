"""Ctrl-C: the first one stops the command cleanly, the second one at once.

The first SIGINT cancels the scope the command registered. For a batch that means leaving
its ``async with`` block, which stops submitting, cancels the jobs still queued (bounded by
the batch's cancel timeout), and closes the journal and manifest; the command then says
what could not be cancelled and how to resume. Waiting for that can take seconds, so a
second SIGINT ends the process on the spot with ``os._exit``: the journal stays consistent
because every write it acknowledged is already committed (SQLite in WAL mode), and a submit
that was on the wire is recorded as an intent that a resumed run reports instead of paying
for again.

The handler is installed on the running event loop (``loop.add_signal_handler``), so it
runs between callbacks, never in the middle of a journal write or an HTTP exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator

import anyio

from ._exit_codes import INTERRUPTED

__all__ = ["Interrupt"]

# Shows the cursor again: a live display hides it, and os._exit skips rich's clean-up.
_SHOW_CURSOR = "\x1b[?25h"


class Interrupt:
    """SIGINT handling for one command run.

    Args:
        say: writes a line for the person (to standard error).
        interactive: standard error is a terminal (the cursor may need restoring).
    """

    def __init__(self, say: Callable[[str], None], *, interactive: bool) -> None:
        self._say = say
        self._interactive = interactive
        self._scope: anyio.CancelScope | None = None
        self.requested = False
        self.parting_words = ""
        """Printed before exiting on a second Ctrl-C (how to resume, for a batch)."""

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT on the running loop while the block runs.

        Where the loop cannot take signal handlers (Windows), Ctrl-C keeps its default
        behaviour: a KeyboardInterrupt.
        """
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        except (NotImplementedError, RuntimeError):
            yield
            return
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    @contextlib.contextmanager
    def stops(self) -> Iterator[anyio.CancelScope]:
        """A scope that the first Ctrl-C cancels; the block ends quietly when it does.

        Scopes nest: Ctrl-C cancels the innermost one, so that a batch inside a command
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

    def _on_sigint(self) -> None:
        if self.requested:
            self._exit_now()
        self.requested = True
        self._say("interrupted: stopping (press Ctrl-C again to exit at once)")
        if self._scope is not None:
            self._scope.cancel()

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
            os._exit(INTERRUPTED)
