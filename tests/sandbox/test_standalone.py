"""``python -m runcomfy_async.sandbox``: one JSON line, serving, SIGTERM, a stats file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from runcomfy_async.sandbox import EndpointFaults
from runcomfy_async.sandbox._standalone import fault_plan

START_LIMIT_S = 20.0


def test_standalone_prints_its_urls_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    stats_file = tmp_path / "stats.json"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runcomfy_async.sandbox",
            "--port",
            "0",
            "--workers",
            "2",
            "--time-scale",
            "0.01",
            "--seed",
            "0",
            "--token",
            "T0KEN",
            "--stats-file",
            str(stats_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = json.loads(server.stdout.readline())
        request = urllib.request.Request(
            f"{line['base_url']}/models", headers={"Authorization": "Bearer T0KEN"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            catalog = json.loads(response.read())
        server.send_signal(signal.SIGTERM)
        exit_code = server.wait(START_LIMIT_S)
    finally:
        server.kill()

    assert set(line) == {"base_url", "cdn_base_url", "token"}
    assert line["token"] == "T0KEN"
    assert catalog["total"] == 4
    assert exit_code == 0
    assert json.loads(stats_file.read_text())["responses_by_endpoint_status"] == {"models 200": 1}


def test_fault_rate_without_endpoint_applies_everywhere() -> None:
    plan = fault_plan(["429=0.1", "dropped=0.2"])

    assert plan.status == EndpointFaults(rate_limit=0.1)
    assert plan.submit == EndpointFaults(rate_limit=0.1, accepted_then_dropped=0.2)


def test_fault_rate_with_endpoint_applies_there_only() -> None:
    plan = fault_plan(["result:5xx=0.3"], retry_after_s=2, slow_s=0.5)

    assert plan.result == EndpointFaults(server_error=0.3)
    assert plan.status == EndpointFaults()
    assert (plan.retry_after_s, plan.slow_s) == (2, 0.5)


@pytest.mark.parametrize("entry", ["teapot=0.1", "429=lots", "everywhere:429=0.1", "429=2"])
def test_fault_rate_rejects_bad_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        fault_plan([entry])
