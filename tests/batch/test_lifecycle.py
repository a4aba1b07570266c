"""The one table of an input's states, and the pure resume decision, over every state."""

from __future__ import annotations

import pytest

from runcomfy_async.core._lifecycle import RULES, InputState, ResumeAction, resume_action

EXPECTED = {
    InputState.INTENT: ResumeAction.REPORT_UNKNOWN,
    InputState.SUBMITTED: ResumeAction.POLL,
    InputState.SUCCEEDED: ResumeAction.DELIVER,
    InputState.FAILED: ResumeAction.DELIVER,
    InputState.CANCELLED: ResumeAction.DELIVER,
    InputState.EXPIRED: ResumeAction.DELIVER,
    InputState.WITHDRAWN: ResumeAction.SUBMIT,
    InputState.TIMED_OUT: ResumeAction.POLL,
    InputState.REFUSED: ResumeAction.SUBMIT,
    InputState.NOT_SENT: ResumeAction.SUBMIT,
    InputState.OVER_BUDGET: ResumeAction.SUBMIT,
    InputState.UNKNOWN: ResumeAction.REPORT_UNKNOWN,
}


def test_the_table_covers_every_state() -> None:
    assert set(RULES) == set(InputState) == set(EXPECTED)


@pytest.mark.parametrize("state", list(InputState))
@pytest.mark.parametrize("has_request_id", [True, False])
@pytest.mark.parametrize("resubmit_unknown", [True, False])
def test_resume_decides_from_the_state_alone(
    state: InputState, has_request_id: bool, resubmit_unknown: bool
) -> None:
    action = resume_action(
        state, has_request_id=has_request_id, resubmit_unknown=resubmit_unknown
    )
    expected = EXPECTED[state]
    if expected is ResumeAction.POLL and not has_request_id:
        expected = ResumeAction.REPORT_UNKNOWN  # a damaged row is never paid for again
    if expected is ResumeAction.REPORT_UNKNOWN and resubmit_unknown:
        expected = ResumeAction.SUBMIT
    assert action is expected


@pytest.mark.parametrize("state", list(InputState))
def test_only_states_without_a_job_are_submitted_again_unasked(state: InputState) -> None:
    action = resume_action(state, has_request_id=True, resubmit_unknown=False)
    assert (action is ResumeAction.SUBMIT) == (not RULES[state].job_may_exist)


def test_only_a_crash_leaves_an_input_unfinished() -> None:
    assert {s for s in InputState if not s.is_final} == {InputState.INTENT, InputState.SUBMITTED}
