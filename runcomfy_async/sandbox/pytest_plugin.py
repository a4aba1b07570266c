"""Pytest fixtures that serve a RunComfy sandbox (registered through the ``pytest11`` entry
point, so they are there as soon as the package is installed).

- ``runcomfy_sandbox``: a started `ThreadedSandbox`, 100 times faster than real time, one per
  test. Point a client at ``runcomfy_sandbox.base_url`` with ``runcomfy_sandbox.token``.
- ``runcomfy_sandbox_factory``: call it with `SandboxOptions` settings by name (or
  ``options=``) to get more, configured ones (faults, seeds, workers); they stop when the test
  ends.

The sandboxes run on their own loop in a thread, so the fixtures work in sync tests and under
any async plugin (pytest-asyncio, anyio, none).

Pytest loads this module in every run of every project that has the package installed,
whether or not a test uses a sandbox. So it imports only pytest and the standard library at
module level, and the fixtures import the sandbox (aiohttp's server, jsonschema, Pillow when
drawing) the first time a test asks for one; ``runcomfy_async.sandbox`` itself imports its
names only on first use. Python imports the parent packages first, and they are as lazy:
``runcomfy_async`` loads its version and its lazy-import helper, not the client or aiohttp.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._options import SandboxOptions
    from ._threaded import ThreadedSandbox


@pytest.fixture
def runcomfy_sandbox() -> Iterator[ThreadedSandbox]:
    """A started sandbox, 100 times faster than real time, stopped after the test.

    The sandbox is imported here, when a test first asks for it, not when the plugin loads.
    """
    from ._constants import FIXTURE_TIME_SCALE
    from ._threaded import ThreadedSandbox

    with ThreadedSandbox(time_scale=FIXTURE_TIME_SCALE) as sandbox:
        yield sandbox


@pytest.fixture
def runcomfy_sandbox_factory() -> Iterator[Callable[..., ThreadedSandbox]]:
    """Make started sandboxes from `SandboxOptions` settings, given by name or as
    ``options=``; all are stopped after the test.

    Without ``options=``, ``time_scale`` defaults to the fixture's (100 times faster than
    real time); given options are used as they are, with any named settings on top. Like
    ``runcomfy_sandbox``, it imports the sandbox only when a test asks for it.
    """
    from ._constants import FIXTURE_TIME_SCALE
    from ._threaded import ThreadedSandbox

    started: list[ThreadedSandbox] = []

    def make(options: SandboxOptions | None = None, **settings: Any) -> ThreadedSandbox:
        if options is None:
            settings = {"time_scale": FIXTURE_TIME_SCALE, **settings}
        sandbox = ThreadedSandbox(options, **settings)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in reversed(started):
        sandbox.close()
