"""The benchmarks' own plumbing: registration, and the instruction count's arithmetic.

No benchmark runs here (they take minutes and measure, not check): this pins what the
generated README relies on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import instructions
from benchmarks.__main__ import BENCHMARKS
from benchmarks.report import ORDER, TITLES


def test_every_benchmark_has_a_place_and_a_title_in_the_report() -> None:
    assert set(ORDER) == set(BENCHMARKS)
    assert set(TITLES) == set(BENCHMARKS)


def test_the_instruction_count_is_read_from_the_callgrind_summary(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out.3"
    out.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\n"
                   "fn=(1) main\n0 5\nsummary: 123456789\ntotals: 123456789\n")

    assert instructions._instructions(out) == 123_456_789


def test_instructions_per_job_cancel_what_a_batch_costs_once() -> None:
    # A batch costs 50 M once, and 1.2 M per job.
    rounds = [
        {"concurrency": 64, "variant": "client.map", "jobs": n, "instructions": 50e6 + 1.2e6 * n}
        for n in (1_000, 200)
    ]

    figure = instructions._per_job(rounds, 64, "client.map")

    assert figure["per_job"] == pytest.approx(1.2e6)
    assert figure["per_batch"] == pytest.approx(50e6)


def test_each_layer_is_credited_with_what_it_adds_to_the_one_below() -> None:
    per_job = {"aiohttp loop": 0.85e6, "transport loop": 0.80e6, "API loop": 0.95e6,
               "client.map": 1.10e6}

    rows = instructions._layer_rows(per_job)

    assert [row[1] for row in rows] == pytest.approx([0.85, 0.80, 0.95, 1.10])
    assert [row[2] for row in rows[1:]] == pytest.approx([-0.05, 0.15, 0.15])
    # client.map is 0.25 M above the loop: the API layer and the engine 60 % each, the
    # transport -20 % (it is leaner than the loop's own use of aiohttp).
    assert [row[3] for row in rows[1:]] == ["-20%", "60%", "60%"]


def test_the_layers_are_counted_at_one_concurrency_in_every_form() -> None:
    rounds = instructions._rounds({64: (200, 1_000), 1_000: (1_000, 2_000)})
    layered = [r for r in rounds if r["variant"] in ("transport loop", "API loop")]

    assert {r["concurrency"] for r in layered} == {instructions.LAYER_CONCURRENCY}
    assert sorted(r["jobs"] for r in layered) == [200, 200, 1_000, 1_000]


def test_the_spread_is_half_the_range_over_the_mean() -> None:
    assert instructions._spread([99.0, 101.0]) == pytest.approx(0.01)
    assert instructions._spread([5.0]) == 0.0


def test_without_valgrind_the_benchmark_says_it_did_not_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)

    result = instructions.run(quick=True)

    assert result["figures"]["ran"] is False
    [unmet] = result["goals"]
    assert not unmet["met"]
    assert "valgrind is not installed" in unmet["detail"]
