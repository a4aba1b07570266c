"""One vocabulary for an input's life in a batch, and what each state means for money.

Every input of a batch is in exactly one :class:`InputState`. The journal persists it as is,
the batch hands it to the caller as ``Outcome.state``, the progress counters count it, and
a resumed batch decides from it alone what to do. The table :data:`RULES` is the one place
that says, for each state, whether the input is over, whether a job may exist on the
server, and what resuming does; nothing else re-encodes it.

::

    (not yet pulled) ──► intent ──► submitted ──► succeeded / failed / cancelled / expired
          │               │  │           │
          │               │  │           ├──► withdrawn  (we cancelled it while queued)
          │               │  │           └──► timed_out  (deadline passed; still collectable)
          │               │  ├──► refused   (the service said no: nothing was created)
          │               │  ├──► not_sent  (certainly never reached the service)
          │               │  └──► unknown   (may have created a paid job)
          ├──► refused (invalid input)  /  not_sent (deadline passed before sending)
          └──► over_budget (sending it would pass the spending cap, or the balance ran out)

``intent`` is the one state that only a crash leaves behind: the process died between
recording that a submit was about to go out and recording its answer.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

__all__ = [
    "RULES",
    "WITHOUT_JOB",
    "InputState",
    "ResumeAction",
    "StateRule",
    "resume_action",
]


class InputState(str, enum.Enum):
    """Where one input of a batch stands. The values are what the journal stores."""

    INTENT = "intent"
    """A submit was about to be sent, or was on the wire when the process stopped."""
    SUBMITTED = "submitted"
    """The service accepted it and gave a request id; the job is queued or running."""
    SUCCEEDED = "succeeded"
    """The job finished with outputs."""
    FAILED = "failed"
    """The job ran and failed (``result.error`` holds the service's error)."""
    CANCELLED = "cancelled"
    """The job was cancelled by someone other than this batch."""
    EXPIRED = "expired"
    """The service no longer knows the request id (404): its record is gone."""
    WITHDRAWN = "withdrawn"
    """This side cancelled the job while it was still queued: it never ran, nothing was
    billed, and a resumed batch submits the input again."""
    TIMED_OUT = "timed_out"
    """The per-job timeout or the batch deadline passed while the job was running (or could
    not be cancelled): it may still finish and be billed, and a resumed batch collects it."""
    REFUSED = "refused"
    """Refused before a job existed: by the local input check or by the service (4xx).
    Nothing was created or billed; a resumed batch checks and submits it again."""
    NOT_SENT = "not_sent"
    """Never reached the service (unreachable, or the deadline passed first). Nothing was
    billed; a resumed batch submits it."""
    OVER_BUDGET = "over_budget"
    """Not sent because the batch stopped submitting for money: sending it would have taken
    the batch past its spending cap (``max_spend``), or the account's balance ran out.
    Nothing was billed; a resumed batch (with a larger cap, or after a top-up) submits it."""
    UNKNOWN = "unknown"
    """The submit may or may not have created a paid job (no answer after the body went
    out). It is reported, not resubmitted, unless resubmission was asked for."""

    @property
    def is_final(self) -> bool:
        """True when the input is over for this run (it has an outcome)."""
        return RULES[self].final


class ResumeAction(str, enum.Enum):
    """What a resumed batch does with an input the journal already knows."""

    DELIVER = "deliver"
    """Hand back the recorded outcome; send nothing."""
    POLL = "poll"
    """Collect the job by its request id; never submit again."""
    SUBMIT = "submit"
    """Check and submit it: no job exists for it."""
    REPORT_UNKNOWN = "report_unknown"
    """Report it as ``unknown``; submit it again only if the caller asked to risk paying
    twice (``Resubmit.unknown``)."""


@attrs.frozen
class StateRule:
    """What one state means.

    Attributes:
        final: the input has an outcome (the caller sees it).
        job_may_exist: a job for it may exist on the service (billed or billable).
        resume: what a resumed batch does.
    """

    final: bool
    job_may_exist: bool
    resume: ResumeAction


RULES: Final[dict[InputState, StateRule]] = {
    InputState.INTENT: StateRule(False, True, ResumeAction.REPORT_UNKNOWN),
    InputState.SUBMITTED: StateRule(False, True, ResumeAction.POLL),
    InputState.SUCCEEDED: StateRule(True, True, ResumeAction.DELIVER),
    InputState.FAILED: StateRule(True, True, ResumeAction.DELIVER),
    InputState.CANCELLED: StateRule(True, True, ResumeAction.DELIVER),
    InputState.EXPIRED: StateRule(True, True, ResumeAction.DELIVER),
    InputState.WITHDRAWN: StateRule(True, False, ResumeAction.SUBMIT),
    InputState.TIMED_OUT: StateRule(True, True, ResumeAction.POLL),
    InputState.REFUSED: StateRule(True, False, ResumeAction.SUBMIT),
    InputState.NOT_SENT: StateRule(True, False, ResumeAction.SUBMIT),
    InputState.OVER_BUDGET: StateRule(True, False, ResumeAction.SUBMIT),
    InputState.UNKNOWN: StateRule(True, True, ResumeAction.REPORT_UNKNOWN),
}

WITHOUT_JOB: Final = frozenset(
    state for state, rule in RULES.items()
    if rule.final and not rule.job_may_exist and state is not InputState.WITHDRAWN
)
"""The states an input ends in without any job ever having been created for it (a
withdrawn input had one, cancelled while queued)."""


def resume_action(
    state: InputState, *, has_request_id: bool, resubmit_unknown: bool
) -> ResumeAction:
    """What a resumed batch does with an input recorded in ``state``.

    Pure: the journal entry's state decides, with one option. A state that should carry a
    request id but does not (a damaged row) is never resubmitted: it is reported unknown.

    Args:
        state: the recorded state.
        has_request_id: whether the entry holds a request id.
        resubmit_unknown: the caller accepts paying twice for inputs whose submit outcome is
            unknown.
    """
    action = RULES[state].resume
    if action is ResumeAction.POLL and not has_request_id:
        action = ResumeAction.REPORT_UNKNOWN
    if action is ResumeAction.REPORT_UNKNOWN and resubmit_unknown:
        return ResumeAction.SUBMIT
    return action
