"""The ``runcomfy-async`` command line (also ``python -m runcomfy_async``).

Thin by design: it parses arguments, reads input files and renders progress; submitting,
polling, retrying, journaling, resuming and downloading are the library's. The modules:

- ``_main``: the entry point's body; ``_parser``: the commands and options;
  ``_exit_codes``: what each exit code means;
- ``_connection``: the service (RunComfy, a base URL, or a sandbox in-process);
- ``_job_commands``, ``_model_commands``, ``_batch_command``: the commands;
- ``_batch_run``, ``_batch_journal``: one run of a batch, and its journal before it opens
  (``--resume``, and what a ``--sandbox`` took with it);
- ``_input_files``, ``_input_check``, ``_input_stream``: reading and checking a batch's
  inputs (standard input streamed);
- ``_progress``, ``_outcomes``, ``_job_output``, ``gallery``: what a person sees;
- ``_console``, ``_interrupt``, ``_context``: output streams, Ctrl-C and SIGTERM, and what a
  command gets.

This module imports nothing heavy: the command line's own dependencies (``rich``,
``jsonschema``) are an extra, and a missing one is a one-line message, not a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

PROGRAM: tuple[str, ...] = ("runcomfy-async",)
# The command line's extra; each name is a module it imports.
_NEEDS = ("rich", "jsonschema")
# EX_UNAVAILABLE: a required piece of software is missing.
_MISSING_SOFTWARE = 69


def main(argv: Sequence[str] | None = None, *, program: Sequence[str] = PROGRAM) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        program: the words that start the program, for help texts and the resume command
            a batch prints (``python -m runcomfy_async`` passes its own).
    """
    if (sys.argv[1:] if argv is None else list(argv)) == ["--version"]:
        # Answered before anything is imported (argparse, rich, the client, aiohttp): a
        # version check is instant. The parser's own --version prints the same line.
        from .._version import __version__

        prog = " ".join([os.path.basename(program[0]), *program[1:]])
        sys.stdout.write(f"{prog} {__version__}\n")
        return 0
    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        sys.stderr.write(
            f"runcomfy-async: the command line needs {', '.join(missing)}: "
            "pip install 'runcomfy-async[cli]'\n"
        )
        return _MISSING_SOFTWARE
    from ._main import main as run

    return run(argv, program=program)
