"""The downloader saves what it fetches, within its caps, and retries what is worth it."""

from __future__ import annotations

import asyncio
import pickle
import socket
from pathlib import Path

import pytest

from runcomfy_async import RunComfyError
from runcomfy_async.core._files import StoredFile
from runcomfy_async.store.downloads import DownloadError

from ._cdn import PNG, Cdn, downloader, listing, sha256

# --- Saving ----------------------------------------------------------------------------------


async def test_a_file_is_saved_under_its_index_and_label_with_hash_and_size(
    cdn: Cdn, out: Path
) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(42, "A red fox in snow", [cdn.url("/png/x?sig=1")])
    assert stored == StoredFile(
        url=cdn.url("/png/x?sig=1"),
        path="000042-a-red-fox-in-snow.png",
        sha256=sha256(PNG),
        size=len(PNG),
        content_type="image/png",
    )
    assert (out / stored.path).read_bytes() == PNG


async def test_further_outputs_of_one_input_get_numbered_names(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        files = await d.download(42, "a fox", [cdn.url("/png/a"), cdn.url("/png/b")])
    assert [f.path for f in files] == ["000042-a-fox.png", "000042-a-fox-2.png"]


async def test_without_a_label_the_index_alone_names_the_file(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(5, None, [cdn.url("/png/a")])
    assert stored.path == "000005.png"


async def test_the_extension_comes_from_the_content_type_not_the_url(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/photo.exe")])
    assert (stored.path, stored.content_type) == ("000001-a-fox.jpg", "image/jpeg")


async def test_an_unexpected_content_type_is_saved_as_bin(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/html")])
    assert (stored.path, stored.content_type) == ("000001-a-fox.bin", "text/html")


async def test_no_downloads_run_beyond_the_concurrency_limit(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, concurrency=2) as d:
        await asyncio.gather(
            d.download(1, "a", [cdn.url(f"/busy/{n}") for n in range(3)]),
            d.download(2, "b", [cdn.url(f"/busy/{n}") for n in range(3)]),
        )
    assert cdn.most_in_flight == 2


# --- Caps, retries, errors -------------------------------------------------------------------


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    cdn: Cdn, out: Path
) -> None:
    async with downloader(out, cdn.origin, max_bytes=4096) as d:
        with pytest.raises(DownloadError, match="Content-Length 1000000000 exceeds"):
            await d.download(1, "a fox", [cdn.url("/huge/declared")])
    assert listing(out) == []


async def test_a_streamed_body_over_the_cap_is_abandoned_and_deleted(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_bytes=4096) as d:
        with pytest.raises(DownloadError, match="body exceeds the 4096-byte cap"):
            await d.download(1, "a fox", [cdn.url("/huge/streamed")])
    assert listing(out) == []


async def test_a_file_of_exactly_the_cap_is_accepted(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_bytes=len(PNG)) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/png/a")])
    assert stored.size == len(PNG)


async def test_server_errors_are_retried_until_success(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_attempts=3) as d:
        [stored] = await d.download(1, "a fox", [cdn.url("/flaky/k/2")])
    assert cdn.failures["k"] == 3
    assert stored.sha256 == sha256(PNG)


async def test_server_errors_give_up_after_max_attempts(cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_attempts=3) as d:
        with pytest.raises(DownloadError, match="gave up after 3 attempts") as caught:
            await d.download(1, "a fox", [cdn.url("/flaky/k/5")])
    assert (cdn.failures["k"], caught.value.status) == (3, 500)
    assert listing(out) == []


@pytest.mark.parametrize("code", [403, 404, 410])
async def test_client_errors_are_not_retried(code: int, cdn: Cdn, out: Path) -> None:
    async with downloader(out, cdn.origin, max_attempts=3) as d:
        with pytest.raises(DownloadError, match=f"HTTP {code}") as caught:
            await d.download(1, "a fox", [cdn.url(f"/status/{code}")])
    assert (len(cdn.requests), caught.value.status, caught.value.index) == (1, code, 1)


async def test_errors_name_the_url_without_its_query_string(cdn: Cdn, out: Path) -> None:
    url = cdn.url("/status/403?X-Amz-Signature=SECRET&token=SECRET")
    async with downloader(out, cdn.origin) as d:
        with pytest.raises(DownloadError) as caught:
            await d.download(1, "a fox", [url])
    assert caught.value.url == cdn.url("/status/403")
    assert "SECRET" not in str(caught.value)


async def test_connection_failures_are_retried_and_reported_without_the_query(
    out: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    async with downloader(out, origin, max_attempts=2) as d:
        with pytest.raises(DownloadError, match="gave up after 2 attempts") as caught:
            await d.download(1, "a fox", [f"{origin}/a.png?signature=SECRET"])
    assert "SECRET" not in str(caught.value)


def test_download_errors_survive_pickling() -> None:
    error = DownloadError("https://cdn.runcomfy.net/a.png?sig=1", "HTTP 404", index=3, status=404)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.index, copy.status) == (str(error), 3, 404)
    assert isinstance(copy, RunComfyError)

