"""Pillow is an optional extra: without it a sandbox refuses to start, saying what to install."""

from __future__ import annotations

import importlib.util

import pytest

from runcomfy_async.sandbox import Sandbox, SandboxDependencyError


async def test_sandbox_without_pillow_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "PIL" else real_find_spec(name, *args),
    )

    with pytest.raises(SandboxDependencyError, match=r"runcomfy-async\[sandbox\]"):
        await Sandbox().start()
