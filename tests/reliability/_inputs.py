"""The suite's inputs, in a module with no imports so that child processes load it cheaply."""

from __future__ import annotations

from typing import Any


def make_inputs(n: int, prefix: str = "job") -> list[dict[str, Any]]:
    """``n`` distinct inputs; outputs are drawn 16x16 so that downloads stay cheap."""
    return [{"prompt": f"{prefix} {i}", "width": 16, "height": 16} for i in range(n)]
