"""Generated valid inputs, sent raw to the sandbox: the server side agrees they are valid.

The sandbox shares only the schemas with the client, so this catches a typed input whose
payload the client thinks valid but a schema-checking server refuses.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from hypothesis import Phase, given, settings

from runcomfy_async.sandbox import Sandbox

from ._strategies import INPUT_CLASSES, valid_arguments

INPUTS_PER_MODEL = 8


def generated_inputs(cls: Any) -> list[Any]:
    """A fixed sample of valid inputs of ``cls``, with local images only."""
    found: list[Any] = []

    @settings(
        max_examples=INPUTS_PER_MODEL,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
    )
    @given(valid_arguments(cls, urls_too=False))
    def collect(arguments: dict[str, Any]) -> None:
        found.append(cls(**arguments))

    collect()
    return found


@pytest.mark.parametrize("cls", INPUT_CLASSES, ids=lambda cls: cls.__name__)
async def test_the_sandbox_accepts_every_generated_valid_input(cls: Any) -> None:
    inputs = generated_inputs(cls)

    async with (
        Sandbox(seed=1) as sandbox,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {sandbox.token}"}) as session,
    ):
        for item in inputs:
            url = f"{sandbox.base_url}/models/{item.model_id}"
            async with session.post(url, json=item.to_payload()) as response:
                assert response.status == 200, (item, await response.text())
