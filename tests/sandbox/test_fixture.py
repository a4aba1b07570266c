"""The pytest fixtures and `ThreadedSandbox`, used from plain synchronous tests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from runcomfy_async.sandbox import FaultPlan, ThreadedSandbox

T2I = "ideogram/ideogram-v3/text-to-image"
WAIT_LIMIT_S = 5.0


def request(sandbox: ThreadedSandbox, method: str, url: str, body: Any = None) -> Any:
    """A synchronous JSON request with the sandbox's token."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {sandbox.token}", "Content-Type": "application/json"}
    with urllib.request.urlopen(
        urllib.request.Request(url, data=data, method=method, headers=headers), timeout=5
    ) as response:
        return json.loads(response.read())


def test_runcomfy_sandbox_fixture_runs_a_job_to_the_end(
    runcomfy_sandbox: ThreadedSandbox,
) -> None:
    job = request(
        runcomfy_sandbox, "POST", f"{runcomfy_sandbox.base_url}/models/{T2I}", {"prompt": "a fox"}
    )
    deadline = time.monotonic() + WAIT_LIMIT_S
    result = request(runcomfy_sandbox, "GET", job["result_url"])
    while result["status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.02)
        result = request(runcomfy_sandbox, "GET", job["result_url"])

    assert result["status"] == "succeeded"
    assert runcomfy_sandbox.stats.jobs_created == 1


def test_runcomfy_sandbox_factory_makes_configured_sandboxes(
    runcomfy_sandbox_factory: Callable[..., ThreadedSandbox],
) -> None:
    faulty = runcomfy_sandbox_factory(faults=FaultPlan.uniform(rate_limit=1.0))

    with pytest.raises(urllib.error.HTTPError) as refused:
        request(faulty, "GET", f"{faulty.base_url}/models")

    assert refused.value.code == 429
    assert faulty.stats.faults_by_kind == {"rate_limit": 1}


def test_threaded_sandbox_changes_faults_and_resets_stats_from_another_thread() -> None:
    with ThreadedSandbox(faults=FaultPlan.uniform(rate_limit=1.0)) as sandbox:
        sandbox.faults = FaultPlan()
        request(sandbox, "GET", f"{sandbox.base_url}/models")
        counted = sandbox.stats.total_requests
        sandbox.reset_stats()

        assert counted == 1
        assert sandbox.stats.total_requests == 0


def test_threaded_sandbox_restarts_on_the_same_port() -> None:
    with ThreadedSandbox() as sandbox:
        port = sandbox.port
        sandbox.restart(downtime_s=0.05)

        assert request(sandbox, "GET", f"{sandbox.base_url}/models")["total"] == 4
        assert sandbox.port == port
        assert sandbox.stats.restarts == 1
