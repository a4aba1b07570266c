"""What installing and importing the package costs a downstream project."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("runcomfy_async.sandbox", "runcomfy_async.cli", "jsonschema", "rich", "PIL", "trustme")


@pytest.mark.parametrize("module", ["runcomfy_async", "runcomfy_async.ideogram"])
def test_importing_the_library_loads_no_command_line_sandbox_or_validator(module: str) -> None:
    probe = (
        f"import sys, {module}; heavy = {HEAVY!r}; "
        "print('\\n'.join(sorted(m for m in sys.modules "
        "if any(m == h or m.startswith(h + '.') for h in heavy))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


def test_the_command_line_entry_point_imports_nothing_heavy_until_it_runs() -> None:
    probe = (
        "import sys, runcomfy_async.cli; "
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(('rich', 'jsonschema')))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


def loaded_after(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of ``prefixes`` that ``statement`` loads in a fresh
    interpreter. Only what the statement loads: under ``pytest --cov`` the interpreter starts
    with coverage measuring it, and coverage itself holds ``sqlite3``."""
    probe = (
        f"import sys\nbefore = set(sys.modules)\n{statement}\n"
        f"print('\\n'.join(sorted(m for m in set(sys.modules) - before "
        f"if m.startswith({prefixes!r}))))"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()


def test_importing_the_package_alone_imports_none_of_it() -> None:
    # The pytest plugin and `runcomfy-async --version` import the package: every public name
    # is imported on first use (`_lazy`, the standard library only), so this costs next to
    # nothing.
    loaded = loaded_after("import runcomfy_async", ("runcomfy_async", "aiohttp", "attr", "anyio"))
    assert loaded == ["runcomfy_async", "runcomfy_async._lazy", "runcomfy_async._version"]


def test_errors_states_and_planners_import_without_the_client_or_aiohttp() -> None:
    loaded = loaded_after(
        "from runcomfy_async import AdaptivePoll, InputState, JobState, RunComfyError",
        ("runcomfy_async.client", "runcomfy_async.batch", "runcomfy_async.store",
         "runcomfy_async.http", "aiohttp", "sqlite3", "anyio"),
    )
    assert loaded == []


def test_outcome_and_option_types_import_without_the_engine_journal_or_downloads() -> None:
    loaded = loaded_after(
        "from runcomfy_async import BatchEvent, MapOptions, Outcome",
        ("runcomfy_async.batch._engine", "runcomfy_async.client", "runcomfy_async.store",
         "runcomfy_async.http", "sqlite3"),
    )
    assert loaded == []


def test_the_async_client_imports_without_the_batch_engine_journal_or_cattrs() -> None:
    # A web backend that awaits single generations pays for the client only: the engine,
    # the journal (sqlite3), the downloader, cattrs (typed inputs, stored rows) and the
    # synchronous twin load with the first batch or the first use of their names.
    loaded = loaded_after(
        "from runcomfy_async import AsyncRunComfy",
        ("runcomfy_async.batch._engine", "runcomfy_async.store", "runcomfy_async.client._sync",
         "cattrs", "sqlite3"),
    )
    assert loaded == []


def test_the_version_is_answered_without_the_command_line_or_the_library() -> None:
    loaded = loaded_after(
        "import contextlib, io, runcomfy_async.cli as cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    cli.main(['--version'])",
        ("runcomfy_async", "argparse", "aiohttp", "rich", "jsonschema"),
    )
    assert loaded == [
        "runcomfy_async", "runcomfy_async._lazy", "runcomfy_async._version", "runcomfy_async.cli"
    ]


@pytest.mark.parametrize(
    "program", [("runcomfy-async",), ("/usr/bin/python3", "-m", "runcomfy_async")]
)
def test_the_quick_version_answer_is_the_parsers_own(
    program: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    from runcomfy_async.cli import main
    from runcomfy_async.cli._main import main as full_main

    assert main(["--version"], program=program) == 0
    quick = capsys.readouterr().out
    assert full_main(["--version"], program=program) == 0  # argparse's --version
    assert quick == capsys.readouterr().out


LAZY_PACKAGES = (
    "runcomfy_async", "runcomfy_async.batch", "runcomfy_async.client", "runcomfy_async.sandbox"
)


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_a_lazy_package_names_each_public_name_in_step(name: str) -> None:
    """``__all__``, the run-time table and the imports type checkers read agree, so that a
    name added to one but not the others is caught here, not by a user."""
    package = importlib.import_module(name)
    homes: dict[str, str] = package._HOMES
    assert set(homes) == set(package.__all__) - {"__version__"}
    tree = ast.parse(Path(package.__file__).read_text(encoding="utf-8"))
    typed = {
        alias.name: "." * node.level + (node.module or "")
        for block in tree.body
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == homes
    for public in package.__all__:
        assert getattr(package, public) is not None
    assert set(dir(package)) >= set(package.__all__)
    with pytest.raises(AttributeError):
        package.NoSuchName  # noqa: B018
