"""Reading batch input files: every line's number, every problem, no subprocess."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from runcomfy_async.api._catalog import ModelCatalog
from runcomfy_async.cli._exit_codes import DATA_ERROR, NO_INPUT, USAGE, CommandError
from runcomfy_async.cli._input_check import ModelSchemas, check_inputs
from runcomfy_async.cli._input_files import (
    CsvLayoutError,
    InputLine,
    parse_csv,
    parse_jsonl,
    parse_prompts,
    read_input_file,
    type_cells,
)

V3 = "ideogram/ideogram-v3/text-to-image"
NO_STDIN = io.BytesIO(b"")


def payloads(lines: list[InputLine]) -> list[dict[str, Any] | None]:
    return [line.payload for line in lines]


# --- JSON lines -------------------------------------------------------------------------------


def test_jsonl_reads_one_object_per_line_and_skips_blank_lines() -> None:
    lines = parse_jsonl('{"prompt": "a"}\n\n   \n{"prompt": "b", "seed": 3}\n')
    assert [line.line for line in lines] == [1, 4]
    assert payloads(lines) == [{"prompt": "a"}, {"prompt": "b", "seed": 3}]


def test_jsonl_model_id_key_names_the_lines_model_and_leaves_the_input() -> None:
    (line,) = parse_jsonl('{"model_id": "acme/m", "prompt": "a"}')
    assert line.model_id == "acme/m"
    assert line.payload == {"prompt": "a"}


def test_jsonl_broken_lines_are_reported_with_their_number_and_reading_goes_on() -> None:
    lines = parse_jsonl('{"prompt": "a"}\n{"prompt": "b",}\n[1, 2]\n"text"\n{"model_id": 5}\n')
    problems = {line.line: line.problem for line in lines if line.problem}
    assert problems[2] is not None
    assert problems[2].startswith("not valid JSON")
    assert "column" in problems[2]
    assert problems[3] == "expected a JSON object, got a list"
    assert problems[4] == "expected a JSON object, got a string"
    assert problems[5] == "model_id must be a string"
    assert lines[0].payload == {"prompt": "a"}


def test_jsonl_refuses_nan_which_cannot_be_sent_as_json() -> None:
    (line,) = parse_jsonl('{"prompt": "a", "seed": NaN}')
    assert line.payload is None
    assert line.problem is not None
    assert "NaN" in line.problem


def test_jsonl_keeps_line_separators_inside_strings() -> None:
    (line,) = parse_jsonl('{"prompt": "one\u2028two"}\r\n')
    assert line.payload == {"prompt": "one\u2028two"}


# --- Prompts ----------------------------------------------------------------------------------


def test_txt_is_one_prompt_per_line_without_blanks_and_comments() -> None:
    lines = parse_prompts("# a comment\n\na fox\r\n  # indented comment\n  a hen  \n")
    assert [(line.line, line.payload) for line in lines] == [
        (3, {"prompt": "a fox"}),
        (5, {"prompt": "a hen"}),
    ]


# --- CSV --------------------------------------------------------------------------------------


def test_csv_header_names_the_fields_and_empty_cells_are_left_out() -> None:
    lines = parse_csv("prompt,seed,model_id\r\na fox,7,\r\na hen,,acme/m\r\n")
    assert [(line.line, line.payload, line.model_id) for line in lines] == [
        (2, {"prompt": "a fox", "seed": "7"}, None),
        (3, {"prompt": "a hen"}, "acme/m"),
    ]
    assert all(line.text_cells for line in lines)


def test_csv_row_numbers_account_for_quoted_cells_that_span_lines() -> None:
    lines = parse_csv('prompt\n"two\nlines"\nafter\n')
    assert [(line.line, line.payload) for line in lines] == [
        (2, {"prompt": "two\nlines"}),
        (4, {"prompt": "after"}),
    ]


def test_csv_row_with_more_cells_than_columns_is_a_problem_of_that_row() -> None:
    (line,) = parse_csv("prompt\na,b\n")
    assert line.line == 2
    assert line.problem == "2 cells, but the header names only 1 columns"


@pytest.mark.parametrize(
    ("header", "message"),
    [("prompt,,seed\n", "column 2 has no name"), ("seed,seed\n", "repeated: seed")],
)
def test_csv_header_must_name_every_column_once(header: str, message: str) -> None:
    with pytest.raises(CsvLayoutError, match=message):
        parse_csv(header + "a,1,2\n")


def test_csv_cells_get_the_types_the_schema_declares_and_no_others() -> None:
    schema = {
        "properties": {
            "prompt": {"type": "string"},
            "seed": {"type": "integer"},
            "scale": {"type": "number"},
            "ratio": {"type": "float"},
            "upscale": {"type": "boolean"},
            "style": {"type": "object"},
            "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        }
    }
    cells = {
        "prompt": "42",
        "seed": " 7 ",
        "scale": "2",
        "ratio": "1.5e0",
        "upscale": "Yes",
        "style": '{"style_type": "AUTO"}',
        "either": "3",
        "unknown": "9",
    }
    assert type_cells(cells, schema) == {
        "prompt": "42",
        "seed": 7,
        "scale": 2,
        "ratio": 1.5,
        "upscale": True,
        "style": {"style_type": "AUTO"},
        "either": 3,
        "unknown": "9",
    }


def test_csv_cell_that_does_not_read_as_its_type_stays_text_for_validation_to_name() -> None:
    schema = {"properties": {"seed": {"type": "integer"}, "on": {"type": "boolean"}}}
    assert type_cells({"seed": "seven", "on": "maybe"}, schema) == {"seed": "seven", "on": "maybe"}


# --- Files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("in.jsonl", b'\xef\xbb\xbf{"prompt": "a"}\r\n{"prompt": "b"}\r\n', ["a", "b"]),
        ("in.txt", b"\xef\xbb\xbfa\r\nb\r\n", ["a", "b"]),
        ("in.csv", b"\xef\xbb\xbfprompt\r\na\r\nb\r\n", ["a", "b"]),
    ],
)
def test_files_with_a_byte_order_mark_and_crlf_read_like_plain_ones(
    tmp_path: Path, name: str, data: bytes, expected: list[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    read = read_input_file(str(path), NO_STDIN)
    assert [line.payload for line in read.lines] == [{"prompt": p} for p in expected]


def test_dash_reads_json_lines_from_standard_input() -> None:
    read = read_input_file("-", io.BytesIO(b'{"prompt": "a"}\n'))
    assert (read.format, read.lines[0].payload) == ("jsonl", {"prompt": "a"})


@pytest.mark.parametrize(
    ("name", "data", "code", "message"),
    [
        ("in.xlsx", b"", USAGE, "must end in .jsonl, .txt or .csv"),
        ("missing.txt", None, NO_INPUT, "cannot read"),
        ("in.txt", b"ok\n\xff\xfe\n", DATA_ERROR, "line 2: not UTF-8"),
        ("in.txt", b"# only a comment\n\n", DATA_ERROR, "no inputs"),
        ("in.csv", b"a,a\n1,2\n", DATA_ERROR, "repeated: a"),
    ],
)
def test_unusable_files_end_the_command_with_the_right_code(
    tmp_path: Path, name: str, data: bytes | None, code: int, message: str
) -> None:
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(CommandError, match=message) as raised:
        read_input_file(str(path), NO_STDIN)
    assert raised.value.exit_code == code


# --- Checking against schemas -----------------------------------------------------------------


async def refuse_requests(path: str, params: object, model_id: str | None) -> object:
    raise AssertionError(f"the bundled schemas need no request, yet {path} was asked for")


async def test_every_line_is_checked_against_the_bundled_schema_with_its_line_number() -> None:
    lines = parse_jsonl(
        '{"prompt": "fine"}\n'
        '{"prompt": "bad seed", "seed": -1}\n'
        "{broken\n"
        '{"seed": 3}\n'
        '{"prompt": "no model", "model_id": "not a model"}\n'
    )
    checked = await check_inputs(
        lines, default_model=V3, schemas=ModelSchemas(ModelCatalog(refuse_requests))
    )
    assert [item.line for item in checked.valid] == [1]
    by_line = {problem.line: problem.text for problem in checked.problems}
    assert sorted(by_line) == [2, 3, 4, 5]
    assert by_line[2].startswith("seed: got -1")
    assert by_line[4].startswith("prompt: ")
    assert "required" in by_line[4]
    assert by_line[5].startswith("model_id: ")
    assert str(checked.problems[0]).startswith("line 2: seed")


async def test_lines_without_a_model_are_problems_when_no_default_is_given() -> None:
    checked = await check_inputs(
        parse_prompts("a fox\n"),
        default_model=None,
        schemas=ModelSchemas(ModelCatalog(refuse_requests)),
    )
    assert [str(problem) for problem in checked.problems] == [
        "line 1: no model: pass --model MODEL_ID, or give the line a model_id"
    ]


async def test_csv_cells_are_typed_before_they_are_checked() -> None:
    checked = await check_inputs(
        parse_csv("prompt,seed\na fox,12\n"),
        default_model=V3,
        schemas=ModelSchemas(ModelCatalog(refuse_requests)),
    )
    assert checked.problems == ()
    assert checked.valid[0].payload == {"prompt": "a fox", "seed": 12}
