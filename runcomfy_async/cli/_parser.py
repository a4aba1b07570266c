"""The command line's grammar: commands, options, help texts, and usage errors as exit 64.

The options that choose the service (``--sandbox``, ``--base-url``, ``--token-file``,
``--retries``) and the verbosity flags are accepted before the command and after it
(``runcomfy-async batch prompts.txt --sandbox ...`` reads naturally), which argparse allows
only if they have no defaults in the sub-parsers: a sub-parser's default would overwrite a
value given before the command. They are declared once, defaults suppressed, and
:func:`parse_arguments` fills the defaults in afterwards.

They and the exit codes are described once, in the top-level help: each command's help
lists its own options and points there, rather than repeating forty lines.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .._constants import JOURNAL_FILE_NAME, MAX_IN_FLIGHT, SANDBOX_TIME_SCALE, WAIT_TIMEOUT_S
from .._version import __version__
from ._exit_codes import EXIT_CODES_HELP, USAGE

__all__ = ["build_parser", "parse_arguments"]

_SHARED_DEFAULTS: dict[str, Any] = {
    "base_url": None,
    "token_file": None,
    "sandbox": False,
    "sandbox_time_scale": SANDBOX_TIME_SCALE,
    "retries": None,
    "download_origins": [],
    "verbose": 0,
    "quiet": 0,
}

_DESCRIPTION = """\
An asyncio client for the RunComfy Model API, with batches that survive Ctrl-C and crashes.

Try it without an account (a local imitation of the service, sped up):
  %(prog)s batch examples/prompts.txt --model ideogram/ideogram-v3/text-to-image \\
      --sandbox --out out

The token comes from --token-file, else RUNCOMFY_API_TOKEN, RUNCOMFY_TOKEN or
RUNCOMFY_API_KEY; it is never printed."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with EX_USAGE (64), not 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an amount in US dollars such as 5 or 0.50, got {text!r}"
        ) from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more (US dollars), got {text}")
    return value


# The options accepted before and after the command, by group: (names, argparse keywords).
_SHARED_OPTIONS: dict[str, list[tuple[tuple[str, ...], dict[str, Any]]]] = {
    "service": [
        (("--sandbox",), {
            "action": "store_true",
            "help": "run against a local imitation of the service, started in this process "
            "(no account, no network, nothing billed)",
        }),
        (("--sandbox-time-scale",), {
            "type": _seconds,
            "metavar": "X",
            "help": "real seconds per model second in the --sandbox (default: "
            f"{SANDBOX_TIME_SCALE:g}, i.e. {1 / SANDBOX_TIME_SCALE:g}x faster than real time)",
        }),
        (("--base-url",), {
            "metavar": "URL",
            "help": "the API base URL with its version (default: RUNCOMFY_MODEL_API_BASE, else "
            "https://model-api.runcomfy.net/v1); plain http only to loopback",
        }),
        (("--token-file",), {
            "metavar": "FILE", "help": "read the API token from FILE (default: the environment)"
        }),
        (("--retries",), {
            "type": _positive_int,
            "metavar": "N",
            "help": "attempts in all for a request that failed in a way worth retrying "
            "(default: the library's; 1 never retries)",
        }),
        (("--download-origin",), {
            "dest": "download_origins",
            "action": "append",
            "metavar": "ORIGIN",
            "help": "also download output files from ORIGIN (scheme://host:port), e.g. a "
            "sandbox served with the sandbox command; repeatable (default: RunComfy's CDN "
            "hosts only)",
        }),
    ],
    "output": [
        (("-v", "--verbose"), {
            "action": "count",
            "help": "more detail: -v a line per job (run, batch) and the library's information "
            "logs, -vv its debugging logs (to standard error)",
        }),
        (("-q", "--quiet"), {
            "action": "count",
            "help": "errors only: no progress, no states, no summary (a stopped batch still "
            "says how to resume)",
        }),
    ],
}


def _shared_options(*, described: bool = True) -> _Parser:
    """The options accepted before and after the command; ``described=False`` accepts them
    without listing them (a command's help points to the top-level help instead)."""
    shared = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    for title, options in _SHARED_OPTIONS.items():
        group = shared.add_argument_group(title)
        for names, keywords in options:
            group.add_argument(
                *names, **(keywords if described else {**keywords, "help": argparse.SUPPRESS})
            )
    return shared


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--input", metavar="JSON", help="the input as a JSON object")
    given.add_argument(
        "--input-file", metavar="FILE", help="read the input JSON object from FILE (- for stdin)"
    )
    parser.add_argument(
        "--prompt", metavar="TEXT", help="the prompt (sets the input's prompt field)"
    )
    _add_unknown_fields_option(parser)


def _add_unknown_fields_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-unknown-fields",
        action="store_true",
        help="send input fields the model's schema does not name (by default such a field, "
        "often a typo, is refused before anything is sent)",
    )


