"""How a command ends: its exit code, one name per meaning, and the error that carries one.

The numbers follow sysexits(3) where one fits, as RunComfy's own tools and most Unix
programs do, so that scripts can tell "fix your input" from "try again later" from "check
your token" without parsing messages. 1 keeps its usual meaning of "it ran, and not
everything went well"; 3 says that a batch stopped at its budget, a limit the person set
rather than a failure (2 is left alone: argparse and shells use it for usage errors). 130,
141 and 143 are the shell's conventions (128 + the signal) for a process ended by SIGINT,
by a closed pipe on standard output (SIGPIPE) and by SIGTERM.
"""

from __future__ import annotations

import errno
from typing import Final

from ..core._errors import (
    AuthenticationError,
    ConfigurationError,
    InsufficientBalanceError,
    InvalidInputError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from ..core._job_errors import JobError, SubmitOutcomeUnknownError
from ..store.downloads import DownloadError
from ..store.journal import JournalError

__all__ = [
    "BROKEN_PIPE",
    "BUDGET_REACHED",
    "CANT_CREATE",
    "DATA_ERROR",
    "EXIT_CODES_HELP",
    "INTERRUPTED",
    "IO_ERROR",
    "JOBS_FAILED",
    "NO_INPUT",
    "NO_PERMISSION",
    "SUCCESS",
    "TERMINATED",
    "UNAVAILABLE",
    "USAGE",
    "CommandError",
    "exit_code_for",
    "is_local_write_failure",
]

SUCCESS: Final = 0
JOBS_FAILED: Final = 1
BUDGET_REACHED: Final = 3  # a batch stopped submitting at its --budget (not in sysexits)
USAGE: Final = 64  # EX_USAGE
DATA_ERROR: Final = 65  # EX_DATAERR
NO_INPUT: Final = 66  # EX_NOINPUT
UNAVAILABLE: Final = 69  # EX_UNAVAILABLE
CANT_CREATE: Final = 73  # EX_CANTCREAT
IO_ERROR: Final = 74  # EX_IOERR
NO_PERMISSION: Final = 77  # EX_NOPERM
INTERRUPTED: Final = 130  # 128 + SIGINT
BROKEN_PIPE: Final = 141  # 128 + SIGPIPE
TERMINATED: Final = 143  # 128 + SIGTERM

EXIT_CODES_HELP: Final = f"""\
exit codes:
  {SUCCESS:<4} every job succeeded (or the command did what it was asked)
  {JOBS_FAILED:<4} some jobs failed, were cancelled, timed out, ended unknown, or their files
       could not be downloaded; a cancel that came too late
  {BUDGET_REACHED:<4} a batch stopped submitting at its --budget: the inputs left were not
       sent (raise --budget and resume to send them)
  {USAGE:<4} usage error: bad options or arguments (EX_USAGE)
  {DATA_ERROR:<4} invalid input data: a line of the input file, a model id, a request id,
       a journal that belongs to other inputs (EX_DATAERR)
  {NO_INPUT:<4} an input file or token file is missing or unreadable (EX_NOINPUT)
  {UNAVAILABLE:<4} the service is unavailable: connection failures, 5xx after retries
       (EX_UNAVAILABLE)
  {CANT_CREATE:<4} the --out folder (or the journal's) cannot be created or written to
       (EX_CANTCREAT)
  {IO_ERROR:<4} writing files, the journal or the manifest failed: a full disk, a
       read-only folder (EX_IOERR)
  {NO_PERMISSION:<4} authentication or permission error: no token, a wrong or revoked one,
       another user's request, insufficient balance (a batch then stops submitting;
       top up and resume it) (EX_NOPERM)
  {INTERRUPTED:<4} interrupted by Ctrl-C (128 + SIGINT)
  {BROKEN_PIPE:<4} standard output was closed by its reader, as in `... | head -1` (128 + SIGPIPE)
  {TERMINATED:<4} terminated by SIGTERM (128 + SIGTERM)"""


class CommandError(Exception):
    """A command cannot go on; the message is for the person, the code for the shell.

    Args:
        message: what went wrong and, where it helps, what to do about it (one line).
        exit_code: one of this module's codes.
        hint: a line printed after the error (the command that resumes a batch).
    """

    def __init__(self, message: str, exit_code: int, *, hint: str | None = None) -> None:
        self.exit_code = exit_code
        self.hint = hint
        super().__init__(message)


# Checked in order: the first class an error is an instance of gives its code.
_CODES: Final[tuple[tuple[tuple[type[BaseException], ...], int], ...]] = (
    ((AuthenticationError, PermissionDeniedError, InsufficientBalanceError), NO_PERMISSION),
    ((InvalidInputError, InvalidRequestError, NotFoundError, JournalError), DATA_ERROR),
    (
        (
            TransportError,
            ServerError,
            RateLimitedError,
            MalformedResponseError,
            SubmitOutcomeUnknownError,
        ),
        UNAVAILABLE,
    ),
    ((ConfigurationError,), USAGE),
    ((JobError, DownloadError), JOBS_FAILED),
)


# The errors of a local disk or folder, as opposed to the network's.
_LOCAL_ERRNOS: Final = frozenset(
    {
        errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES,
        errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG,
    }
)
# How SQLite words a failure of the file under the journal (rather than of the journal).
_JOURNAL_IO_WORDS: Final = ("disk i/o error", "disk is full", "readonly database",
                            "unable to open database")


def is_local_write_failure(error: BaseException) -> bool:
    """True when ``error`` is this machine failing to write (a full disk, a read-only or
    vanished folder), not the service, the network or the data.

    The library does not mark these yet: a download that could not be written is a
    :class:`DownloadError` whose context is the ``OSError``, and a journal on a full disk is a
    :class:`JournalError` quoting SQLite's words.
    """
    if isinstance(error, DownloadError):
        cause = error.__context__
        return (
            error.status is None
            and isinstance(cause, OSError)
            and not isinstance(cause, (ConnectionError, TimeoutError))
            and cause.errno in _LOCAL_ERRNOS
        )
    if isinstance(error, JournalError):
        text = str(error).lower()
        return any(words in text for words in _JOURNAL_IO_WORDS)
    return isinstance(error, OSError) and error.errno in _LOCAL_ERRNOS


def exit_code_for(error: BaseException) -> int:
    """The exit code for an error that ended a command.

    Args:
        error: a :class:`CommandError` or an error the library raised.
    """
    if isinstance(error, CommandError):
        return error.exit_code
    if is_local_write_failure(error):
        return IO_ERROR
    for classes, code in _CODES:
        if isinstance(error, classes):
            return code
    return JOBS_FAILED
