"""The wire parsers fed arbitrary JSON: they parse it or raise MalformedResponseError, and an
unknown state never crashes them (it is kept raw, as ``UNKNOWN``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runcomfy_async import JobState, MalformedResponseError
from runcomfy_async.core._parse import (
    parse_cancel,
    parse_job,
    parse_model_info,
    parse_result,
    parse_status,
)

SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KEYS = ["request_id", "status", "output", "error", "queue_position", "created_at", "finished_at",
        "started_at", "cost", "outcome", "model_id", "id", "display_name", "name", "input_schema",
        "status_url", "result_url", "cancel_url", "url", "images", "image", "video"]

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.sampled_from(["succeeded", "FAILED", "in_queue", "canceled", " Completed ", "https://x/y.png",
                       "2026-01-01T00:00:00Z", "1e309", "-0", "nan", "", "{}", "[]"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6
    ),
    max_leaves=12,
)
# Answers shaped like the API's, with arbitrary values in the known fields.
answers = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10) | json_values

PARSERS: dict[str, Callable[..., Any]] = {
    "job": parse_job,
    "status": parse_status,
    "result": parse_result,
    "cancel": parse_cancel,
    "model_info": parse_model_info,
}
parsers = pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())


@parsers
@SETTINGS
@given(body=answers)
def test_a_parser_given_arbitrary_json_parses_or_raises_malformed_response(
    parse: Callable[..., Any], body: Any
) -> None:
    # Both the value itself and what the transport would hand over (json.loads of its text).
    for candidate in (body, json.loads(json.dumps(body))):
        try:
            parsed = parse(candidate)
        except MalformedResponseError as error:
            text = str(error)
            assert text
            continue
        repr(parsed)


@pytest.mark.parametrize("parse", [parse_status, parse_result, parse_cancel],
                         ids=["status", "result", "cancel"])
@SETTINGS
@given(state=st.text(max_size=20) | json_values)
def test_an_unknown_state_is_kept_raw_not_fatal(parse: Callable[..., Any], state: Any) -> None:
    parsed = parse({"request_id": "r-1", "status": state})
    assert isinstance(parsed.state, JobState)
    if isinstance(state, str):
        assert parsed.raw_state == state
    if parsed.state is JobState.UNKNOWN:
        assert not parsed.state.is_terminal


@SETTINGS
@given(output=json_values)
def test_result_outputs_are_only_http_urls_found_in_the_output(output: Any) -> None:
    result = parse_result({"request_id": "r-1", "status": "succeeded", "output": output})
    assert all(isinstance(u, str) and u.startswith(("https://", "http://")) for u in result.outputs)
    assert set(result.outputs) <= set(_strings_in(output))


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings_in(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings_in(item)]
    return []


@SETTINGS
@given(body=answers, fallback=st.text(min_size=1, max_size=10))
def test_a_parser_given_a_request_id_falls_back_to_it(body: Any, fallback: str) -> None:
    try:
        parsed = parse_result(body, request_id=fallback)
    except MalformedResponseError:
        assert not isinstance(body, dict), "a JSON object with a fallback id must parse"
        return
    assert isinstance(parsed.request_id, str)
    assert parsed.request_id


@pytest.mark.parametrize("position", ["²", "①", " ³ "])
def test_a_queue_position_in_unusual_digits_is_ignored_not_fatal(position: str) -> None:
    status = parse_status({"request_id": "r-1", "status": "in_queue", "queue_position": position})
    assert status.queue_position is None


def test_a_cost_beyond_float_range_is_ignored_not_fatal() -> None:
    body = json.loads('{"request_id": "r-1", "status": "succeeded", "cost": 1' + "0" * 400 + "}")
    assert parse_result(body).cost is None
