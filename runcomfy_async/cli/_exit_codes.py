"""How a command ends: its exit code, one name per meaning, and the error that carries one.

The numbers follow sysexits(3) where one fits, as RunComfy's own tools and most Unix
programs do, so that scripts can tell "fix your input" from "try again later" from "check
your token" without parsing messages. 1 keeps its usual meaning of "it ran, and not
everything went well"; 130 is the shell's convention for a process ended by SIGINT.
"""

from __future__ import annotations

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
    "DATA_ERROR",
    "EXIT_CODES_HELP",
    "INTERRUPTED",
    "JOBS_FAILED",
    "NO_INPUT",
    "NO_PERMISSION",
    "SUCCESS",
    "UNAVAILABLE",
    "USAGE",
    "CommandError",
    "exit_code_for",
]

SUCCESS: Final = 0
JOBS_FAILED: Final = 1
USAGE: Final = 64  # EX_USAGE
DATA_ERROR: Final = 65  # EX_DATAERR
NO_INPUT: Final = 66  # EX_NOINPUT
UNAVAILABLE: Final = 69  # EX_UNAVAILABLE
NO_PERMISSION: Final = 77  # EX_NOPERM
INTERRUPTED: Final = 130  # 128 + SIGINT

EXIT_CODES_HELP: Final = f"""\
exit codes:
  {SUCCESS:<4} every job succeeded (or the command did what it was asked)
  {JOBS_FAILED:<4} some jobs failed, were cancelled, timed out, ended unknown, or their files
       could not be downloaded; a cancel that came too late
  {USAGE:<4} usage error: bad options or arguments (EX_USAGE)
  {DATA_ERROR:<4} invalid input data: a line of the input file, a model id, a request id,
       a journal that belongs to other inputs (EX_DATAERR)
  {NO_INPUT:<4} an input file or token file is missing or unreadable (EX_NOINPUT)
  {UNAVAILABLE:<4} the service is unavailable: connection failures, 5xx after retries
       (EX_UNAVAILABLE)
  {NO_PERMISSION:<4} authentication or permission error: no token, a wrong or revoked one,
       another user's request, insufficient balance (EX_NOPERM)
  {INTERRUPTED:<4} interrupted by Ctrl-C (128 + SIGINT)"""


class CommandError(Exception):
    """A command cannot go on; the message is for the person, the code for the shell.

    Args:
        message: what went wrong and, where it helps, what to do about it.
        exit_code: one of this module's codes.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
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


def exit_code_for(error: BaseException) -> int:
    """The exit code for an error that ended a command.

    Args:
        error: a :class:`CommandError` or an error the library raised.
    """
    if isinstance(error, CommandError):
        return error.exit_code
    for classes, code in _CODES:
        if isinstance(error, classes):
            return code
    return JOBS_FAILED
