"""Exit codes a script can rely on, and the token never shown: the command line as a subprocess."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

import pytest

import runcomfy_async
from runcomfy_async.cli._exit_codes import (
    NO_INPUT,
    NO_PERMISSION,
    SUCCESS,
    UNAVAILABLE,
    USAGE,
)
from runcomfy_async.sandbox import ThreadedSandbox

from .conftest import CLI, V3, cdn, clean_env, cli, write_prompts


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("frobnicate",),
        ("status",),
        ("batch", "p.txt"),  # no --out
        ("batch", "p.txt", "--out", "o", "--max-in-flight", "0"),
        ("run", V3, "--input", "{}", "--input-file", "x.json"),
    ],
)
def test_usage_errors_exit_64(args: tuple[str, ...]) -> None:
    done = cli(*args)
    assert done.returncode == USAGE
    assert "usage:" in done.stderr
    assert done.stdout == ""


def test_help_documents_every_exit_code() -> None:
    done = cli("--help")
    assert done.returncode == SUCCESS
    for code in ("0", "1", "64", "65", "66", "69", "77", "130"):
        assert f"\n  {code} " in done.stdout


def test_sandbox_with_a_base_url_is_a_usage_error() -> None:
    done = cli("status", "abc", "--sandbox", "--base-url", "http://127.0.0.1:1/v1")
    assert done.returncode == USAGE
    assert "--sandbox serves its own API" in done.stderr


def test_no_token_exits_77_and_says_where_tokens_come_from() -> None:
    done = cli("status", "abc")
    assert done.returncode == NO_PERMISSION
    assert "RUNCOMFY_API_TOKEN" in done.stderr
    assert "--token-file" in done.stderr


def test_missing_token_file_exits_66(tmp_path: Path) -> None:
    done = cli("status", "abc", "--token-file", str(tmp_path / "nope"))
    assert done.returncode == NO_INPUT


@pytest.mark.parametrize("command", [("status", "abc"), ("batch", "p.txt", "--model", V3)])
def test_wrong_token_exits_77_before_anything_is_submitted(
    sandbox: ThreadedSandbox, tmp_path: Path, command: tuple[str, ...]
) -> None:
    write_prompts(tmp_path / "p.txt", ["a fox"])
    env = clean_env(RUNCOMFY_API_TOKEN="not-the-token", RUNCOMFY_MODEL_API_BASE=sandbox.base_url)
    done = cli(*command, "--out", "out", env=env, cwd=tmp_path) if command[0] == "batch" else cli(
        *command, env=env
    )
    assert done.returncode == NO_PERMISSION, done.stderr
    assert sandbox.stats.requests_by_endpoint.get("submit", 0) == 0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("command", [("status", "abc"), ("batch", "p.txt", "--model", V3)])
def test_unreachable_service_exits_69(tmp_path: Path, command: tuple[str, ...]) -> None:
    write_prompts(tmp_path / "p.txt", ["a fox"])
    base = f"http://127.0.0.1:{closed_port()}/v1"
    extra = ("--out", "out") if command[0] == "batch" else ()
    done = cli(*command, *extra, "--base-url", base, "--retries", "1",
               env=clean_env(RUNCOMFY_API_TOKEN="t"), cwd=tmp_path)
    assert done.returncode == UNAVAILABLE, done.stderr
    assert "error:" in done.stderr


def test_the_token_appears_nowhere_even_when_debugging(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(sandbox.token + "\n", encoding="utf-8")
    inputs = write_prompts(tmp_path / "p.txt", ["a fox", "a hen"])
    out = tmp_path / "out"
    env = clean_env(RUNCOMFY_MODEL_API_BASE=sandbox.base_url)
    batch = cli("-vv", "batch", str(inputs), "--model", V3, "--out", str(out), "--json",
                "--token-file", str(token_file), *cdn(sandbox), env=env)
    run = cli("run", V3, "--prompt", "a cat", "-vv", "--json", "--token-file", str(token_file),
              env=env)
    assert batch.returncode == run.returncode == SUCCESS, batch.stderr + run.stderr
    assert "DEBUG" in batch.stderr  # -vv did log the requests
    for done in (batch, run):
        assert sandbox.token not in done.stdout + done.stderr
    for path in (p for p in out.rglob("*") if p.is_file()):
        assert sandbox.token.encode() not in path.read_bytes(), path.name
    assert sandbox.stats.cdn_credentials_seen == ()


def test_version_prints_the_version() -> None:
    done = cli("--version")
    assert done.returncode == SUCCESS
    assert done.stdout.split()[-1] == runcomfy_async.__version__


def test_sandbox_command_serves_a_sandbox_other_commands_can_use() -> None:
    server = subprocess.Popen([*CLI, "sandbox", "--port", "0", "--time-scale", "0.01"],
                              stdout=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert server.stdout is not None
        served = json.loads(server.stdout.readline())
        done = cli("models", "list", "--base-url", served["base_url"],
                   env=clean_env(RUNCOMFY_API_TOKEN=served["token"]))
        assert done.returncode == SUCCESS, done.stderr
        assert V3 in done.stdout
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == SUCCESS


def test_sandbox_command_usage_errors_exit_64() -> None:
    assert cli("sandbox", "--workers", "many").returncode == USAGE
