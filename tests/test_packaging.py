"""What installing and importing the package costs a downstream project."""

from __future__ import annotations

import subprocess
import sys

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
