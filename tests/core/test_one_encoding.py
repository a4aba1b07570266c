"""A submit's payload is encoded once, whatever uses it: the body, the journal, the
fingerprint (a 24 MB inline image encoded three or four times stalled the loop for it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import runcomfy_async.batch._store as batch_store
import runcomfy_async.core._identity as identity
import runcomfy_async.http._transport as transport
import runcomfy_async.store.journal._journal as journal_module
from runcomfy_async import AsyncRunComfy, RetryPolicy
from runcomfy_async.sandbox import Sandbox

MODEL = "ideogram/ideogram-v3/text-to-image"


@pytest.fixture
def encodings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counted: list[int] = []
    real = identity.canonical_json

    def counting(value: object) -> str:
        if isinstance(value, dict) and "prompt" in value:  # an input, not a result or error
            counted.append(1)
        return real(value)

    # Every module that encodes JSON: the count covers all of them.
    for module in (identity, transport, journal_module, batch_store):
        monkeypatch.setattr(module, "canonical_json", counting, raising=False)
    return counted


async def test_a_journaled_batch_encodes_each_payload_once(
    encodings: list[int], tmp_path: Path
) -> None:
    big = {"prompt": "a fox", "image_hint": "x" * 2_000_000}  # encoded off the loop
    small = [{"prompt": f"fox {i}"} for i in range(3)]
    async with Sandbox(time_scale=0.001) as sb, AsyncRunComfy(
        api_token=sb.token, base_url=sb.base_url, retry=RetryPolicy(initial_delay=0.01)
    ) as client:
        sb_model = MODEL
        async with client.map(sb_model, [*small, big], journal=tmp_path / "j.sqlite",
                              validate=False) as batch:
            outcomes = [o async for o in batch]
    assert len(outcomes) == 4
    assert len(encodings) == 4
