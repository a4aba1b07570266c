"""The sandbox driven as RunComfy's official CLI (Rust, ``runcomfy-com/runcomfy-cli``) drives
the Model API, with the CLI's strict JSON types.

What the CLI does (read in ``src/cmd/models.rs``, ``src/cmd/mod.rs``, ``src/cmd/run.rs``,
``src/poll.rs`` and ``src/download.rs``), restated here:

- ``models list`` sends ``limit`` and ``offset`` always, ``search``/``category``/``kind`` when
  given; it reads ``models`` as an array and ``total`` as an unsigned integer, and renders each
  entry's ``model_id``, ``display_name``, ``categories`` (an array joined with commas) and a
  price ``$<base_price_usd>/<price_unit>``, where the price must be a JSON number and the unit
  a string, else the cell is ``-``;
- ``models categories`` reads ``categories`` as an array of strings; ``models get`` trims
  slashes off the id;
- ``run`` reads the submit answer's ``request_id`` as a string and builds
  ``{base}/requests/{request_id}/status`` itself (the answer's ``status_url`` is not used;
  its ``result_url`` is, when given); it polls that at once, then at an interval, and ends on
  ``completed succeeded failed cancelled canceled``;
- status answers are read with ``request_id`` and ``status`` as strings and
  ``queue_position`` as an optional integer (``i64``): any other type stops the run with
  "parse status response"; a result's ``request_id`` and ``status`` are strings too, and its
  ``created_at``/``finished_at`` optional strings;
- the result's ``output`` is walked for every http(s) URL, once each, in order; only hosts
  ending in ``.runcomfy.net`` or ``.runcomfy.com`` are downloaded, without the token;
- a cancel answer's ``outcome`` says ``cancelled`` or ``not_cancellable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yarl

from runcomfy_async.sandbox import ModelSpec, Sandbox

from ._support import PROMPT_SCHEMA, STUCK, T2I, V2, auth

INFERENCE_TERMINAL = {"completed", "succeeded", "failed", "cancelled", "canceled"}
TRUSTED_SUFFIXES = (".runcomfy.net", ".runcomfy.com")
POLLS = 2000
POLL_S = 0.005
VIDEO = ModelSpec(
    "acme/clip/text-to-video",
    PROMPT_SCHEMA,
    output_kind="video",
    base_price_usd=0.1,
    price_unit="second",
)


def as_u64(value: Any) -> int | None:
    """serde_json's ``as_u64``: a non-negative JSON integer, nothing else."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def as_f64(value: Any) -> float | None:
    """serde_json's ``as_f64``: any JSON number (not a boolean, not a string)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if is_number else None


def as_i64(value: Any) -> int | None:
    """serde's ``i64``: a JSON integer in range (not a boolean, a float or a string)."""
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    return value if is_integer and -(2**63) <= value < 2**63 else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_status(payload: Any) -> dict[str, Any]:
    """A status answer as the CLI's ``StatusResponse`` reads it, or an AssertionError where
    the CLI would stop with "parse status response"."""
    assert isinstance(payload, dict), payload
    assert as_str(payload.get("request_id")), payload
    assert as_str(payload.get("status")) is not None, payload
    position = payload.get("queue_position")
    assert position is None or as_i64(position) is not None, payload
    return payload


def read_result(payload: Any) -> dict[str, Any]:
    """A result answer as the CLI's ``ResultResponse`` reads it."""
    assert isinstance(payload, dict), payload
    assert as_str(payload.get("request_id")), payload
    assert as_str(payload.get("status")) is not None, payload
    for key in ("created_at", "finished_at"):
        assert payload.get(key) is None or as_str(payload[key]) is not None, payload
    return payload


def field(entry: dict[str, Any], key: str) -> str:
    """The CLI's table cell for a field."""
    value = entry.get(key)
    if value is None or value in ("", []):
        return "-"
    if isinstance(value, list):
        return ",".join(item if isinstance(item, str) else str(item) for item in value)
    return value if isinstance(value, str) else str(value)


