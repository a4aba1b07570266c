"""The command line under hostile input files, and with a secret token.

- An input file with broken lines (bad JSON, non-objects, NaN, wrong types, a bad model id)
  among good ones: the command exits 65 (EX_DATAERR), names every broken line by its
  number, and sends nothing (the sandbox sees no submit).
- A batch under faults, with ``--json`` and ``-vv``: the token is in none of standard output,
  standard error, the gallery (``index.html``), the manifest, the journal or the files.

The command runs in this process (``runcomfy_async.cli.main``), against a ``ThreadedSandbox``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runcomfy_async.sandbox import FaultPlan, ModelSpec, ThreadedSandbox

from ._support import CHAOS_MODEL, SCHEMA, models, record_figures

cli = pytest.importorskip("runcomfy_async.cli")

TOKEN = "rc-cli-SECRET-5e6f7a8b9c0d"
FAILING = "reliability/cli-fails"
DATA_ERROR = 65


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str


def run_cli(sb: ThreadedSandbox, *args: str) -> Ran:
    """Run the command line here, with the token in the environment; restore logging after."""
    env = {"RUNCOMFY_API_TOKEN": sb.token, "RUNCOMFY_MODEL_API_BASE": sb.base_url}
    out, err = io.StringIO(), io.StringIO()
    library = logging.getLogger("runcomfy_async")
    saved = (library.handlers[:], library.level)
    try:
        with mock.patch.dict(os.environ, env), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        library.handlers[:], library.level = saved[0], saved[1]
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    specs = [*models(), ModelSpec(FAILING, SCHEMA, failure_rate=1.0)]
    with ThreadedSandbox(token=TOKEN, models=specs, workers=32, time_scale=0.01, seed=9) as sb:
        yield sb


# --- Broken input files ------------------------------------------------------------------------

good_lines = st.builds(lambda n: json.dumps({"prompt": f"fine {n}"}), st.integers(0, 10**6))
broken_lines = st.one_of(
    st.sampled_from([
        '{"prompt": "unterminated',
        "[1, 2, 3]",
        '"just a string"',
        "42",
        "null",
        '{"prompt": NaN}',
        '{"prompt": Infinity}',
        '{"prompt": 12}',
        '{"width": "wide", "prompt": "x"}',
        '{"model_id": 7, "prompt": "x"}',
        '{"model_id": "../../etc", "prompt": "x"}',
        "{'prompt': 'single quotes'}",
        '{"prompt": "x"} trailing',
        "\x00\x01",
    ]),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"),
            min_size=1, max_size=20).filter(lambda t: t.strip() and not _is_json_object(t)),
)


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@st.composite
def files_with_broken_lines(draw: st.DrawFn) -> tuple[str, list[int]]:
    """A JSONL text with at least one broken line, and the numbers of the broken lines."""
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=12).filter(lambda k: not all(k)))
    lines: list[str] = []
    broken: list[int] = []
    for number, good in enumerate(kinds, start=1):
        lines.append(draw(good_lines) if good else draw(broken_lines))
        if not good:
            broken.append(number)
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return bom + ending.join(lines) + ending, broken


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=files_with_broken_lines())
def test_broken_lines_are_listed_by_number_and_nothing_is_sent(
    sandbox: ThreadedSandbox, tmp_path: Path, case: tuple[str, list[int]]
) -> None:
    text, broken = case
    source = tmp_path / "inputs.jsonl"
    source.write_text(text, encoding="utf-8")
    before = sandbox.stats.requests_by_endpoint.get("submit", 0)
    ran = run_cli(sandbox, "batch", str(source), "--model", CHAOS_MODEL,
                  "--out", str(tmp_path / "out"), "-q")
    assert ran.code == DATA_ERROR, ran.err
    for number in broken:
        assert f"line {number}:" in ran.err, (number, ran.err)
    assert sandbox.stats.requests_by_endpoint.get("submit", 0) == before, "something was sent"


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("inputs.csv", "prompt,width\nfine,16\nbad,wide\n", 3),
        ("inputs.txt", b"a fox\n\xff\xfe not utf-8\n", 2),
        ("inputs.jsonl", b'{"prompt": "a"}\n{"prompt": "\xff"}\n', 2),
    ],
    ids=["csv-wrong-type", "txt-not-utf8", "jsonl-not-utf8"],
)
def test_a_broken_csv_or_text_file_names_its_line_and_sends_nothing(
    sandbox: ThreadedSandbox, tmp_path: Path, name: str, content: str | bytes, line: int
) -> None:
    source = tmp_path / name
    if isinstance(content, bytes):
        source.write_bytes(content)
    else:
        source.write_text(content, encoding="utf-8")
    before = sandbox.stats.requests_by_endpoint.get("submit", 0)
    ran = run_cli(sandbox, "batch", str(source), "--model", CHAOS_MODEL,
                  "--out", str(tmp_path / "out"), "-q")
    assert ran.code == DATA_ERROR, ran.err
    assert f"line {line}" in ran.err
    assert sandbox.stats.requests_by_endpoint.get("submit", 0) == before


# --- The token, through the command line -------------------------------------------------------


@pytest.fixture(scope="module")
def faulty_batch(
    sandbox: ThreadedSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("cli-secrets")
    lines = [json.dumps({"prompt": f"cli {i}", "width": 16, "height": 16}) for i in range(40)]
    lines += [json.dumps({"prompt": f"doomed {i}", "model_id": FAILING}) for i in range(5)]
    source = folder / "inputs.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sandbox.faults = FaultPlan.uniform(server_error=0.1, rate_limit=0.05, reset=0.02,
                                       accepted_then_dropped=0.02, retry_after_s=0.02)
    try:
        ran = run_cli(sandbox, "batch", str(source), "--model", CHAOS_MODEL, "--out",
                      str(folder / "out"), "--json", "-vv",
                      "--download-origin", sandbox.cdn_base_url)
    finally:
        sandbox.faults = FaultPlan()
    yield {"ran": ran, "out": folder / "out"}
    files = [p for p in (folder / "out").rglob("*") if p.is_file()]
    record_figures("cli_secrets", {
        "files_scanned": len(files),
        "stdout_lines": len(ran.out.splitlines()),
        "stderr_lines": len(ran.err.splitlines()),
        "leaks": sum(TOKEN in text for text in (ran.out, ran.err))
        + sum(TOKEN.encode() in p.read_bytes() for p in files),
    })


def test_a_cli_batch_under_faults_reports_every_input_on_stdout(
    faulty_batch: dict[str, Any],
) -> None:
    ran: Ran = faulty_batch["ran"]
    records = [json.loads(line) for line in ran.out.splitlines() if line.strip()]
    assert sorted(r["index"] for r in records) == list(range(45))
    assert ran.code == 1  # some jobs failed, by design
    assert (faulty_batch["out"] / "index.html").is_file()


def test_token_is_not_in_cli_output_logs_gallery_or_files(faulty_batch: dict[str, Any]) -> None:
    ran: Ran = faulty_batch["ran"]
    assert "DEBUG" in ran.err, "-vv should log at DEBUG"
    assert TOKEN not in ran.out
    assert TOKEN not in ran.err
    files = [p for p in faulty_batch["out"].rglob("*") if p.is_file()]
    assert any(p.name == "index.html" for p in files)
    leaking = [p.name for p in files if TOKEN.encode() in p.read_bytes()]
    assert leaking == []


def test_the_cli_sends_no_credential_to_the_cdn(
    sandbox: ThreadedSandbox, faulty_batch: dict[str, Any]
) -> None:
    stats = sandbox.stats
    assert stats.cdn_requests > 0
    assert stats.cdn_credentials_seen == ()
