"""What one submit learned inside its shield, for a caller that may have been cancelled.

If the caller is cancelled while the submit's one attempt is on the wire, the attempt still
finishes; this record then says whether the service took the job (to cancel it while it is
queued, since nobody will collect it) or whether its outcome turned unknown (to log it with
the input's fingerprint).
"""

from __future__ import annotations

from ..api._api import SubmitWitness
from ..core._job_errors import SubmitOutcomeUnknownError
from ..core._wire import Job

__all__ = ["SubmitRecord"]


class SubmitRecord(SubmitWitness):
    """What a single submit learned, for the caller that may have been cancelled."""

    def __init__(self) -> None:
        self.job: Job | None = None
        self.unknown_error: SubmitOutcomeUnknownError | None = None

    async def accepted(self, job: Job) -> None:
        self.job = job

    async def unknown(self, error: SubmitOutcomeUnknownError) -> None:
        self.unknown_error = error
