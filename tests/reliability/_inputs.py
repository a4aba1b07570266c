"""The suite's inputs, in a module with no imports so that child processes load it cheaply."""

from __future__ import annotations

from typing import Any

# Inputs whose prefix starts with this include, every 7th, one the batch refuses before
# sending (not a mapping): the crash tests need the "refused without a job" transition too.
WITH_INVALID = "invalid-"


def make_inputs(n: int, prefix: str = "job") -> list[Any]:
    """``n`` distinct inputs; outputs are drawn 16x16 so that downloads stay cheap."""
    return [
        f"not an input {i}" if prefix.startswith(WITH_INVALID) and i % 7 == 3
        else {"prompt": f"{prefix} {i}", "width": 16, "height": 16}
        for i in range(n)
    ]
