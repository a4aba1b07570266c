"""Pytest fixtures that serve a RunComfy sandbox (registered through the ``pytest11`` entry
point, so they are there as soon as the package is installed).

- ``runcomfy_sandbox``: a started `ThreadedSandbox`, 100 times faster than real time, one per
  test. Point a client at ``runcomfy_sandbox.base_url`` with ``runcomfy_sandbox.token``.
- ``runcomfy_sandbox_factory``: call it with `Sandbox`'s keyword arguments to get more,
  configured ones (faults, seeds, workers); they stop when the test ends.

The sandboxes run on their own loop in a thread, so the fixtures work in sync tests and under
any async plugin (pytest-asyncio, anyio, none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._constants import FIXTURE_TIME_SCALE

if TYPE_CHECKING:
    from ._threaded import ThreadedSandbox


@pytest.fixture
def runcomfy_sandbox() -> Iterator[ThreadedSandbox]:
    """A started sandbox with a small time scale, stopped after the test."""
    # Imported here so that merely loading the plugin (every pytest run) stays cheap.
    from ._threaded import ThreadedSandbox

    with ThreadedSandbox(time_scale=FIXTURE_TIME_SCALE) as sandbox:
        yield sandbox


@pytest.fixture
def runcomfy_sandbox_factory() -> Iterator[Callable[..., ThreadedSandbox]]:
    """Make started sandboxes from `Sandbox`'s keyword arguments (time_scale defaults small)."""
    from ._threaded import ThreadedSandbox

    started: list[ThreadedSandbox] = []

    def make(**options: Any) -> ThreadedSandbox:
        sandbox = ThreadedSandbox(**{"time_scale": FIXTURE_TIME_SCALE, **options})
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in reversed(started):
        sandbox.close()
