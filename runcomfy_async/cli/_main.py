"""The body of the ``runcomfy-async`` entry point: parse, configure output, dispatch."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from ..core._errors import RunComfyError
from ._connection import ServiceOptions
from ._console import OutputClosed, configure_logging, make_streams, silence_stdout
from ._context import Context
from ._exit_codes import (
    BROKEN_PIPE,
    INTERRUPTED,
    USAGE,
    CommandError,
    exit_code_for,
    is_local_write_failure,
)
from ._interrupt import Interrupt
from ._parser import build_parser, parse_arguments

__all__ = ["main"]

PROGRAM: tuple[str, ...] = ("runcomfy-async",)
# The status argparse exits with on a usage error.
_ARGPARSE_USAGE = 2

Command = Callable[[Context, argparse.Namespace], Awaitable[int]]


def main(argv: Sequence[str] | None = None, *, program: Sequence[str] = PROGRAM) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        program: the words that start the program, for help texts and the resume command
            a batch prints (``python -m runcomfy_async`` passes its own).
    """
    arguments = tuple(sys.argv[1:] if argv is None else argv)
    # Help texts name the interpreter by its name; the resume command keeps its full path.
    parser = build_parser(" ".join([Path(program[0]).name, *program[1:]]))
    try:
        args = parse_arguments(parser, arguments)
    except SystemExit as exit_:
        # --help, --version and usage errors end here, with argparse's code (0 or 64).
        return exit_.code if isinstance(exit_.code, int) else 0
    if args.command == "sandbox":
        return _serve_sandbox(args.sandbox_args, f"{parser.prog} sandbox")
    streams = make_streams()
    configure_logging(args.verbose - args.quiet, streams)
    service = ServiceOptions(
        base_url=args.base_url,
        token_file=args.token_file,
        sandbox=args.sandbox,
        sandbox_time_scale=args.sandbox_time_scale,
        retries=args.retries,
        download_origins=tuple(args.download_origins),
    )

    def warn(text: str) -> None:
        streams.say((text, "yellow"))

    async def run() -> int:
        context = Context(
            streams=streams,
            interrupt=Interrupt(warn, interactive=streams.interactive),
            service=service,
            program=tuple(program),
            arguments=arguments,
            verbosity=args.verbose - args.quiet,
        )
        return await _run_command(context, _command(args), args)

    try:
        code = asyncio.run(run())
        sys.stdout.flush()
    except KeyboardInterrupt:
        # Ctrl-C where the event loop could not take it over (Windows, or while starting).
        return INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return BROKEN_PIPE
    return code


def _serve_sandbox(arguments: Sequence[str], prog: str) -> int:
    """The ``sandbox`` command: the standalone server, on its own event loop until SIGINT."""
    # Imported here: the sandbox (aiohttp.web, Pillow) is not needed otherwise. Without
    # Pillow it says what to install in one line and exits 69 (UNAVAILABLE) itself.
    from ..sandbox._standalone import serve_main

    try:
        return serve_main(arguments, prog=prog)
    except SystemExit as exit_:
        # Its parser exits 2 on a usage error, as argparse does; ours say 64 everywhere.
        code = exit_.code if isinstance(exit_.code, int) else 0
        return USAGE if code == _ARGPARSE_USAGE else code


def _command(args: argparse.Namespace) -> Command:
    # Imported when chosen: a quick `status` need not import the batch machinery.
    if args.command == "batch":
        from ._batch_command import batch_command

        return batch_command
    if args.command == "models":
        from ._model_commands import models_get_command, models_list_command

        return models_list_command if args.models_command == "list" else models_get_command
    from . import _job_commands

    commands: dict[str, Command] = {
        "run": _job_commands.run_command,
        "submit": _job_commands.submit_command,
        "status": _job_commands.status_command,
        "result": _job_commands.result_command,
        "wait": _job_commands.wait_command,
        "cancel": _job_commands.cancel_command,
    }
    return commands[args.command]


async def _run_command(context: Context, command: Command, args: argparse.Namespace) -> int:
    """Run a command with Ctrl-C handled; turn the errors that end it into exit codes."""
    interrupt = context.interrupt
    code = INTERRUPTED
    with interrupt.installed():
        try:
            with interrupt.stops():
                code = await command(context, args)
        except (OutputClosed, BrokenPipeError):
            # The reader of standard output went away: end as Unix tools do, quietly.
            silence_stdout()
            return BROKEN_PIPE
        except (CommandError, RunComfyError) as exc:
            context.streams.error(str(exc))
            if isinstance(exc, CommandError) and exc.hint:
                context.streams.say(exc.hint)
            return exit_code_for(exc)
        except OSError as exc:
            if not is_local_write_failure(exc):
                raise
            # A full disk or a folder gone read-only under a command: one line, not a trace.
            where = f"{exc.filename}: " if exc.filename else ""
            context.streams.error(f"cannot write {where}{exc.strerror or exc}")
            return exit_code_for(exc)
    return interrupt.exit_code if interrupt.requested else code