def price(entry: dict[str, Any]) -> str:
    """The CLI's price cell."""
    amount, unit = as_f64(entry.get("base_price_usd")), as_str(entry.get("price_unit"))
    if amount is None:
        return "-"
    return f"${amount:g}/{unit}" if unit is not None else f"${amount:g}"


def collect_urls(value: Any, found: list[str]) -> list[str]:
    if isinstance(value, str):
        if value.startswith(("http://", "https://")) and value not in found:
            found.append(value)
    elif isinstance(value, list):
        for item in value:
            collect_urls(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            collect_urls(item, found)
    return found


def is_trusted(url: str) -> bool:
    parsed = yarl.URL(url)
    host = (parsed.host or "").lower()
    return parsed.scheme in ("http", "https") and host.endswith(TRUSTED_SUFFIXES)


class Cli:
    """The CLI's Model API calls against a base URL that includes ``/v1``."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def get(self, path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.session.get(self.base + path, params=query) as response:
            return response.status, await response.json(content_type=None)

    async def models_list(self, limit: int = 50, offset: int = 0, **filters: str) -> Any:
        query = {"limit": str(limit), "offset": str(offset)}
        query.update({key: value for key, value in filters.items() if value.strip()})
        status, body = await self.get("/models", query)
        assert status == 200, body
        return body

    def status_url(self, request_id: str) -> str:
        """The CLI builds this itself from its base; it never reads ``status_url``."""
        return f"{self.base}/requests/{request_id}/status"

    async def run(self, model_id: str, inputs: dict[str, Any]) -> tuple[list[str], Any]:
        async with self.session.post(f"{self.base}/models/{model_id}", json=inputs) as response:
            submitted = await response.json()
        request_id = as_str(submitted.get("request_id"))
        assert request_id, submitted  # a String, or the CLI stops at "parse submit response"
        result_url = as_str(submitted.get("result_url")) or (
            f"{self.base}/requests/{request_id}/result"
        )
        described = []
        for _ in range(POLLS):
            async with self.session.get(self.status_url(request_id)) as response:
                payload = read_status(await response.json())
            status = payload["status"]
            position = as_i64(payload.get("queue_position"))
            described.append(f"{status} (position {position})" if position is not None else status)
            if status.lower() in INFERENCE_TERMINAL:
                break
            await asyncio.sleep(POLL_S)
        async with self.session.get(result_url) as response:
            return described, read_result(await response.json())


@pytest.fixture
async def cli() -> AsyncIterator[tuple[Sandbox, Cli]]:
    async with (
        Sandbox(models=[VIDEO, STUCK], time_scale=0.0005, workers=1) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        yield sb, Cli(session, sb.base_url)


async def test_models_list_renders_every_entry_with_strict_types(
    cli: tuple[Sandbox, Cli],
) -> None:
    _, client = cli

    body = await client.models_list(limit=500)

    assert isinstance(body["models"], list)
    assert as_u64(body["total"]) == len(body["models"])
    rows = {
        entry["model_id"]: (field(entry, "display_name"), field(entry, "categories"), price(entry))
        for entry in body["models"]
    }
    assert rows[T2I] == ("Ideogram V3 Text To Image", "text-to-image", "$0.06/output")
    assert rows[V2] == ("Ideogram V2 Generate", "text-to-image", "$0.08/output")
    assert rows[VIDEO.model_id][1:] == ("text-to-video", "$0.1/second")
    assert all(cell != "-" for row in rows.values() for cell in row)


async def test_models_list_pages_and_filters_as_the_cli_asks(cli: tuple[Sandbox, Cli]) -> None:
    _, client = cli

    page = await client.models_list(limit=2, offset=1)
    edits = await client.models_list(category="image-to-image", search="  ", kind="model")

    assert len(page["models"]) == 2
    assert as_u64(page["total"]) == 6
    assert [entry["model_id"] for entry in edits["models"]] == [
        "ideogram/ideogram-v3/edit",
        "ideogram/ideogram-v3/reframe",
    ]


async def test_models_categories_is_an_array_of_strings(cli: tuple[Sandbox, Cli]) -> None:
    _, client = cli

    status, body = await client.get("/models/categories")

    assert status == 200
    assert all(as_str(category) for category in body["categories"])
    assert "text-to-video" in body["categories"]


async def test_models_get_takes_the_id_with_its_slashes_trimmed(cli: tuple[Sandbox, Cli]) -> None:
    _, client = cli
    model_id = f"/{T2I}/".strip("/")

    status, body = await client.get(f"/models/{model_id}")

    assert status == 200
    assert (field(body, "display_name"), field(body, "categories"), price(body)) == (
        "Ideogram V3 Text To Image",
        "text-to-image",
        "$0.06/output",
    )
    assert isinstance(body["input_schema"], dict)


async def test_run_polls_the_status_path_it_builds_until_completed_then_reads_the_result(
    cli: tuple[Sandbox, Cli],
) -> None:
    _, client = cli

    described, result = await client.run(T2I, {"prompt": "a fox"})

    assert described[-1] == "completed"
    assert set(described) <= {"in_queue (position 0)", "in_progress", "completed"}
    assert result["status"] == "succeeded"
    assert len(collect_urls(result["output"], [])) == 1


async def test_a_queued_job_is_described_with_its_integer_position(
    cli: tuple[Sandbox, Cli],
) -> None:
    sb, client = cli
    async with client.session.post(f"{sb.base_url}/models/{STUCK.model_id}", json={"prompt": "a"}):
        pass
    async with client.session.post(
        f"{sb.base_url}/models/{STUCK.model_id}", json={"prompt": "b"}
    ) as response:
        queued = await response.json()

    async with client.session.get(client.status_url(queued["request_id"])) as response:
        payload = read_status(await response.json())

    assert (payload["request_id"], payload["status"]) == (queued["request_id"], "in_queue")
    assert as_i64(payload["queue_position"]) == 0


async def test_cancel_answers_an_outcome_the_cli_prints(cli: tuple[Sandbox, Cli]) -> None:
    sb, client = cli
    answers = []
    for prompt in ("running", "queued"):
        async with client.session.post(
            f"{sb.base_url}/models/{STUCK.model_id}", json={"prompt": prompt}
        ) as response:
            job = await response.json()
        async with client.session.post(job["cancel_url"]) as response:
            answers.append((response.status, await response.json()))

    (running_code, running), (queued_code, queued) = answers
    assert (running_code, running["outcome"], running["status"]) == (
        202,
        "not_cancellable",
        "in_progress",
    )
    assert (queued_code, queued["outcome"], queued["status"]) == (202, "cancelled", "completed")


async def test_a_failed_run_carries_an_error_the_cli_can_print(cli: tuple[Sandbox, Cli]) -> None:
    sb, client = cli
    sb.failure_rate = 1.0

    described, result = await client.run(V2, {"prompt": "x"})

    assert described[-1] == "completed"
    assert result["status"] == "failed"
    assert result["error"] is not None
    assert "output" not in result


async def test_plain_sandbox_outputs_are_outside_the_cli_download_hosts(
    cli: tuple[Sandbox, Cli],
) -> None:
    _, client = cli

    _, result = await client.run(T2I, {"prompt": "x"})

    assert [is_trusted(url) for url in collect_urls(result["output"], [])] == [False]


async def test_https_cdn_outputs_are_trusted_and_download_without_the_token() -> None:
    pytest.importorskip("trustme")
    async with (
        Sandbox(time_scale=0.0005, cdn_https=True) as sb,
        aiohttp.ClientSession(headers=auth(sb.token)) as session,
    ):
        _, result = await Cli(session, sb.base_url).run(T2I, {"prompt": "x"})
        urls = collect_urls(result["output"], [])
        connector = aiohttp.TCPConnector(resolver=sb.resolver(), ssl=sb.cdn_ssl_context())
        async with aiohttp.ClientSession(connector=connector) as downloads:
            sizes = []
            for url in filter(is_trusted, urls):
                async with downloads.get(url) as response:
                    sizes.append((response.status, len(await response.read())))
        seen = sb.stats.cdn_credentials_seen

    assert len(urls) == 1
    assert [status for status, _ in sizes] == [200]
    assert all(size > 0 for _, size in sizes)
    assert seen == []
