"""Answers are read by orjson, and what it refuses or reads differently by the stdlib."""

from __future__ import annotations

import json
import math

import pytest
from aioresponses import aioresponses

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy
from runcomfy_async.http._answers import _loads

from .conftest import BASE

MODEL = "ideogram/ideogram-v3/text-to-image"
HUGE = 123456789012345678901234567890  # beyond 64 bits: orjson would make it a float


async def test_a_request_id_beyond_64_bits_keeps_every_digit(http: aioresponses) -> None:
    http.post(f"{BASE}/models/{MODEL}", status=200,
              body=f'{{"request_id": {HUGE}, "status": "in_queue"}}'.encode(),
              content_type="application/json")
    async with AsyncRunComfy(api_token="t", base_url=BASE) as client:
        job = await client.submit(MODEL, {"prompt": "a lighthouse"})
    assert job.request_id == str(HUGE)


async def test_an_answer_in_utf16_with_a_byte_order_mark_is_read(
    http: aioresponses, client: AsyncRunComfy
) -> None:
    rid = "3f1c9a2e-0000-4000-8000-000000000001"
    text = json.dumps({"request_id": rid, "status": "in_queue", "queue_position": 4})
    http.get(f"{BASE}/requests/{rid}/status", status=200, body=text.encode("utf-16"),
             content_type="application/json")
    status = await client.status(rid)
    assert status.state is rc.JobState.QUEUED
    assert status.queue_position == 4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 1, "b": [true, null, "\\u00e9"]}', {"a": 1, "b": [True, None, "é"]}),
        # What orjson refuses, the stdlib reads as it always did.
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),
        (b'{"x": "\\ud800"}', {"x": "\ud800"}),
        (b'{"big": 1e400}', {"big": math.inf}),
        ('{"é": "ü"}'.encode("utf-16"), {"é": "ü"}),
        (f'{{"request_id": {HUGE}}}'.encode(), {"request_id": HUGE}),
        # A 64-bit id is orjson's to read, unchanged.
        (b'{"request_id": 18446744073709551615}', {"request_id": 18446744073709551615}),
    ],
)
def test_loads_reads_as_the_stdlib_would(raw: bytes, expected: object) -> None:
    assert _loads(raw) == expected


def test_loads_reads_nan_as_the_stdlib_would() -> None:
    assert math.isnan(_loads(b'{"cost": NaN}')["cost"])


@pytest.mark.parametrize("raw", [b"not json", b'{"a": 1} x'])
def test_loads_refuses_what_is_not_json(raw: bytes) -> None:
    with pytest.raises(ValueError):
        _loads(raw)


def test_nesting_past_orjsons_depth_reads_as_the_stdlib_would() -> None:
    """orjson stops at 1,024 levels; the stdlib then decides, as it did before orjson: a
    value (Python 3.13), or a RecursionError that the transport makes a typed error."""
    raw = b"[" * 5000 + b"]" * 5000
    try:
        expected: object = json.loads(raw)
    except RecursionError:
        with pytest.raises(RecursionError):
            _loads(raw)
    else:
        assert _loads(raw) == expected
