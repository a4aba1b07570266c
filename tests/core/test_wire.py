"""Tolerant parsing of answers: both vocabularies, unknown fields, unknown states."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import runcomfy_async as rc
from runcomfy_async._constants import MAX_OUTPUT_NESTING
from runcomfy_async.core._parse import (
    collect_output_urls,
    parse_cancel,
    parse_job,
    parse_model_info,
    parse_result,
    parse_status,
)

RID = "rid-1"


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("in_queue", rc.JobState.QUEUED),
        ("pending", rc.JobState.QUEUED),
        ("waiting", rc.JobState.QUEUED),
        ("in_progress", rc.JobState.RUNNING),
        ("starting", rc.JobState.RUNNING),
        ("processing", rc.JobState.RUNNING),
        ("completed", rc.JobState.COMPLETED),
        ("succeeded", rc.JobState.SUCCEEDED),
        ("failed", rc.JobState.FAILED),
        ("cancelled", rc.JobState.CANCELLED),
        ("canceled", rc.JobState.CANCELLED),
        ("CANCELED", rc.JobState.CANCELLED),
        (" Succeeded\n", rc.JobState.SUCCEEDED),
        (["succeeded"], rc.JobState.UNKNOWN),
        ("brand_new_state", rc.JobState.UNKNOWN),
        (None, rc.JobState.UNKNOWN),
        (7, rc.JobState.UNKNOWN),
    ],
)
def test_state_vocabularies(raw: object, state: rc.JobState) -> None:
    assert rc.JobState.from_raw(raw) is state


def test_status_keeps_queue_position_only_while_queued() -> None:
    queued = parse_status({"request_id": RID, "status": "in_queue", "queue_position": 4})
    running = parse_status({"request_id": RID, "status": "in_progress", "queue_position": 4})
    assert queued.queue_position == 4
    assert running.queue_position is None


def test_status_completed_is_terminal_but_says_neither_success_nor_failure() -> None:
    status = parse_status({"request_id": RID, "status": "completed"})
    assert status.state is rc.JobState.COMPLETED
    assert status.state.is_terminal


def test_result_completed_means_succeeded_unless_it_carries_only_an_error() -> None:
    ok = parse_result(
        {"request_id": RID, "status": "completed", "output": {"image": "https://x/a"}}
    )
    bad = parse_result({"request_id": RID, "status": "completed", "error": {"m": 1}})
    assert ok.state is rc.JobState.SUCCEEDED
    assert bad.state is rc.JobState.FAILED


def test_result_collects_every_output_url_in_order() -> None:
    output = {
        "image": "https://cdn/1.png",
        "images": ["https://cdn/2.png", {"url": "https://cdn/3.png"}],
        "video": {"url": "https://cdn/4.mp4"},
        "videos": ["https://cdn/5.mp4"],
        "seed": 42,
        "note": "not a url",
    }
    result = parse_result({"request_id": RID, "status": "succeeded", "output": output})
    assert result.outputs == tuple(
        f"https://cdn/{i}.{'png' if i < 4 else 'mp4'}" for i in range(1, 6)
    )
    assert result.output == output


def test_result_timestamps_and_cost() -> None:
    result = parse_result(
        {
            "request_id": RID,
            "status": "succeeded",
            "created_at": "2026-11-21T10:00:00.123456+02:00",
            "finished_at": "2026-11-21T08:00:05Z",
            "started_at": "garbage",
            "cost": "0.08",
        }
    )
    assert result.created_at == datetime(2026, 11, 21, 8, 0, 0, 123456, tzinfo=timezone.utc)
    assert result.finished_at == datetime(2026, 11, 21, 8, 0, 5, tzinfo=timezone.utc)
    assert result.started_at is None
    assert result.cost == pytest.approx(0.08)


def test_unknown_fields_are_kept_raw() -> None:
    body = {"request_id": RID, "status": "in_queue", "new_field": {"a": 1}}
    assert parse_result(body).raw["new_field"] == {"a": 1}


def test_early_result_reports_current_state() -> None:
    result = parse_result({"request_id": RID, "status": "in_progress"})
    assert result.state is rc.JobState.RUNNING
    assert not result.ok
    assert result.outputs == ()


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (
            {"request_id": RID, "status": "cancelled", "outcome": "cancelled"},
            rc.CancelOutcome.CANCELLED,
        ),
        (
            {"request_id": RID, "status": "in_progress", "outcome": "not_cancellable"},
            rc.CancelOutcome.NOT_CANCELLABLE,
        ),
        ({"request_id": RID, "status": "canceled"}, rc.CancelOutcome.CANCELLED),
        ({"request_id": RID, "outcome": "whatever"}, rc.CancelOutcome.UNKNOWN),
    ],
)
def test_cancel_answers(body: dict[str, object], outcome: rc.CancelOutcome) -> None:
    assert parse_cancel(body).outcome is outcome


def test_job_requires_a_request_id() -> None:
    with pytest.raises(rc.MalformedResponseError, match="no request_id"):
        parse_job({"status_url": "https://x"})
    assert parse_job({"request_id": "a", "extra": 1}, model_id="m/x").model_id == "m/x"


def test_status_and_result_fall_back_to_the_known_request_id() -> None:
    assert parse_status({"status": "in_queue"}, request_id="known").request_id == "known"


def test_model_info_parses_schema_given_as_text() -> None:
    info = parse_model_info({"model_id": "a/b", "input_schema": '{"type": "object"}'})
    assert info.input_schema == {"type": "object"}


def test_collect_output_urls_ignores_non_urls() -> None:
    assert list(collect_output_urls({"a": ["ftp://x", 3, None, "https://ok"]})) == ["https://ok"]


def _urls_by_the_rule(output: object, depth: int = 0) -> list[str]:
    """The walk as documented, written plainly: the oracle for the fast one."""
    if depth > MAX_OUTPUT_NESTING:
        return []
    if isinstance(output, str):
        return [output] if output.startswith(("https://", "http://")) else []
    if isinstance(output, dict):
        url = output.get("url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return [url]
        return [u for value in output.values() for u in _urls_by_the_rule(value, depth + 1)]
    if isinstance(output, list):
        return [u for item in output for u in _urls_by_the_rule(item, depth + 1)]
    return []


def _nested(depth: int, leaf: object, *, in_list: bool) -> object:
    for level in range(depth):
        leaf = [leaf, f"https://x/list-{level}"] if in_list else {"n": leaf, "url": 3}
    return leaf


@pytest.mark.parametrize("depth", [0, 1, MAX_OUTPUT_NESTING - 1, MAX_OUTPUT_NESTING,
                                   MAX_OUTPUT_NESTING + 1, MAX_OUTPUT_NESTING + 3])
@pytest.mark.parametrize("in_list", [True, False])
def test_output_urls_stop_at_the_nesting_limit_as_the_rule_says(depth: int, in_list: bool) -> None:
    output = _nested(depth, ["https://deep/a", {"url": "https://deep/b"}, "nope"], in_list=in_list)
    found = collect_output_urls(output)
    assert found == _urls_by_the_rule(output)
    # Deep enough, the innermost URLs are out of reach; shallow, they are all there.
    assert ("https://deep/a" in found) == (depth + 1 <= MAX_OUTPUT_NESTING)


def test_output_urls_in_a_node_keyed_answer_in_order() -> None:
    output = {"9": {"images": [{"url": "https://a"}, "https://b"]}, "10": ["http://c", 7]}
    assert collect_output_urls(output) == ["https://a", "https://b", "http://c"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-02T11:00:00Z", datetime(2026, 12, 2, 11, tzinfo=timezone.utc)),
        ("2026-12-02T11:00:00", datetime(2026, 12, 2, 11, tzinfo=timezone.utc)),
        (" 2026-12-02T11:00:00z ", datetime(2026, 12, 2, 11, tzinfo=timezone.utc)),
        (1796209200, datetime(2026, 12, 2, 11, tzinfo=timezone.utc)),
        (True, None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_timestamps_in_every_form_the_service_may_send(value: object, expected: object) -> None:
    result = parse_result({"request_id": RID, "status": "succeeded", "finished_at": value})
    assert result.finished_at == expected


def test_fingerprint_is_canonical() -> None:
    a = rc.input_fingerprint("m/x", {"b": 1, "a": [1, 2]})
    b = rc.input_fingerprint("m/x", {"a": [1, 2], "b": 1})
    assert a == b
    assert a != rc.input_fingerprint("m/y", {"a": [1, 2], "b": 1})
