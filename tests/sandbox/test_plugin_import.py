"""Loading the pytest plugin, which every pytest run of every installing project does, imports
none of the sandbox's machinery; the public names still import on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import runcomfy_async.sandbox as sandbox_package

# What the sandbox needs only once a test asks for one.
HEAVY_PREFIXES = ("runcomfy_async.sandbox._", "aiohttp.web", "jsonschema", "PIL", "trustme")


def imported_by(statement: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `statement`."""
    program = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY_PREFIXES!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    found: list[str] = json.loads(done.stdout)
    return found


def test_loading_the_plugin_imports_none_of_the_sandbox() -> None:
    assert imported_by("import runcomfy_async.sandbox.pytest_plugin") == []


def test_importing_the_sandbox_package_imports_nothing_until_a_name_is_used() -> None:
    assert imported_by("import runcomfy_async.sandbox") == []


def test_using_a_name_imports_what_it_needs() -> None:
    found = imported_by("from runcomfy_async.sandbox import Sandbox")

    assert "runcomfy_async.sandbox._sandbox" in found
    assert "aiohttp.web" in found


def test_every_public_name_resolves_from_the_package() -> None:
    for name in sandbox_package.__all__:
        value = getattr(sandbox_package, name)
        assert value.__name__ == name
    assert set(dir(sandbox_package)) >= set(sandbox_package.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    assert not hasattr(sandbox_package, "Sandbx")


def test_loading_the_plugin_imports_neither_the_client_nor_aiohttp() -> None:
    # The plugin's package imports `runcomfy_async` first, whose names are imported on use:
    # every pytest run of every project that installs us pays for pytest alone.
    program = (
        "import sys\nimport runcomfy_async.sandbox.pytest_plugin\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith("
        "('runcomfy_async.client', 'runcomfy_async.batch', 'aiohttp', 'anyio', 'cattrs')))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == []
