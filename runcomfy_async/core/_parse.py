"""Tolerant parsing of RunComfy's answers into the wire types of :mod:`._wire`.

Why by hand rather than ``converter.structure``: every field is coerced leniently and on
its own (a queue position of ``"3"``, a cost of ``1e999``, a state nobody documented, a
request id that is a number), and a field that cannot be read becomes None rather than
failing the whole answer. Only what is needed to go on (an object, a request id) is
required; its absence is a :class:`~runcomfy_async.MalformedResponseError`.

What a result can make us do is capped: how many output URLs one job may list, how long
one may be, and how deeply ``output`` may nest, so that a hostile answer cannot make a
batch download thousands of files or write megabytes per log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from .._constants import LOGGER_NAME, MAX_OUTPUT_NESTING, MAX_OUTPUT_URL_CHARS, MAX_OUTPUTS_PER_JOB
from ._errors import MalformedResponseError
from ._text import quote_body
from ._wire import (
    CancelAnswer,
    CancelOutcome,
    Job,
    JobResult,
    JobState,
    JobStatus,
    ModelInfo,
    Price,
    as_float,
    as_int,
    as_str,
    parse_datetime,
)

__all__ = [
    "collect_output_urls",
    "parse_cancel",
    "parse_job",
    "parse_model_info",
    "parse_result",
    "parse_status",
]

_log = logging.getLogger(LOGGER_NAME)


def _require_object(body: object, what: str) -> Mapping[str, Any]:
    if type(body) is dict:  # what JSON gives: spares an abstract-class check per answer
        return body
    if not isinstance(body, Mapping):
        raise MalformedResponseError(
            f"expected a JSON object for {what}, got {type(body).__name__}: "
            f"{quote_body(_dump(body))}"
        )
    return body


def _require_request_id(body: Mapping[str, Any], what: str, fallback: str | None) -> str:
    value = body.get("request_id")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if fallback is not None:
        return fallback
    raise MalformedResponseError(f"{what} has no request_id: {quote_body(_dump(body))}")


def _dump(body: object) -> str:
    try:
        return json.dumps(body, default=repr)
    except (TypeError, ValueError):  # pragma: no cover - default=repr makes this rare
        return repr(body)


def parse_job(body: object, *, model_id: str | None = None) -> Job:
    """A :class:`Job` from a submit answer; MalformedResponseError if it has no request id."""
    data = _require_object(body, "a submit answer")
    return Job(
        request_id=_require_request_id(data, "the submit answer", None),
        model_id=model_id,
        status_url=as_str(data.get("status_url")),
        result_url=as_str(data.get("result_url")),
        cancel_url=as_str(data.get("cancel_url")),
        raw=data,
    )


def parse_status(body: object, *, request_id: str | None = None) -> JobStatus:
    """A :class:`JobStatus` from a ``/status`` answer. Unknown states become ``UNKNOWN``."""
    data = _require_object(body, "a status answer")
    raw_state = as_str(data.get("status"))
    state = JobState.from_raw(raw_state)
    position = as_int(data.get("queue_position")) if state is JobState.QUEUED else None
    return JobStatus(
        request_id=_require_request_id(data, "the status answer", request_id),
        state=state,
        raw_state=raw_state,
        queue_position=position,
        raw=data,
    )


def parse_result(body: object, *, request_id: str | None = None) -> JobResult:
    """A :class:`JobResult` from a ``/result`` answer, early or final.

    A ``completed`` state in a result (an older spelling of success) counts as
    ``SUCCEEDED``, unless the answer carries an error and no output, which is a failure.
    """
    data = _require_object(body, "a result answer")
    get = data.get
    raw_state = as_str(get("status"))
    state = JobState.from_raw(raw_state)
    output = get("output")
    if output is None:
        # RunComfy's serverless and LoRA deployments answer `outputs`, keyed by node.
        output = get("outputs")
    error = get("error")
    outputs = _capped_urls(collect_output_urls(output), request_id) if output is not None else ()
    if state is JobState.COMPLETED:
        state = (
            JobState.FAILED
            if error not in (None, "", [], {}) and not outputs
            else (JobState.SUCCEEDED)
        )
    cost = get("cost")
    return JobResult(
        request_id=_require_request_id(data, "the result answer", request_id),
        state=state,
        raw_state=raw_state,
        outputs=outputs,
        output=output,
        error=error,
        created_at=parse_datetime(get("created_at")),
        started_at=parse_datetime(get("started_at")),
        finished_at=parse_datetime(get("finished_at")),
        cost=None if cost is None else as_float(cost),
        raw=data,
    )


def parse_cancel(body: object, *, request_id: str | None = None) -> CancelAnswer:
    """A :class:`CancelAnswer` from a cancel answer."""
    data = _require_object(body, "a cancel answer")
    raw_outcome = as_str(data.get("outcome"))
    raw_state = as_str(data.get("status"))
    outcome = CancelOutcome.from_raw(raw_outcome)
    state = JobState.from_raw(raw_state)
    if outcome is CancelOutcome.UNKNOWN and state is JobState.CANCELLED:
        outcome = CancelOutcome.CANCELLED
    return CancelAnswer(
        request_id=_require_request_id(data, "the cancel answer", request_id),
        outcome=outcome,
        raw_outcome=raw_outcome,
        state=state,
        raw_state=raw_state,
        raw=data,
    )


def parse_model_info(body: object, *, model_id: str | None = None) -> ModelInfo:
    """A :class:`ModelInfo` from a catalog entry."""
    data = _require_object(body, "a model entry")
    found = as_str(data.get("model_id")) or as_str(data.get("id")) or model_id
    if not found:
        raise MalformedResponseError(f"a model entry has no model_id: {quote_body(_dump(data))}")
    schema = data.get("input_schema")
    if isinstance(schema, str):
        # Some catalogs ship the schema as a JSON string.
        try:
            schema = json.loads(schema)
        except ValueError:
            schema = None
    return ModelInfo(
        model_id=found,
        display_name=as_str(data.get("display_name")) or as_str(data.get("name")),
        input_schema=schema if isinstance(schema, Mapping) else None,
        price=parse_price(data),
        raw=data,
    )


def parse_price(data: Mapping[str, Any]) -> Price | None:
    """The price of a catalog entry, or None when it has none that can be read (a negative
    price, or one without a unit, is no price: an estimate must not be built on it)."""
    usd = as_float(data.get("base_price_usd"))
    unit = as_str(data.get("price_unit"))
    if usd is None or usd < 0 or not unit:
        return None
    note = as_str(data.get("pricing_note"))
    return Price(usd=usd, unit=unit.strip().lower(), note=note or None)


def collect_output_urls(output: object) -> list[str]:
    """Every URL in an ``output`` object, in order.

    Values may be a URL string, a list of URL strings, an object with ``url``, a list of
    such objects, or objects of those keyed by node (``{node: {images: [{url}]}}``);
    anything else is skipped (it stays in the raw ``output``). Nesting deeper than
    ``MAX_OUTPUT_NESTING`` is not walked.
    """
    found: list[str] = []
    _collect(output, 0, found)
    return found


def _collect(output: object, depth: int, found: list[str]) -> None:
    # Appends to one list rather than chaining generators, and checks concrete types
    # before the abstract Mapping (ten times dearer): a result is read per job, and this
    # walk used to cost more than the rest of the answer's parsing.
    if depth > MAX_OUTPUT_NESTING:
        return
    if isinstance(output, str):
        if output.startswith(_URL_PREFIXES):
            found.append(output)
    elif isinstance(output, list):
        for item in output:
            if isinstance(item, str):  # a list of URLs, the usual shape: no call per URL
                if item.startswith(_URL_PREFIXES) and depth < MAX_OUTPUT_NESTING:
                    found.append(item)
            else:
                _collect(item, depth + 1, found)
    elif isinstance(output, (dict, Mapping)):
        url = output.get("url")
        if isinstance(url, str) and url.startswith(_URL_PREFIXES):
            found.append(url)
            return
        for value in output.values():
            _collect(value, depth + 1, found)


def _capped_urls(urls: list[str], request_id: str | None) -> tuple[str, ...]:
    """The URLs a batch will act on: none too long, at most ``MAX_OUTPUTS_PER_JOB``."""
    if len(urls) <= MAX_OUTPUTS_PER_JOB:
        for url in urls:
            if len(url) > MAX_OUTPUT_URL_CHARS:
                break
        else:
            return tuple(urls)  # the common case: nothing to drop
    kept: list[str] = []
    dropped = 0
    for url in urls:
        if len(url) > MAX_OUTPUT_URL_CHARS or len(kept) >= MAX_OUTPUTS_PER_JOB:
            dropped += 1
            continue
        kept.append(url)
    if dropped:
        _log.warning(
            "job %s: %d output URL(s) ignored (over %d per job, or longer than %d characters)",
            request_id, dropped, MAX_OUTPUTS_PER_JOB, MAX_OUTPUT_URL_CHARS,
        )
    return tuple(kept)


_URL_PREFIXES = ("https://", "http://")
