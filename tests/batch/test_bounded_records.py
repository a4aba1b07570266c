"""What one job writes to the journal and the manifest is bounded, and a resume still reads
back every output URL and the job's state from a shortened row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import runcomfy_async as rc
from runcomfy_async import InputState
from runcomfy_async._constants import MAX_JOURNALED_JSON_CHARS
from tests._rig import scripted_api

from .conftest import FAST, prompts

pytestmark = pytest.mark.timeout(60)

# Room for the fields around a shortened value (ids, state, timestamps, the cut marker).
SLACK = 1024


class Service:
    """Answers every submit with a new id, and every result with ``result`` (and counts)."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.requests = 0

    async def submit(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response({"request_id": f"r-{self.requests}"})

    async def answer(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response({"request_id": request.match_info["rid"], **self.result})

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/models/{model:.*}", self.submit),
                web.get("/v1/requests/{rid}/result", self.answer)]


async def run_batch(service: Service, n: int, **options: Any) -> list[rc.Outcome]:
    async with scripted_api(service.routes()) as base_url, rc.AsyncRunComfy(
        api_token="t", base_url=base_url
    ) as client, client.map(FAST, prompts(n), **options) as outcomes:
        return [o async for o in outcomes]


def stored_sizes(journal: Path) -> list[tuple[int, int]]:
    """Characters of each row's result_json and error_json, as stored."""
    with sqlite3.connect(journal) as db:
        rows = db.execute(
            "SELECT coalesce(length(result_json), 0), coalesce(length(error_json), 0)"
            " FROM items ORDER BY input_index"
        ).fetchall()
    return [(int(a), int(b)) for a, b in rows]


async def test_a_huge_raw_result_is_journaled_short_and_resumes_with_every_output(
    tmp_path: Path,
) -> None:
    # 64 long output URLs (over the cap on their own) beside 300 KB of other fields.
    urls = [f"https://cdn.runcomfy.net/{n:02d}/{'u' * 3000}.png" for n in range(64)]
    service = Service({
        "status": "succeeded", "output": {"images": urls}, "debug": "x" * 300_000,
        "created_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:09Z",
        "cost": 0.06,
    })
    journal = tmp_path / "j.sqlite"

    first = await run_batch(service, 2, journal=journal)
    requests = service.requests
    again = await run_batch(service, 2, journal=journal)

    assert [o.outputs for o in first] == [tuple(urls)] * 2
    url_chars = len(json.dumps(urls))
    assert all(result <= url_chars + SLACK for result, _ in stored_sizes(journal))
    assert service.requests == requests  # the resumed batch sent nothing
    assert all(o.from_journal and o.state is InputState.SUCCEEDED for o in again)
    assert [o.outputs for o in again] == [tuple(urls)] * 2
    before, resumed = first[0].result, again[0].result
    assert before is not None
    assert resumed is not None
    assert (resumed.cost, resumed.finished_at) == (0.06, before.finished_at)


@pytest.mark.parametrize("error", [
    "boom: " + "e" * 200_000,
    {"error_message": "boom: " + "e" * 200_000},
    [{"errorCode": "E42", "error": "boom: " + "e" * 200_000, "debugInfo": "d" * 200_000}],
], ids=["string", "object", "list"])
async def test_a_huge_job_error_is_shortened_in_the_journal_and_the_manifest(
    tmp_path: Path, error: Any
) -> None:
    service = Service({"status": "failed", "error": error})
    journal, out = tmp_path / "j.sqlite", tmp_path / "out"

    first = await run_batch(service, 3, journal=journal, download_to=out)
    again = await run_batch(service, 3, journal=journal)

    assert all(o.state is InputState.FAILED for o in first)
    for result, error_chars in stored_sizes(journal):
        assert result <= MAX_JOURNALED_JSON_CHARS + SLACK
        assert error_chars <= MAX_JOURNALED_JSON_CHARS + SLACK
    lines = (out / "manifest.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 3
    assert all(len(line) <= MAX_JOURNALED_JSON_CHARS + SLACK for line in lines)
    kept = json.loads(lines[0])["error"]
    assert type(kept) is type(error)  # the shape a reader knows is kept, its strings cut
    if isinstance(error, list):
        assert kept[0]["errorCode"] == "E42"
    assert all(o.from_journal and o.state is InputState.FAILED for o in again)
    assert all(isinstance(o.error, rc.JobFailedError) and "boom" in str(o.error) for o in again)


def test_resume_reads_only_indices_and_request_ids_from_the_manifest(tmp_path: Path) -> None:
    """What a resume needs of a manifest, read without building a record per line; lines a
    killed run cut short, and lines that are not records, are skipped as the reader skips
    them."""
    from runcomfy_async.store._manifest import read_manifest_ids

    path = tmp_path / "manifest.jsonl"
    path.write_text(
        '{"index":0,"request_id":"r-0","state":"succeeded"}\n'
        "\n"
        '{"index":1,"request_id":null,"state":"refused"}\n'
        '["not", "a", "record"]\n'
        '{"index":true,"request_id":"r-x"}\n'
        '{"index":-3,"state":"refused"}\n'
        '{"index":2,"request_id":"r-2","sta',
        encoding="utf-8",
    )
    indices, request_ids = read_manifest_ids(path)
    assert indices == {0, 1, -3}
    assert request_ids == {"r-0"}
