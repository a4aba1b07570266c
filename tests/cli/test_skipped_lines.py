"""Skipped input lines in the batch's manifest: written once, read back on resume without
making a record of every input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runcomfy_async.cli._input_check import LineProblem
from runcomfy_async.cli._input_files import InputLine
from runcomfy_async.cli._skipped_lines import SkippedLines, _skipped_records, skipped_record
from runcomfy_async.store._manifest import Manifest, ManifestRecord, read_manifest

MODEL = "test/model"


def _reference(path: Path) -> set[str]:
    """What ``_skipped_records`` answered when it read every record of the manifest."""
    if not path.exists():
        return set()
    return {record.to_json() for record in read_manifest(path) if record.index < 0}


def _skipped(line: int, text: str = "bad") -> ManifestRecord:
    return skipped_record(
        InputLine(line=line, payload={"prompt": "p"}), [LineProblem(line, text)],
        default_model=MODEL,
    )


def _manifest(path: Path, inputs: int, skipped: int) -> None:
    with Manifest(path) as manifest:
        for index in range(inputs):
            manifest.append(ManifestRecord(
                index=index, model_id=MODEL, input={"prompt": f"p {index}"},
                state="succeeded", request_id=f"r{index}",
            ))
        for line in range(1, skipped + 1):
            manifest.append(_skipped(line))


def test_skipped_records_of_an_absent_manifest_are_none(tmp_path: Path) -> None:
    assert _skipped_records(tmp_path / "manifest.jsonl") == set()


def test_skipped_records_are_read_as_reading_every_record_read_them(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    _manifest(path, inputs=5, skipped=3)
    lines = [
        "",
        "   ",
        "not json",
        "[1, 2]",
        '"a string"',
        json.dumps({"model_id": MODEL, "input": {}, "state": "refused"}),  # no index
        # An index in a form the record converter still reads: as before, it decides.
        json.dumps({"index": "-40", "model_id": MODEL, "input": {}, "state": "refused"}),
        json.dumps({"index": -41.0, "model_id": MODEL, "input": {}, "state": "refused"}),
        json.dumps({"index": True, "model_id": MODEL, "input": {}, "state": "refused"}),
        json.dumps({"index": "7", "model_id": MODEL, "input": {}, "state": "succeeded"}),
        # Written by hand or by another version: other spacing, field order, extra fields.
        '  { "state": "refused", "input": {"prompt": "q"}, "model_id": "m", "index": -42,'
        ' "extra": 1 }  ',
        # A negative index that is not a record, and a record with a key named index inside.
        json.dumps({"index": -43, "state": "refused"}),
        json.dumps({"index": 3, "model_id": MODEL, "input": {"index": -1}, "state": "failed"}),
        # The last index of an object is the one that counts, for both.
        '{"index": 8, "model_id": "m", "input": {}, "state": "refused", "index": -44}',
        '{"index": -45, "model_id": "m", "input": {}, "state": "refused", "index": 9}',
    ]
    with open(path, "ab") as handle:
        handle.write(("\n".join(lines) + "\n").encode())
        handle.write(b'{"index": -46, "model_id": "m\xff", "input": {}, "state": "refused"}\n')
        handle.write(b"\xef\xbb\xbf" + _skipped(47).to_json().encode() + b"\n")  # a BOM
        handle.write(_skipped(48).to_json().encode()[:-5])  # a cut last line
    expected = _reference(path)
    assert _skipped_records(path) == expected
    # Lines 1-3, the hand-written line 42, 44, 46 (its byte read as U+FFFD), and the
    # converter's readings of "-40" and -41.0.
    assert {json.loads(text)["index"] for text in expected} == {
        -1, -2, -3, -40, -41, -42, -44, -46,
    }


def test_the_records_of_a_batchs_inputs_are_not_built_to_find_skipped_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "manifest.jsonl"
    _manifest(path, inputs=1000, skipped=4)
    expected = _reference(path)
    built = 0
    from_dict = ManifestRecord.from_dict

    def counting(data: dict[str, object]) -> ManifestRecord:
        nonlocal built
        built += 1
        return from_dict(data)

    monkeypatch.setattr(ManifestRecord, "from_dict", counting)
    assert _skipped_records(path) == expected
    assert len(expected) == 4
    assert built == 4  # one per skipped line; none for the 1000 inputs


async def test_skipped_lines_is_its_own_context_manager_and_closes_its_manifest(
    tmp_path: Path,
) -> None:
    with SkippedLines(tmp_path, default_model=MODEL) as left_out:
        assert isinstance(left_out, SkippedLines)
        await left_out.add(InputLine(line=2, payload={"prompt": "p"}), [LineProblem(2, "x")])
        manifest = left_out._manifest
        assert manifest is not None
    assert manifest._file.closed
    left_out.close()  # idempotent
    with SkippedLines(tmp_path, default_model=MODEL) as again:
        # A resumed batch does not write the same record twice.
        await again.add(InputLine(line=2, payload={"prompt": "p"}), [LineProblem(2, "x")])
    assert [record.index for record in read_manifest(tmp_path / "manifest.jsonl")] == [-2]


def test_skipped_lines_leaves_no_manifest_when_no_line_is_skipped(tmp_path: Path) -> None:
    with SkippedLines(tmp_path / "out", default_model=MODEL):
        pass
    assert not (tmp_path / "out").exists()
