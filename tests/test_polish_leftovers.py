"""Cleanups a code review left open: the semaphore checks its permits with the project's
number rule, the sync ``map`` declares its keywords as the async one does, and the skipped
lines of a manifest are read back without making a record of every input."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typing_extensions import Unpack

from runcomfy_async import (
    AsyncRunComfy,
    ConfigurationError,
    MapKnobs,
    MapOptions,
    RunComfy,
)
from runcomfy_async.batch._options import knob_default
from runcomfy_async.cli._input_check import LineProblem
from runcomfy_async.cli._input_files import InputLine
from runcomfy_async.cli._skipped_lines import SkippedLines, _skipped_records, skipped_record
from runcomfy_async.core._semaphore import Semaphore
from runcomfy_async.store._manifest import Manifest, ManifestRecord, read_manifest

MODEL = "test/model"
KNOBS = list(MapKnobs.__annotations__)


# --- The semaphore's permits ----------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, True, False, 1.5, 2.0, "3", None])
def test_a_semaphore_refuses_what_is_not_a_positive_int_as_every_number_is_refused(
    value: Any,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Semaphore(value)
    assert str(caught.value) == f"value must be an integer >= 1, got {value!r}"
    assert isinstance(caught.value, ValueError)  # what it raised before, still caught as such


@pytest.mark.parametrize("value", [1, 2, 64])
def test_a_semaphore_takes_any_positive_int(value: int) -> None:
    sem = Semaphore(value)
    assert sem.free == value
    assert sem.waiting == 0


# --- The sync client's map ------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[RunComfy]:
    # Nothing is sent: a batch does no I/O until it is entered.
    with RunComfy("token", "http://127.0.0.1:9", allow_insecure_http=True) as c:
        yield c


def test_the_sync_map_declares_its_keywords_as_the_async_map_does() -> None:
    hints = typing.get_type_hints(RunComfy.map, include_extras=True)
    assert hints["knobs"] == Unpack[MapKnobs]
    assert hints["options"] == MapOptions | None
    sync = inspect.signature(RunComfy.map).parameters
    async_ = inspect.signature(AsyncRunComfy.map).parameters
    assert list(sync) == list(async_)
    assert {name: sync[name].default for name in KNOBS} == {
        name: knob_default(name) for name in KNOBS
    }
    assert all(p.kind is not p.VAR_KEYWORD for p in sync.values())


def test_the_sync_map_passes_knobs_and_options_on_as_before(client: RunComfy) -> None:
    batch = client.map(MODEL, [], max_in_flight=3, job_timeout=5.0)
    assert batch._batch.options == MapOptions.build(max_in_flight=3, job_timeout=5.0)
    options = MapOptions.build(max_in_flight=7)
    assert client.map(MODEL, [], options=options)._batch.options is options
    assert client.map(MODEL, [], options=None)._batch.options == MapOptions.build()


def test_the_sync_map_refuses_what_the_async_map_refuses(client: RunComfy) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        client.map(MODEL, [], options=MapOptions(), max_in_flight=3)
    with pytest.raises(TypeError, match="not one of MapKnobs"):
        client.map(MODEL, [], **{"max_in_flght": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^max_in_flight must be"):
        client.map(MODEL, [], max_in_flight=0)


# --- Skipped lines read back from the manifest ----------------------------------------------


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
    from_json = ManifestRecord.from_json

    def counting(text: str) -> ManifestRecord:
        nonlocal built
        built += 1
        return from_json(text)

    monkeypatch.setattr(ManifestRecord, "from_json", counting)
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
