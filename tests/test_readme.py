"""README.md as a newcomer meets it: every Python block runs, against a sandbox, as written.

- A Python block without a marker runs as a program (top-level ``await`` allowed), with
  ``RUNCOMFY_API_TOKEN`` and ``RUNCOMFY_MODEL_API_BASE`` pointing at a sandbox, in a
  temporary folder holding ``prompts.txt`` (a copy of ``examples/prompts.txt``).
- ``<!-- readme-test: pytest -->`` marks a block that is a test module: it runs by pytest in a
  subprocess, with no async plugin.
- ``<!-- readme-test: skip -->`` marks a block that is not meant to run.
- The shell commands that use ``--sandbox`` run as subprocesses with the venv's executable.
  A ``console`` block that shows what its ``--sandbox`` commands print (the cost block) is
  run as a transcript: its ``$`` lines in order, in one folder, each printing what follows it.
- Markdown tables are whole: no prose between the rows of one table.

The collector is ``tests/_readme_blocks.py``.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from runcomfy_async.cli._exit_codes import BUDGET_REACHED, SUCCESS
from runcomfy_async.sandbox import ThreadedSandbox

from ._readme_blocks import (
    Block,
    ReadmeFormatError,
    parse_blocks,
    read_blocks,
    run_block,
    shell_commands,
)

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
PROMPTS = EXAMPLES / "prompts.txt"

BLOCKS = read_blocks(README)
PYTHON_BLOCKS = [block for block in BLOCKS if block.is_python]
RUN_BLOCKS = [block for block in PYTHON_BLOCKS if block.mode == "run"]
PYTEST_BLOCKS = [block for block in PYTHON_BLOCKS if block.mode == "pytest"]
# Console blocks whose output is exact (no timings): run as transcripts, not as quick starts.
TRANSCRIPT_BLOCKS = [
    block for block in BLOCKS
    if block.language == "console" and block.mode == "run" and "--dry-run" in block.source
]
SANDBOX_COMMANDS = list(
    dict.fromkeys(
        tuple(argv)
        for block, argv in shell_commands(BLOCKS)
        if argv[:1] == ["runcomfy-async"] and "--sandbox" in argv
        and block not in TRANSCRIPT_BLOCKS
    )
)
ORIGIN_LINE = "download_origins=[sb.cdn_base_url],"


def prompt_count(path: Path) -> int:
    """The prompts of a text file: its lines that are neither blank nor a ``#`` comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def only_block(marker: str) -> Block:
    """The one runnable Python block whose code contains ``marker``."""
    found = [block for block in RUN_BLOCKS if marker in block.source]
    assert len(found) == 1, f"expected one README block with {marker!r}, found {len(found)}"
    return found[0]


def clean_env() -> dict[str, str]:
    """This process's environment without a RunComfy token or address, or pytest options."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("RUNCOMFY_") and name != "PYTEST_ADDOPTS"
    }


def read_manifest(folder: Path) -> list[dict[str, object]]:
    text = (folder / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def newcomer(
    runcomfy_sandbox: ThreadedSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh folder with ``prompts.txt``, and a client environment aimed at a sandbox."""
    for name in [name for name in os.environ if name.startswith("RUNCOMFY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", runcomfy_sandbox.token)
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", runcomfy_sandbox.base_url)
    shutil.copyfile(PROMPTS, tmp_path / "prompts.txt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# The README's Python blocks.


def test_the_readme_has_the_examples_this_suite_runs() -> None:
    assert len(RUN_BLOCKS) >= 3
    assert len(PYTEST_BLOCKS) >= 1
    assert SANDBOX_COMMANDS, "the quick start's --sandbox batch is gone from the README"
    assert TRANSCRIPT_BLOCKS, "the --dry-run / --budget block is gone, or marked skip"
    assert any("OpenTelemetryHook" in block.source for block in RUN_BLOCKS)


def table_rows_apart(text: str) -> list[int]:
    """The lines of table rows that do not follow a table's header: rows cut off from
    their table by prose (Markdown shows them as plain text)."""
    lines = text.splitlines()
    apart = []
    for number, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        previous = lines[number - 1] if number else ""
        following = lines[number + 1] if number + 1 < len(lines) else ""
        heads_a_table = following.startswith("|") and set(following) <= set("|-: ")
        if not previous.startswith("|") and not heads_a_table:
            apart.append(number + 1)
    return apart


def test_every_table_of_the_readme_is_whole() -> None:
    assert table_rows_apart(README.read_text(encoding="utf-8")) == []


def test_a_table_cut_by_prose_is_found() -> None:
    text = "| a | b |\n|---|---|\n| 1 | 2 |\n\nProse.\n| 3 | 4 |\n"
    assert table_rows_apart(text) == [6]


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[block.id for block in RUN_BLOCKS])
def test_a_block_of_tests_is_marked_for_pytest(block: Block) -> None:
    """Run as a program, a block that only defines tests would pass without running them."""
    tree = ast.parse(block.source)
    tests = [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test")
    ]
    assert not tests, f"{block.id} defines {tests}: mark it <!-- readme-test: pytest -->"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[block.id for block in RUN_BLOCKS])