def _add_result_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=WAIT_TIMEOUT_S,
        metavar="S",
        help="seconds to wait at most; a job still queued then is cancelled "
        f"(default: {WAIT_TIMEOUT_S:g})",
    )
    parser.add_argument("--out", metavar="DIR", help="download the output files into DIR")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The command line's parser.

    Args:
        prog: the program's name as the person typed it, for usage and help texts.
    """
    shared = _shared_options()
    hidden = _shared_options(described=False)
    formatter = argparse.RawDescriptionHelpFormatter
    pointer = (
        "Global options (--sandbox, --base-url, --token-file, --retries, --download-origin,\n"
        "-v, -q) are accepted here too. They and the exit codes are described in:\n"
        f"  {prog} --help"
    )
    parser = _Parser(
        prog=prog,
        description=_DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=formatter,
        parents=[shared],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str | None = None) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=description or summary,
            epilog=pointer,
            formatter_class=formatter,
            parents=[hidden],
        )

    run = command("run", "submit one job, wait for it, show (and download) its result")
    run.add_argument("model_id", metavar="MODEL_ID")
    _add_input_options(run)
    run.add_argument(
        "--no-wait", action="store_true", help="print the request id and return at once"
    )
    _add_result_options(run)

    submit = command("submit", "submit one job and print its request id")
    submit.add_argument("model_id", metavar="MODEL_ID")
    _add_input_options(submit)
    submit.add_argument("--json", action="store_true", help="print the server's answer as JSON")

    for name, summary in (
        ("status", "a job's state (and queue position)"),
        ("result", "a job's result now (its state, if it has not finished)"),
        ("cancel", "cancel a job if it is still queued (exit 1 if it is not)"),
    ):
        one = command(name, summary)
        one.add_argument("request_id", metavar="ID")
        one.add_argument("--json", action="store_true", help="print the answer as JSON")
    wait = command("wait", "wait for a job, show (and download) its result")
    wait.add_argument("request_id", metavar="ID")
    _add_result_options(wait)

    _add_batch(
        command(
            "batch",
            "run every input of a file, download the files, write a manifest and a gallery",
            "Run every input of INPUT as a job, download the outputs into DIR, and write\n"
            "DIR/manifest.jsonl (one JSON line per input) and DIR/index.html (a gallery).\n"
            "Every input of a file is checked before anything is sent (standard input is\n"
            "checked line by line as it is read). Progress goes to standard error.\n"
            "Ctrl-C or SIGTERM stops cleanly (twice: at once) and prints the command that\n"
            "resumes the batch.",
        )
    )

    models = command("models", "the model catalog")
    which = models.add_subparsers(dest="models_command", metavar="WHAT", required=True)
    listing = which.add_parser(
        "list", help="list the models", parents=[hidden], formatter_class=formatter,
        epilog=pointer,
    )
    listing.add_argument("--search", metavar="TEXT", help="only models matching TEXT")
    listing.add_argument("--limit", type=_positive_int, metavar="N", help="at most N models")
    listing.add_argument("--json", action="store_true", help="one JSON object per model")
    get = which.add_parser(
        "get",
        help="one model's input fields: types, required, defaults, allowed values",
        parents=[hidden],
        formatter_class=formatter,
        epilog=pointer,
    )
    get.add_argument("model_id", metavar="MODEL_ID")
    get.add_argument("--json", action="store_true", help="the catalog entry as JSON")

    # The standalone server parses its own arguments: pass every word after "sandbox" on
    # untouched (a prefix character nobody types keeps argparse from reading "--port").
    sandbox = commands.add_parser(
        "sandbox",
        help="serve the sandbox standalone (see: sandbox --help)",
        add_help=False,
        prefix_chars="\0",
    )
    sandbox.add_argument("sandbox_args", nargs=argparse.REMAINDER)
    return parser


def _add_batch(batch: argparse.ArgumentParser) -> None:
    batch.add_argument(
        "input",
        metavar="INPUT",
        help=".jsonl (one JSON object per line; a model_id key overrides --model), .txt (one "
        "prompt per line; blank lines and # comments skipped), .csv (a header row of field "
        "names), or - (JSON lines on standard input, read as the batch goes: it may be "
        "endless; an invalid line stops the reading unless --skip-invalid)",
    )
    batch.add_argument("--model", metavar="MODEL_ID", help="the model for inputs that name none")
    batch.add_argument("--out", metavar="DIR", required=True, help="the batch's folder")
    batch.add_argument(
        "--max-in-flight",
        type=_positive_int,
        metavar="N",
        help=f"jobs submitted but not finished at most (default: {MAX_IN_FLIGHT})",
    )
    batch.add_argument(
        "--job-timeout",
        type=_seconds,
        metavar="S",
        help="seconds from a job's submit to giving up on it, time waiting in the queue "
        "included (a long queue can use it all): a job still queued then is cancelled, a "
        "running one is left to finish and --resume collects it "
        f"(default: {WAIT_TIMEOUT_S:g})",
    )
    batch.add_argument(
        "--journal",
        metavar="FILE",
        help=f"the batch's journal, which makes it resumable (default: DIR/{JOURNAL_FILE_NAME})",
    )
    batch.add_argument(
        "--resume",
        action="store_true",
        help="continue the batch in the journal (same INPUT): finished inputs are not sent "
        "again, submitted ones are collected",
    )
    batch.add_argument(
        "--skip-invalid",
        action="store_true",
        help="send the valid inputs even if some are invalid (they are listed and skipped)",
    )
    _add_unknown_fields_option(batch)
    batch.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per finished input on standard output (--dry-run: one for all)",
    )
    batch.add_argument(
        "--dry-run",
        action="store_true",
        help="check the inputs, print what the batch would cost, stop: nothing is sent",
    )
    batch.add_argument(
        "--budget",
        type=_usd,
        metavar="USD",
        help="stop submitting before the batch would spend more than USD (exit 3); resuming "
        "with a larger --budget sends the inputs left",
    )
    batch.add_argument(
        "--assume-seconds",
        type=_seconds,
        metavar="S",
        help="the run time to assume per job of a model billed per second (for --dry-run "
        "and --budget)",
    )


def parse_arguments(
    parser: argparse.ArgumentParser, arguments: Sequence[str]
) -> argparse.Namespace:
    """Parse, then fill in the shared options' defaults (see the module's docstring).

    Raises:
        SystemExit: for ``--help``, ``--version`` (0) and usage errors (64).
    """
    args = parser.parse_args(list(arguments))
    for name, default in _SHARED_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return args
