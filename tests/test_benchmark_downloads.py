"""The downloads benchmark's folder, order and arithmetic (no timing is run or asserted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import downloads
from runcomfy_async.store.downloads import file_stem


def test_rounds_alternate_a_b_b_a() -> None:
    assert downloads.round_order(8) == [
        "empty", "full", "full", "empty", "empty", "full", "full", "empty",
    ]


def test_the_full_folder_holds_outputs_named_as_the_downloader_names_them(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "full"

    leftovers = downloads.fill_folder(folder, 250, leftover_every=100)

    names = {path.name for path in folder.iterdir()}
    outputs = {f"{file_stem(i, downloads.label(i))}.png" for i in range(250)}
    assert outputs <= names
    assert leftovers == [50, 150]
    assert len(names - outputs) == 2
    # The downloader's own listing finds exactly the planted leftovers, and so does the glob
    # every download used to make.
    assert downloads.leftovers_found(folder) == [50, 150]
    assert len(downloads.old_glob(folder, 150)) == 1
    assert downloads.old_glob(folder, 15) == []


def _round(folder: str, cpu: float, user: float, wall: float) -> dict[str, Any]:
    return {
        "folder": folder, "downloads": 100, "wall_ms_per_download": wall,
        "cpu_ms_per_download": cpu, "user_ms_per_download": user,
        "system_ms_per_download": cpu - user, "open_wall_ms": 20.0 if folder == "full" else 1.0,
        "open_cpu_ms": 18.0 if folder == "full" else 0.9, "bytes_per_download": 30_000.0,
        "p50_ms": wall, "p99_ms": wall * 2,
    }


def _summary(full_cpu: float) -> dict[str, Any]:
    rounds = [
        _round("empty", 2.0, 1.0, 2.5), _round("full", full_cpu, 1.0, 3.0),
        _round("full", full_cpu + 0.2, 1.1, 3.0), _round("empty", 2.2, 1.0, 2.5),
    ]
    latency = {key: {"p50_ms": 2.0, "p90_ms": 3.0, "p99_ms": 5.0} for key in ("empty", "full")}
    globs = {"empty": {"globs": 10, "wall_ms": 0.1, "cpu_ms": 0.1, "found": 0},
             "full": {"globs": 10, "wall_ms": 18.0, "cpu_ms": 18.0, "found": 0}}
    setup = {"files": 30_000, "leftovers": 300, "leftovers_after": 300,
             "downloads_per_round": 100, "rounds": 4, "distinct_images": 8, "fill_s": 2.0}
    return downloads.summarise(rounds, latency, globs, setup)


def test_the_goal_is_the_ratio_of_medians_of_cpu_per_download() -> None:
    result = _summary(full_cpu=2.3)

    figures = result["figures"]
    assert figures["cpu_ratio"] == pytest.approx(2.4 / 2.1)
    assert figures["wall_ratio"] == pytest.approx(3.0 / 2.5)
    assert figures["listing_cpu_ms"] == pytest.approx(17.1)
    [met] = result["goals"]
    assert met["met"]
    assert "30,000 files" in met["name"]
    assert len(result["tables"]) == 3


def test_a_missed_goal_is_reported_as_missed() -> None:
    [missed] = _summary(full_cpu=3.0)["goals"]

    assert not missed["met"]
    assert "×1.48" in missed["detail"]
