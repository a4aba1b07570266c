"""``parse_retry_after`` on anything a server (or a proxy) could put in the header."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runcomfy_async.policies import parse_retry_after

SETTINGS = settings(
    max_examples=200, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
NOW = datetime(2026, 5, 17, 12, 0, 0, tzinfo=timezone.utc)

header_like = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\s*[+-]?\d{0,12}(\.\d{0,6})?([eE][+-]?\d{1,4})?\s*", fullmatch=True),
    st.sampled_from(["inf", "+inf", "nan", "+nan", "1e999", "-0", "0x10", "1_000", "٣", "１２",
                     "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT",
                     "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                     "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
                     "Wed, 21 Oct 2015 07:28:00 +9999", "Wed, 32 Oct 2015 25:61:61 GMT"]),
)


@SETTINGS
@given(value=header_like)
def test_any_text_gives_none_or_a_finite_delay_of_at_least_zero(value: str) -> None:
    delay = parse_retry_after(value, now=NOW)
    assert delay is None or (isinstance(delay, float) and math.isfinite(delay) and delay >= 0)


@SETTINGS
@given(value=header_like)
def test_without_an_injected_clock_the_answer_is_still_bounded(value: str) -> None:
    delay = parse_retry_after(value)
    assert delay is None or (math.isfinite(delay) and delay >= 0)


@SETTINGS
@given(seconds=st.integers(0, 10**9))
def test_delay_seconds_are_read_exactly(seconds: int) -> None:
    assert parse_retry_after(str(seconds), now=NOW) == seconds
    assert parse_retry_after(f"  {seconds}  ", now=NOW) == seconds


@SETTINGS
@given(offset=st.integers(-10**8, 10**8))
def test_an_http_date_gives_the_seconds_until_it(offset: int) -> None:
    when = NOW + timedelta(seconds=offset)
    header = format_datetime(when, usegmt=True)
    assert parse_retry_after(header, now=NOW) == max(0.0, float(offset))


@SETTINGS
@given(when=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31),
                         timezones=st.just(timezone.utc)))
def test_any_http_date_gives_its_delta_or_zero_when_past(when: datetime) -> None:
    when = when.replace(microsecond=0)
    header = format_datetime(when, usegmt=True)
    assert parse_retry_after(header, now=NOW) == max(0.0, (when - NOW).total_seconds())


def test_an_absent_or_blank_header_gives_none() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("   ") is None


def test_negative_and_non_finite_seconds_give_none() -> None:
    for value in ("-1", "-0.5", "inf", "+inf", "nan", "1e999"):
        assert parse_retry_after(value, now=NOW) is None, value
