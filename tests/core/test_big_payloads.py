"""An input with an inline image of megabytes costs the event loop one encoding, no more:
it is uploaded in chunks, hashed and decoded for the journal in the journal's thread, and
the manifest keeps its long strings cut (the journal keeps it whole, for a resume)."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp import http_writer

import runcomfy_async.store.journal._journal as journal_module
from runcomfy_async import AsyncRunComfy, RetryPolicy
from runcomfy_async.batch._store import kept_input
from runcomfy_async.sandbox import Sandbox
from runcomfy_async.store._manifest import read_manifest
from runcomfy_async.store.journal import Journal

MODEL = "ideogram/ideogram-v3/text-to-image"
IMAGE_CHARS = 3_000_000  # over the size that is encoded off the loop and sent in chunks


def _big_input() -> dict[str, Any]:
    raw = bytes(range(256)) * (IMAGE_CHARS // 4 * 3 // 256)
    uri = "data:image/png;base64," + base64.b64encode(raw).decode("ascii")
    return {"prompt": "a fox in the snow", "image_hint": uri}


@pytest.fixture
def big_encodings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every JSON text over a megabyte that anything in the process encodes."""
    seen: list[int] = []
    real = json.JSONEncoder.encode

    def encode(self: json.JSONEncoder, value: Any) -> str:
        text = real(self, value)
        if len(text) > 1_000_000:
            seen.append(len(text))
        return text

    monkeypatch.setattr(json.JSONEncoder, "encode", encode)
    return seen


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every chunk aiohttp hands to a connection's transport."""
    sizes: list[int] = []
    real_write = http_writer.StreamWriter._write
    real_writelines = http_writer.StreamWriter._writelines

    def _write(self: http_writer.StreamWriter, chunk: Any) -> None:
        sizes.append(len(chunk))
        real_write(self, chunk)

    def _writelines(self: http_writer.StreamWriter, chunks: Any) -> None:
        chunks = list(chunks)
        sizes.append(sum(len(chunk) for chunk in chunks))
        real_writelines(self, chunks)

    monkeypatch.setattr(http_writer.StreamWriter, "_write", _write)
    monkeypatch.setattr(http_writer.StreamWriter, "_writelines", _writelines)
    return sizes


async def _run(tmp_path: Path, inputs: list[dict[str, Any]]) -> None:
    async with Sandbox(time_scale=0.001) as sb, AsyncRunComfy(
        api_token=sb.token, base_url=sb.base_url, retry=RetryPolicy(initial_delay=0.01)
    ) as client, client.map(MODEL, inputs, journal=tmp_path / "j.sqlite",
                          download_to=tmp_path / "out", download_hosts=["127.0.0.1"],
                          validate=False) as batch:
        outcomes = [o async for o in batch]
    assert [o.ok and o.error is None and len(o.files) == 1 for o in outcomes] == [True] * len(
        inputs
    )


async def test_a_journaled_downloading_batch_encodes_an_inline_image_once(
    big_encodings: list[int], tmp_path: Path
) -> None:
    await _run(tmp_path, [{"prompt": "a hare"}, _big_input()])
    # The submit's body is the only encoding: the journal reuses it, and the manifest
    # record holds the image cut.
    assert len(big_encodings) == 1


async def test_a_large_body_is_handed_to_the_socket_in_chunks(
    writes: list[int], tmp_path: Path
) -> None:
    big = _big_input()
    await _run(tmp_path, [big])
    assert sum(writes) > len(big["image_hint"])  # the body went through this writer
    assert max(writes) <= 64 * 1024 + 1024  # a chunk and, at most, the headers with it


async def test_the_journal_keeps_the_whole_input_and_the_manifest_a_cut_one(
    tmp_path: Path,
) -> None:
    big = _big_input()
    await _run(tmp_path, [{"prompt": "a hare"}, big])
    async with Journal(tmp_path / "j.sqlite") as journal:
        entry = await journal.get(1)
    assert entry is not None
    assert entry.input == big
    records = {record.index: record for record in read_manifest(tmp_path / "out"
                                                                / "manifest.jsonl")}
    assert records[0].input == {"prompt": "a hare"}
    kept = records[1].input
    assert kept["prompt"] == big["prompt"]
    assert kept["image_hint"].startswith("data:image/png;base64,")
    assert kept["image_hint"].endswith("…")
    assert len(kept["image_hint"]) <= 4096


async def test_the_journal_hashes_and_decodes_an_intent_in_its_own_thread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    threads: list[str] = []
    real = journal_module.fingerprint_of

    def fingerprint_of(model_id: str, canonical: bytes) -> str:
        threads.append(threading.current_thread().name)
        return real(model_id, canonical)

    monkeypatch.setattr(journal_module, "fingerprint_of", fingerprint_of)
    async with Journal(tmp_path / "j.sqlite") as journal:
        fingerprint = await journal.record_intent(0, MODEL, {"prompt": "a fox"})
    assert fingerprint == real(MODEL, b'{"prompt":"a fox"}')
    assert threads
    assert threading.main_thread().name not in threads


@pytest.mark.parametrize(
    "payload",
    [
        {"prompt": "p" * 5_000, "n": 1, "tags": ["a", "b"]},  # long, but kilobytes
        {"prompt": "p", "nested": {"list": [1, 2.5, None, True]}},
    ],
)
def test_an_input_of_kilobytes_is_kept_whole_and_as_is(payload: dict[str, Any]) -> None:
    assert kept_input(payload) is payload


def test_an_input_of_megabytes_keeps_its_short_strings_and_cuts_its_long_ones() -> None:
    payload = {"prompt": "a fox", "images": ["x" * 2_000_000, "https://a.test/b.png"],
               "mask": {"uri": "y" * 100_000}, "seed": 7}
    kept = kept_input(payload)
    assert kept["prompt"] == "a fox"
    assert kept["seed"] == 7
    assert kept["images"][1] == "https://a.test/b.png"
    assert len(kept["images"][0]) == 4096
    assert kept["images"][0].endswith("…")
    assert len(kept["mask"]["uri"]) == 4096
    assert len(payload["images"][0]) == 2_000_000  # the caller's input is left alone
