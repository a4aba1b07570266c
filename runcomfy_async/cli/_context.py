"""What every command is given: where to write, Ctrl-C, the service, its own command line."""

from __future__ import annotations

import shlex

import attrs

from ._connection import ServiceOptions
from ._console import Streams
from ._interrupt import Interrupt

__all__ = ["Context"]


@attrs.frozen(kw_only=True)
class Context:
    """One run of the command line.

    Attributes:
        streams: standard output and standard error.
        interrupt: Ctrl-C handling.
        service: which service to use and how.
        program: the words that start the program (``runcomfy-async``, or the Python
            interpreter and ``-m runcomfy_async``).
        arguments: the arguments it was given.
        verbosity: ``-v`` count minus ``-q`` count: below 0 quiet (errors, and what a person
            must know to resume), 0 the usual words, 1 and more per-job detail.
    """

    streams: Streams
    interrupt: Interrupt
    service: ServiceOptions
    program: tuple[str, ...]
    arguments: tuple[str, ...]
    verbosity: int = 0

    @property
    def quiet(self) -> bool:
        """``-q``: say nothing that is not an error or needed to resume."""
        return self.verbosity < 0

    @property
    def verbose(self) -> bool:
        """``-v``: add per-job detail."""
        return self.verbosity > 0

    def command(self, *arguments: str) -> str:
        """A shell command line running this program with these arguments."""
        return shlex.join([*self.program, *arguments])

    def service_arguments(self) -> tuple[str, ...]:
        """The options that chose the service, for a command this one suggests running
        next (the token file's path is not the token; the token is never shown)."""
        service = self.service
        found: list[str] = []
        if service.base_url is not None:
            found += ["--base-url", service.base_url]
        if service.token_file is not None:
            found += ["--token-file", service.token_file]
        return tuple(found)

    def same_command_with(self, flag: str) -> str:
        """This very command line, with ``flag`` added unless it is there already."""
        extra = () if flag in self.arguments else (flag,)
        return self.command(*self.arguments, *extra)
