"""The start-up benchmark's arithmetic and bookkeeping (no timing is run or asserted here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import startup


def test_the_children_run_without_coverage_pytest_or_a_bytecode_ban(tmp_path: Path) -> None:
    environ = {
        "PATH": "/usr/bin",
        "COV_CORE_SOURCE": "runcomfy_async",
        "COVERAGE_PROCESS_START": "pyproject.toml",
        "PYTEST_ADDOPTS": "-x",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }

    env = startup.clean_env(environ, tmp_path)

    assert env == {"PATH": "/usr/bin", "PYTHONPYCACHEPREFIX": str(tmp_path)}


def test_rounds_alternate_their_order() -> None:
    assert startup.round_orders(["a", "b", "c"], 3) == [
        ["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"],
    ]


def test_a_difference_is_taken_round_by_round() -> None:
    figure = startup.paired([1.0, 2.0, 1.5], [0.5, 1.8, 1.0])

    assert figure["median"] == pytest.approx(0.5)
    assert figure["smallest"] == pytest.approx(0.2)
    assert figure["best_minus_best"] == pytest.approx(0.5)


def test_heavy_modules_leave_out_what_a_start_needs() -> None:
    modules = [
        "os", "aiohttp", "aiohttp.client", "richard", "rich.console", "PIL",
        "runcomfy_async", "runcomfy_async.sandbox", "runcomfy_async.sandbox.pytest_plugin",
        "runcomfy_async.sandbox._threaded", "runcomfy_async.client._client",
    ]

    assert startup.heavy(modules) == [
        "PIL", "aiohttp", "aiohttp.client", "rich.console", "runcomfy_async.client._client",
        "runcomfy_async.sandbox", "runcomfy_async.sandbox._threaded",
        "runcomfy_async.sandbox.pytest_plugin",
    ]
    assert startup.heavy(modules, startup.CLIENT_NEEDS, startup.PLUGIN_NEEDS) == [
        "PIL", "rich.console", "runcomfy_async.sandbox._threaded",
    ]


def test_every_variant_has_a_command_and_a_label(tmp_path: Path) -> None:
    commands = startup.commands("/nowhere/bin/python", tmp_path)

    assert set(commands) <= set(startup.VARIANT_LABELS)
    assert set(startup.VARIANT_LABELS) - set(commands) <= {"version_script"}
    assert commands["pytest_without"][-3:] == ["-p", "no:runcomfy_sandbox", str(tmp_path)]


def _checks(heavy: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {
        key: {"code": "", "modules": 10, "heavy": []}
        for key in ("import", "client", "version_script", "plugin_import")
    }
    found["client"]["heavy"] = heavy
    found["pytest_with"] = {
        "plugin_loaded": True, "plugin_loaded_without": False,
        "added": list(startup.PLUGIN_NEEDS), "heavy": [],
    }
    return found


def _seconds(**slower: float) -> dict[str, list[float]]:
    base = {
        "pass": 0.01, "aiohttp": 0.2, "import": 0.02, "client": 0.25, "version_script": 0.02,
        "version_module": 0.02, "pytest_import": 0.12, "plugin_import": 0.13,
        "pytest_without": 0.3, "pytest_with": 0.31,
    }
    return {key: [value + slower.get(key, 0.0)] * 3 for key, value in base.items()}


def test_the_result_states_each_goal_of_the_issue() -> None:
    result = startup.summarise(_seconds(), _checks([]), 3)

    assert [g["name"] for g in result["goals"]] == [
        "`import runcomfy_async` within 0.1 s of `import aiohttp`",
        "`from runcomfy_async import AsyncRunComfy` within 0.1 s of `import aiohttp`",
        "`runcomfy-async --version` within 0.1 s of `import aiohttp`",
        "loading the pytest plugin costs under 0.1 s in a run that uses no sandbox fixture",
        "no start loads rich, jsonschema, Pillow or the sandbox's implementation (nor aiohttp "
        "unless it needs the client)",
    ]
    assert all(g["met"] for g in result["goals"])
    assert len(result["tables"]) == 3


def test_a_missed_goal_is_reported_as_missed() -> None:
    result = startup.summarise(
        _seconds(client=0.5, version_module=0.4, pytest_with=0.6), _checks(["rich"]), 3
    )

    assert [g["met"] for g in result["goals"]] == [True, False, False, False, False]
