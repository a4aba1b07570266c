"""Files already on disk, partial files, and leftovers of a killed run."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import pytest

from runcomfy_async.core._files import StoredFile
from runcomfy_async.store.downloads import DownloadError

from ._cdn import KILLED_DOWNLOADER, PNG, Cdn, downloader, listing, sha256, wait_for_part_file

# --- Files already present -------------------------------------------------------------------


async def test_a_present_file_with_its_recorded_hash_is_not_fetched_again(
    cdn: Cdn, out: Path
) -> None:
    async with downloader(out, cdn.origin) as d:
        first = await d.download(1, "a fox", [cdn.url("/png/a")])
        second = await d.download(1, "a fox", [cdn.url("/png/a")], known=first)
    assert second == first
    assert len(cdn.requests) == 1


async def test_a_present_file_with_another_hash_is_fetched_again(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [first] = await d.download(1, "a fox", [cdn.url("/png/a")])
        await anyio.Path(out / first.path).write_bytes(b"X" * first.size)
        [second] = await d.download(1, "a fox", [cdn.url("/png/a")], known=[first])
    assert second == first
    assert len(cdn.requests) == 2
    assert await anyio.Path(out / first.path).read_bytes() == PNG


async def test_a_recorded_path_outside_the_output_folder_is_not_trusted(
    cdn: Cdn, out: Path, tmp_path: Path
) -> None:
    await anyio.Path(tmp_path / "outside.png").write_bytes(PNG)
    known = StoredFile(
        url=cdn.url("/png/a"),
        path="../outside.png",
        sha256=sha256(PNG),
        size=len(PNG),
        content_type="image/png",
    )
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/png/a")], known=[known])
    assert stored.path == "000001-a-fox.png"
    assert len(cdn.requests) == 1


async def test_an_intact_file_is_kept_even_when_its_host_is_no_longer_allowed(
    cdn: Cdn, out: Path
) -> None:
    # A resumed sandbox batch: its outputs came from loopback, which this run does not allow.
    async with downloader(out, cdn.origin) as d:
        first = await d.download(1, "a fox", [cdn.url("/png/a")])
    async with downloader(out) as d:
        second = await d.download(1, "a fox", [cdn.url("/png/a")], known=first)
    assert second == first
    assert len(cdn.requests) == 1


async def test_a_known_file_that_must_be_fetched_again_still_obeys_the_url_rules(
    cdn: Cdn, out: Path
) -> None:
    async with downloader(out, cdn.origin) as d:
        [first] = await d.download(1, "a fox", [cdn.url("/png/a")])
    await anyio.Path(out / first.path).write_bytes(b"X" * first.size)
    async with downloader(out) as d:
        with pytest.raises(DownloadError, match="not an allowed download host"):
            await d.download(1, "a fox", [cdn.url("/png/a")], known=[first])
    assert len(cdn.requests) == 1


async def test_intact_files_are_kept_while_the_other_outputs_are_fetched(
    cdn: Cdn, other_cdn: Cdn, out: Path
) -> None:
    async with downloader(out, other_cdn.origin) as d:
        [kept] = await d.download(1, "a fox", [other_cdn.url("/png/a")])
    async with downloader(out, cdn.origin) as d:
        files = await d.download(
            1, "a fox", [other_cdn.url("/png/a"), cdn.url("/png/b")], known=[kept]
        )
    assert [f.path for f in files] == ["000001-a-fox.png", "000001-a-fox-2.png"]
    assert files[0] == kept
    assert (len(other_cdn.requests), cdn.paths()) == (1, ["/png/b"])


# --- Atomicity -------------------------------------------------------------------------------


async def test_a_cancelled_download_leaves_no_partial_file(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        task = asyncio.create_task(d.download(7, "a fox", [cdn.url("/slow")]))
        await wait_for_part_file(out)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    assert listing(out) == []


async def test_a_killed_download_leaves_a_hidden_part_file_the_next_run_removes(
    cdn: Cdn, out: Path
) -> None:
    killed = await asyncio.create_subprocess_exec(
        sys.executable, str(KILLED_DOWNLOADER), str(out), cdn.url("/slow"), cdn.origin
    )
    try:
        await wait_for_part_file(out)
    finally:
        killed.kill()
        await killed.wait()
    [leftover] = listing(out)
    assert re.fullmatch(r"\.000007\.[0-9a-f]+\.part", leftover)

    async with downloader(out, cdn.origin) as d:
        await d.download(7, "a fox", [cdn.url("/png/a")])
    assert listing(out) == ["000007-a-fox.png"]


# --- Leftovers of a killed run ---------------------------------------------------------------


@pytest.fixture
def folder_scans(out: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every listing of the output folder (``os.scandir`` of it) while the test runs."""
    out.mkdir()
    target = str(out.resolve())
    real_scandir = os.scandir
    scans: list[str] = []

    def counting_scandir(path: Any = ".") -> Any:
        if isinstance(path, (str, os.PathLike)) and os.path.realpath(path) == target:
            scans.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    return scans


async def test_the_output_folder_is_listed_once_however_many_downloads(
    cdn: Cdn, out: Path, folder_scans: list[str]
) -> None:
    async with downloader(out, cdn.origin) as d:
        for index in range(25):
            await d.download(index, "a fox", [cdn.url("/png/a")])
    assert len(folder_scans) == 1
    assert len(listing(out)) == 25


async def test_leftovers_are_removed_index_by_index_from_the_one_listing(
    cdn: Cdn, out: Path, folder_scans: list[str]
) -> None:
    others = [".000003.part", ".3.beef.part", "notes.part"]  # not part files of any index
    for name in [".000003.dead.part", ".000003.beef.part", ".000030.cafe.part", *others]:
        await anyio.Path(out / name).write_bytes(b"partial")
    async with downloader(out, cdn.origin) as d:
        await d.download(3, "a fox", [cdn.url("/png/a")])
        assert listing(out) == sorted([".000030.cafe.part", "000003-a-fox.png", *others])
        await d.download(30, "a fox", [cdn.url("/png/a")])
    assert listing(out) == sorted(["000003-a-fox.png", "000030-a-fox.png", *others])
    assert len(folder_scans) == 1


async def test_a_download_never_removes_the_partial_file_of_one_in_progress(
    cdn: Cdn, out: Path
) -> None:
    async with downloader(out, cdn.origin) as d:
        slow = asyncio.create_task(d.download(7, "a slow fox", [cdn.url("/slow")]))
        await wait_for_part_file(out)
        await d.download(7, "a fox", [cdn.url("/png/a")])
        cdn.release.set()
        await slow
    assert listing(out) == ["000007-a-fox.png", "000007-a-slow-fox.png"]
