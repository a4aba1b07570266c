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
    """

    streams: Streams
    interrupt: Interrupt
    service: ServiceOptions
    program: tuple[str, ...]
    arguments: tuple[str, ...]

    def command(self, *arguments: str) -> str:
        """A shell command line running this program with these arguments."""
        return shlex.join([*self.program, *arguments])

    def same_command_with(self, flag: str) -> str:
        """This very command line, with ``flag`` added unless it is there already."""
        extra = () if flag in self.arguments else (flag,)
        return self.command(*self.arguments, *extra)
