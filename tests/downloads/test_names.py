"""File names come from the index and the label, never from the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from runcomfy_async.store.downloads import file_stem, slug

from ._cdn import NAME, Cdn, downloader, listing

# --- Names and paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "C:\\Windows\\System32\\drivers",
        "a\x00b/../c",
        "CON",
        "..",
        "",
        "   ",
        "ｆｕｌｌ ｗｉｄｔｈ",
        "Ünïcödé façade 狐狸",
        "\u202egnp.exe",
        "x" * 500,
    ],
)
async def test_no_label_can_put_a_file_outside_the_output_folder(
    label: str, cdn: Cdn, out: Path, tmp_path: Path
) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(42, label, [cdn.url("/png/a")])
    assert NAME.fullmatch(stored.path), stored.path
    assert listing(out) == [stored.path]
    assert listing(tmp_path) == ["out"]


@pytest.mark.parametrize(
    "path", ["/png/..%2F..%2Fevil.png", "/png/%2Fetc%2Fpasswd", "/png/%00x", "/png/ünï.png"]
)
async def test_url_paths_never_name_files(path: str, cdn: Cdn, out: Path, tmp_path: Path) -> None:
    async with downloader(out, cdn.origin) as d:
        [stored] = await d.download(3, "a fox", [cdn.url(path)])
    assert stored.path == "000003-a-fox.png"
    assert listing(tmp_path) == ["out"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("A red fox in snow!", "a-red-fox-in-snow"),
        ("Ünïcödé façade", "unicode-facade"),
        ("ｆｕｌｌ ｗｉｄｔｈ", "full-width"),
        ("../../etc/passwd", "etc-passwd"),
        ("C:\\Windows\\nul", "c-windows-nul"),
        ("狐狸", ""),
        ("word " * 30, ("word-" * 10)[:48].rstrip("-")),
    ],
)
def test_a_slug_is_short_lowercase_ascii(label: str, expected: str) -> None:
    assert slug(label) == expected


def test_file_stems_number_later_outputs_from_two() -> None:
    assert [file_stem(7, "a fox", n) for n in range(3)] == [
        "000007-a-fox",
        "000007-a-fox-2",
        "000007-a-fox-3",
    ]

