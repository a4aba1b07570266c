"""``python -m runcomfy_async.sandbox`` (and ``runcomfy-async sandbox``): one JSON line,
serving, SIGTERM, a stats file, job failures, a balance and the HTTPS CDN."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# --- Failures, balance and the HTTPS CDN, from the command line ----------------------------

T2I = "ideogram/ideogram-v3/text-to-image"
V2 = "ideogram/ideogram-v2/generate"
ENTRIES = {
    "module": ["-m", "runcomfy_async.sandbox"],
    "cli": ["-m", "runcomfy_async", "sandbox"],
}


@contextlib.contextmanager
def standalone(entry: str, *options: str) -> Iterator[dict[str, Any]]:
    """Serve a standalone sandbox through `entry` ("module" or "cli"); its JSON line."""
    server = subprocess.Popen(
        [sys.executable, *ENTRIES[entry], "--token", "T0KEN", "--time-scale", "0.0001", *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())
        server.send_signal(signal.SIGTERM)
        server.wait(START_LIMIT_S)
    finally:
        server.kill()
        server.wait(START_LIMIT_S)


def api(line: dict[str, Any], method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A JSON request to the standalone sandbox; (status, body), errors included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{line['base_url']}{path}",
        data=data,
        method=method,
        headers={"Authorization": "Bearer T0KEN", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def run_job(line: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Submit a job and poll its result until it is over (bounded by a count, not a clock)."""
    _, job = api(line, "POST", f"/models/{model_id}", {"prompt": "x"})
    for _ in range(POLLS):
        _, result = api(line, "GET", f"/requests/{job['request_id']}/result")
        if result["status"] in ("succeeded", "failed", "cancelled"):
            return dict(result)
        time.sleep(POLL_S)
    raise AssertionError(f"the job did not end: {result}")


POLLS = 500
POLL_S = 0.01


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_failure_rate_fails_every_model_from_both_entries(entry: str) -> None:
    with standalone(entry, "--failure-rate", "1") as line:
        results = [run_job(line, model_id) for model_id in (T2I, V2)]

    assert [result["status"] for result in results] == ["failed", "failed"]
    assert all(result["error"] for result in results)


def test_failure_rate_can_name_one_model() -> None:
    with standalone("module", "--failure-rate", f"{T2I}=1") as line:
        failing, healthy = run_job(line, T2I), run_job(line, V2)

    assert (failing["status"], healthy["status"]) == ("failed", "succeeded")


def test_failure_rate_naming_an_unknown_model_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runcomfy_async.sandbox", "--failure-rate", "acme/none=1"],
        capture_output=True,
        text=True,
        timeout=START_LIMIT_S,
        check=False,
    )

    assert done.returncode == 2
    assert "acme/none" in done.stderr


def test_balance_refuses_submits_once_spent() -> None:
    with standalone("module", "--balance", "0.05") as line:
        first = run_job(line, T2I)
        status, body = api(line, "POST", f"/models/{T2I}", {"prompt": "again"})
        _, costed = api(line, "GET", f"/requests/{first['request_id']}/result?include_cost=true")

    assert first["status"] == "succeeded"
    assert costed["cost"] == 0.06
    assert (status, body["error_code"]) == (402, 400002)


def test_runs_without_a_seed_issue_different_ids() -> None:
    ids = []
    for _ in range(2):
        with standalone("module") as line:
            ids.append(api(line, "POST", f"/models/{T2I}", {"prompt": "x"})[1]["request_id"])

    assert ids[0] != ids[1]


def test_cdn_https_names_the_ca_file_and_the_host() -> None:
    pytest.importorskip("trustme")
    with standalone("module", "--cdn-https") as line:
        result = run_job(line, T2I)
        ca_pem = Path(line["cdn_ca_file"]).read_text()

    assert line["cdn_host"] == "cdn.sandbox.runcomfy.net"
    assert line["cdn_base_url"].startswith("https://cdn.sandbox.runcomfy.net:")
    assert result["output"]["images"][0].startswith(line["cdn_base_url"])
    assert ca_pem.startswith("-----BEGIN CERTIFICATE-----")
