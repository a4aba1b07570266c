"""The command line, run as a subprocess against sandboxes on loopback."""

from __future__ import annotations

import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from runcomfy_async._constants import BASE_URL_ENV, TOKEN_ENVS
from runcomfy_async.sandbox import ModelSpec, ThreadedSandbox

CLI = (sys.executable, "-m", "runcomfy_async")
V3 = "ideogram/ideogram-v3/text-to-image"
FLAKY = "test/flaky"  # half its jobs fail
BROKEN = "test/broken"  # every job fails
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "properties": {"prompt": {"type": "string"}, "seed": {"type": "integer"}},
}
# Sandboxes run the models' durations this much faster: Ideogram's ~8 s become ~16 ms.
FAST = "0.002"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any token or base URL of the person running the tests."""
    env = {k: v for k, v in os.environ.items() if k not in (*TOKEN_ENVS, BASE_URL_ENV)}
    env.update(extra)
    return env


def cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the command line to its end."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        input=stdin,
        cwd=cwd,
        timeout=timeout,
    )


def start(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, **popen: Any
) -> subprocess.Popen[str]:
    """Start the command line; standard output and error are pipes unless told otherwise."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [*CLI, *args], text=True, env=env if env is not None else clean_env(), cwd=cwd, **popen
    )


class LineReader:
    """Reads a process's pipe line by line in a thread, so that a test can wait for lines
    with a bound (a bound on the test, not a timing assertion)."""

    def __init__(self, stream: Any) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def lines(self, count: int, timeout: float = 60) -> list[str]:
        """The next ``count`` lines, or fewer if the pipe ends or ``timeout`` passes."""
        got: list[str] = []
        until = time.monotonic() + timeout
        while len(got) < count:
            try:
                line = self._lines.get(timeout=max(until - time.monotonic(), 0.001))
            except queue.Empty:
                break
            if line is None:
                self._lines.put(None)
                break
            got.append(line)
        self.seen += got
        return got


def resume_command(stderr: str) -> list[str]:
    """The command a stopped batch printed to resume it."""
    (line,) = [line for line in stderr.splitlines() if "To resume: " in line]
    command = line.split("To resume: ", 1)[1].split("   (", 1)[0]
    return shlex.split(command)


def against(sandbox: ThreadedSandbox) -> dict[str, str]:
    """The environment that points the command line at `sandbox`."""
    return clean_env(RUNCOMFY_API_TOKEN=sandbox.token, RUNCOMFY_MODEL_API_BASE=sandbox.base_url)


def cdn(sandbox: ThreadedSandbox) -> tuple[str, str]:
    """The option that lets downloads come from `sandbox`'s file server."""
    return ("--download-origin", sandbox.cdn_base_url)


def write_prompts(path: Path, prompts: Sequence[str]) -> Path:
    path.write_text("".join(f"{prompt}\n" for prompt in prompts), encoding="utf-8")
    return path


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    """A fast sandbox serving the Ideogram models and two failing test models."""
    with ThreadedSandbox(
        time_scale=float(FAST),
        seed=11,
        models=[
            ModelSpec(FLAKY, SCHEMA, failure_rate=0.5, median_s=1.0),
            ModelSpec(BROKEN, SCHEMA, failure_rate=1.0, median_s=1.0),
        ],
    ) as sb:
        yield sb