def test_python_block_runs_as_written(block: Block, newcomer: Path) -> None:
    run_block(block)


@pytest.mark.timeout(90)
def test_batch_example_sends_only_prompts_and_downloads_every_file(
    newcomer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_block(only_block("download_origins="))

    expected = prompt_count(newcomer / "prompts.txt")
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == expected
    assert not [line for line in printed if "download failed" in line]
    manifest = read_manifest(newcomer / "out")
    assert len(manifest) == expected
    for record in manifest:
        assert record["state"] == "succeeded"
        given, files = record["input"], record["files"]
        assert isinstance(given, dict), record
        assert isinstance(files, list), record
        prompt = given["prompt"]
        assert isinstance(prompt, str), record
        assert prompt, record
        assert prompt == prompt.strip(), record
        assert not prompt.startswith("#"), record
        assert len(files) == 1, record
        stored = files[0]
        assert isinstance(stored, dict), record
        assert (newcomer / "out" / stored["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((newcomer / "out").glob("*.png"))) == expected


@pytest.mark.timeout(90)
def test_batch_example_survives_refused_downloads(
    newcomer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the sandbox's origin allowed, every job succeeds and every download is refused:
    the example reports each one, it does not crash."""
    block = only_block("download_origins=")
    assert block.source.count(ORIGIN_LINE) == 1
    refusing = Block(
        block.path, block.line, block.language, block.source.replace(ORIGIN_LINE, ""), block.mode
    )

    run_block(refusing)

    expected = prompt_count(newcomer / "prompts.txt")
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == expected
    assert all("download failed: cannot download" in line for line in printed), printed
    assert [record["state"] for record in read_manifest(newcomer / "out")] == (
        ["succeeded"] * expected
    )
    assert not list((newcomer / "out").glob("*.png"))


@pytest.mark.timeout(120)
def test_batch_example_runs_again_from_its_journal(
    newcomer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """"run again to resume": a second run hands every outcome back from the journal."""
    block = only_block("download_origins=")
    run_block(block)
    first = sorted(capsys.readouterr().out.splitlines())

    run_block(block)

    assert sorted(capsys.readouterr().out.splitlines()) == first
    assert len(list((newcomer / "out").glob("*.png"))) == prompt_count(PROMPTS)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("block", PYTEST_BLOCKS, ids=[block.id for block in PYTEST_BLOCKS])
def test_pytest_block_passes_with_no_async_plugin(block: Block, tmp_path: Path) -> None:
    """The block, exactly as written, as a user's test module; the fixture comes from the
    installed package's entry point, and pytest-asyncio and anyio's plugin are off."""
    (tmp_path / "test_from_readme.py").write_text(block.source, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "no:asyncio", "-p", "no:anyio", "test_from_readme.py",
        ],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert " passed" in done.stdout, report
    assert "skipped" not in done.stdout, report


# The README's shell commands.


def run_installed(argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a README command as a user would: the console script this environment
    installed, in a folder of its own, with a clean environment and no terminal."""
    executable = Path(sys.executable).parent / argv[0]
    assert executable.is_file(), f"{argv[0]} is not installed in {executable.parent}"
    return subprocess.run(
        [str(executable), *argv[1:]],
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=210,
        check=False,
    )


@pytest.mark.timeout(240)
@pytest.mark.parametrize("argv", SANDBOX_COMMANDS, ids=[" ".join(a) for a in SANDBOX_COMMANDS])
def test_sandbox_command_runs_as_written(argv: tuple[str, ...], tmp_path: Path) -> None:
    """The quick start's main job: exit 0, every image, the manifest, the gallery, the
    journal, in the folder it names."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    done = run_installed(argv, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    out = tmp_path / argv[argv.index("--out") + 1]
    expected = prompt_count(tmp_path / argv[2])
    manifest = read_manifest(out)
    assert [record["state"] for record in manifest] == ["succeeded"] * expected
    images = sorted(out.glob("*.png"))
    assert len(images) == expected
    assert all(image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert (out / "index.html").is_file()
    assert (out / "journal.sqlite").is_file()


def transcript(block: Block) -> list[tuple[list[str], list[str]]]:
    """A console block's commands, each with the lines shown after it."""
    steps: list[tuple[list[str], list[str]]] = []
    for line in block.source.splitlines():
        if line.startswith("$ "):
            steps.append((shlex.split(line[2:]), []))
        elif steps and line.strip():
            steps[-1][1].append(line)
    return steps


def in_order(shown: list[str], printed: list[str]) -> bool:
    """True when every shown line is a printed line, in the same order (the README may
    leave lines out: a progress line, a pricing note)."""
    remaining = iter(line.rstrip() for line in printed)
    return all(any(line == wanted.rstrip() for line in remaining) for wanted in shown)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("block", TRANSCRIPT_BLOCKS, ids=[b.id for b in TRANSCRIPT_BLOCKS])
def test_console_block_prints_what_it_shows(block: Block, tmp_path: Path) -> None:
    """The cost block: ``--dry-run`` prints the estimate shown and sends nothing; ``--budget``
    stops at the budget shown (exit 3) and prints its resume command, word for word."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    steps = transcript(block)
    assert steps
    assert all(argv[0] == "runcomfy-async" for argv, _ in steps)
    for argv, shown in steps:
        done = run_installed(argv, tmp_path)
        expected = BUDGET_REACHED if "--budget" in argv else SUCCESS
        assert done.returncode == expected, done.stdout + done.stderr
        printed = done.stdout.splitlines() + done.stderr.splitlines()
        assert in_order(shown, printed), "\n".join([" ".join(argv), *printed])


def test_a_transcript_line_that_is_not_printed_is_found() -> None:
    assert in_order(["a", "c"], ["a", "b", "c"])
    assert not in_order(["c", "a"], ["a", "b", "c"])
    assert not in_order(["d"], ["a", "b", "c"])


# The collector itself.


def test_an_unmarked_python_block_that_fails_fails_the_test(tmp_path: Path) -> None:
    [block] = parse_blocks("Text.\n\n```python\nx = 1\n1 / 0\n```\n", tmp_path / "DOC.md")
    assert block.mode == "run"
    assert block.line == 4
    with pytest.raises(ZeroDivisionError) as caught:
        run_block(block)
    assert caught.traceback[-1].lineno + 1 == 5  # the Markdown's own line


def test_top_level_await_runs_in_a_loop(tmp_path: Path) -> None:
    [block] = parse_blocks(
        "```py\nimport asyncio\nimport contextlib\n\nawait asyncio.sleep(0)\n"
        "async with contextlib.AsyncExitStack():\n    done = True\n```\n",
        tmp_path / "DOC.md",
    )
    assert run_block(block)["done"] is True


def test_markers_name_the_block_that_follows(tmp_path: Path) -> None:
    text = (
        "<!-- readme-test: skip -->\n```python\ndef signature(x) -> ...\n```\n"
        "<!-- readme-test: pytest -->\n\n```python\ndef test_it(): pass\n```\n"
        "```python\nprint()\n```\n"
        "```\nplain\n```\n"
        "````markdown\n```python\nnot a block of its own\n```\n````\n"
    )
    blocks = parse_blocks(text, tmp_path / "DOC.md")
    assert [(block.language, block.mode) for block in blocks] == [
        ("python", "skip"), ("python", "pytest"), ("python", "run"), ("", "run"),
        ("markdown", "run"),
    ]


def test_python_like_languages_count_as_python(tmp_path: Path) -> None:
    """A block in some other Python flavour must run or be marked, never be passed over."""
    blocks = parse_blocks("```python-pseudo\nf(...)\n```\n```pycon\n>>> 1\n```\n", tmp_path)
    assert all(block.is_python and block.mode == "run" for block in blocks)


@pytest.mark.parametrize(
    "text",
    [
        "<!-- readme-test: sometimes -->\n```python\npass\n```\n",
        "<!-- readme-test: skip -->\nSome prose.\n```python\npass\n```\n",
        "```python\npass\n```\n<!-- readme-test: skip -->\n",
        "```python\npass\n",
    ],
    ids=["unknown marker", "marker before prose", "marker at the end", "unclosed fence"],
)
def test_malformed_markdown_is_refused(text: str, tmp_path: Path) -> None:
    with pytest.raises(ReadmeFormatError):
        parse_blocks(text, tmp_path / "DOC.md")


def test_shell_commands_are_split_as_a_shell_would(tmp_path: Path) -> None:
    text = (
        "```bash\n# a comment\npython3 -m venv .venv && runcomfy-async run 'a b' --sandbox\n```\n"
        "```console\n$ runcomfy-async batch x.txt\noutput line\n```\n"
    )
    commands = [argv for _, argv in shell_commands(parse_blocks(text, tmp_path / "DOC.md"))]
    assert commands == [
        ["python3", "-m", "venv", ".venv"],
        ["runcomfy-async", "run", "a b", "--sandbox"],
        ["runcomfy-async", "batch", "x.txt"],
    ]
