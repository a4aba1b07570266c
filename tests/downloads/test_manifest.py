"""The manifest: one complete JSON line per outcome, appended, readable after a crash."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from runcomfy_async.core._files import StoredFile
from runcomfy_async.store._manifest import Manifest, ManifestRecord, Timings, read_manifest

MODEL = "ideogram/ideogram-v3/text-to-image"


def record(index: int, **changes: object) -> ManifestRecord:
    fields: dict[str, object] = {
        "index": index,
        "model_id": MODEL,
        "input": {"prompt": f"a red fox {index}", "seed": index},
        "state": "succeeded",
        "request_id": f"req-{index}",
        "outputs": (f"https://cdn.runcomfy.net/{index}.png",),
        "files": (
            StoredFile(
                url=f"https://cdn.runcomfy.net/{index}.png",
                path=f"{index:06d}-a-red-fox.png",
                sha256="ab" * 32,
                size=100 + index,
                content_type="image/png",
            ),
        ),
        "timings": Timings(
            submitted_at=datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc),
            finished_at=datetime(2025, 5, 1, 12, 1, tzinfo=timezone.utc),
        ),
    }
    fields.update(changes)
    return ManifestRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "batch" / "manifest.jsonl"


def test_a_record_round_trips_through_its_json_line() -> None:
    original = record(3, error={"error": "boom"}, state="failed")
    assert ManifestRecord.from_json(original.to_json()) == original


def test_a_record_is_one_line_on_disk_as_soon_as_it_is_appended(path: Path) -> None:
    with Manifest(path) as manifest:
        manifest.append(record(1))
        assert path.read_bytes().count(b"\n") == 1
        assert read_manifest(path) == [record(1)]


def test_a_reopened_manifest_appends_after_the_earlier_records(path: Path) -> None:
    with Manifest(path) as manifest:
        manifest.append(record(1))
    with Manifest(path) as manifest:
        manifest.append(record(2))
    assert [r.index for r in read_manifest(path)] == [1, 2]


def test_a_torn_last_line_is_skipped_when_reading(path: Path) -> None:
    with Manifest(path) as manifest:
        manifest.append(record(1))
    line = record(2).to_json().encode()
    with path.open("ab") as handle:
        handle.write(line[: len(line) // 2])
    assert read_manifest(path) == [record(1)]


def test_appending_after_a_torn_line_starts_a_fresh_line(path: Path) -> None:
    with Manifest(path) as manifest:
        manifest.append(record(1))
    with path.open("ab") as handle:
        handle.write(record(2).to_json().encode()[:40])
    with Manifest(path) as manifest:
        manifest.append(record(3))
    assert [r.index for r in read_manifest(path)] == [1, 3]


def test_blank_lines_are_skipped_when_reading(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("\n" + record(1).to_json() + "\n\n")
    assert read_manifest(path) == [record(1)]


def test_fields_from_a_newer_version_are_ignored_when_reading() -> None:
    line = record(1).to_json()[:-1] + ',"gallery_thumb":"x.webp"}'
    assert ManifestRecord.from_json(line) == record(1)


def test_a_line_that_is_not_a_record_is_refused() -> None:
    with pytest.raises(ValueError, match="not a manifest record"):
        ManifestRecord.from_json('{"index": "first"}')


def test_non_ascii_inputs_are_written_as_utf8(path: Path) -> None:
    with Manifest(path) as manifest:
        manifest.append(record(1, input={"prompt": "renard roux, 狐"}))
    assert "renard roux, 狐".encode() in path.read_bytes()
    assert read_manifest(path)[0].input == {"prompt": "renard roux, 狐"}


def test_timestamps_are_iso_8601_utc(path: Path) -> None:
    with Manifest(path) as manifest:
        manifest.append(record(1))
    assert '"submitted_at":"2025-05-01T12:00:00+00:00"' in path.read_text()


def test_closing_twice_is_harmless(path: Path) -> None:
    manifest = Manifest(path)
    manifest.close()
    manifest.close()
