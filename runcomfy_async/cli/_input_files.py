"""Reading a batch's input file: JSON lines, one prompt per line, or a CSV table.

Every format ends as the same list of :class:`InputLine`: the line number a person would
look for in an editor, the input object, an optional ``model_id`` overriding ``--model``,
and, for a line that could not be read, why. Reading never stops at a bad line, so that
every problem of a file of thousands can be listed at once, before anything is sent.

- ``.jsonl`` (and ``-``, standard input): one JSON object per line; blank lines are skipped.
- ``.txt``: one prompt per line, sent as ``{"prompt": line}``; blank lines and ``#``
  comments are skipped.
- ``.csv``: a header row names the fields; an empty cell leaves its field out (the model's
  default applies). Cells are text until :func:`type_cells` gives them the JSON types the
  model's schema asks for: a CSV file cannot say whether ``7`` is a number or a word.

Files are UTF-8, with or without a byte order mark, with LF or CRLF line ends.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Final

import attrs

from ._exit_codes import DATA_ERROR, NO_INPUT, USAGE, CommandError

__all__ = [
    "CsvLayoutError",
    "InputFile",
    "InputLine",
    "parse_csv",
    "parse_json_line",
    "parse_jsonl",
    "parse_prompts",
    "read_input_file",
    "type_cells",
    "unreadable",
]

MODEL_ID_FIELD: Final = "model_id"
STDIN_NAME: Final = "-"
COMMENT_PREFIX: Final = "#"

_INTEGER: Final = re.compile(r"[+-]?\d+")
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BOOLEANS: Final = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
_JSON_TYPE_NAMES: Final = {
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


@attrs.frozen(kw_only=True)
class InputLine:
    """One input of a batch file, as read.

    Attributes:
        line: the 1-based line number the input starts on.
        payload: the input object; None when the line could not be read.
        model_id: the model named on the line, which overrides ``--model``.
        problem: why the line could not be read, when it could not.
        text_cells: True for CSV rows, whose values are still text (see :func:`type_cells`).
    """

    line: int
    payload: dict[str, Any] | None
    model_id: str | None = None
    problem: str | None = None
    text_cells: bool = False


@attrs.frozen(kw_only=True)
class InputFile:
    """A batch's input file, read.

    Attributes:
        name: the path as given, or ``-`` for standard input.
        format: ``jsonl``, ``txt`` or ``csv``.
        lines: every input, in file order.
    """

    name: str
    format: str
    lines: tuple[InputLine, ...]


def read_input_file(source: str, stdin: BinaryIO) -> InputFile:
    """Read and parse a batch input file (or ``-``: JSON lines on standard input, read to
    its end; a batch streams it instead, see :mod:`._input_stream`).

    Args:
        source: the path, or ``-``.
        stdin: where ``-`` reads from.

    Raises:
        CommandError: the name has no known extension (usage), the file cannot be read
            (no input), it is not UTF-8, a CSV header is unusable, or it holds no input
            at all (data error).
    """
    if source == STDIN_NAME:
        input_format, data = "jsonl", stdin.read()
    else:
        found = _FORMATS.get(Path(source).suffix.lower())
        if found is None:
            raise CommandError(
                f"{source}: the input file must end in .jsonl, .txt or .csv "
                "(or be - for JSON lines on standard input)",
                USAGE,
            )
        input_format = found
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {source}: {exc.strerror or exc}", NO_INPUT) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CommandError(
            f"{source}: line {line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8",
            DATA_ERROR,
        ) from None
    try:
        lines = tuple(_PARSERS[input_format](text))
    except CsvLayoutError as exc:
        raise CommandError(f"{source}: {exc}", DATA_ERROR) from None
    if not lines:
        raise CommandError(f"{source}: no inputs in the file", DATA_ERROR)
    return InputFile(name=source, format=input_format, lines=lines)


# --- The formats ------------------------------------------------------------------------------


def _text_lines(text: str) -> list[str]:
    # Not str.splitlines(): it also splits at U+2028 and friends, which JSON strings and
    # prompts may hold verbatim.
    return [line.removesuffix("\r") for line in text.split("\n")]


def parse_jsonl(text: str) -> list[InputLine]:
    """One JSON object per line; a ``model_id`` key names the line's model.

    Args:
        text: the file's text.
    """
    lines: list[InputLine] = []
    for number, raw in enumerate(_text_lines(text), start=1):
        line = parse_json_line(number, raw)
        if line is not None:
            lines.append(line)
    return lines


def parse_json_line(number: int, raw: str) -> InputLine | None:
    """One line of JSON lines, read; None for a blank line.

    Args:
        number: its line number.
        raw: its text, without the line end.
    """
    if not raw.strip():
        return None
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return unreadable(number, f"not valid JSON: {exc.msg} (column {exc.colno})")
    except ValueError as exc:
        return unreadable(number, str(exc))
    if not isinstance(value, dict):
        kind = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
        return unreadable(number, f"expected a JSON object, got {kind}")
    model_id = value.pop(MODEL_ID_FIELD, None)
    if model_id is not None and not isinstance(model_id, str):
        return unreadable(number, f"{MODEL_ID_FIELD} must be a string")
    return InputLine(line=number, payload=value, model_id=model_id)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number: it cannot be sent")


def parse_prompts(text: str) -> list[InputLine]:
    """One prompt per line, as ``{"prompt": line}``; blank lines and ``#`` comments skipped.

    Args:
        text: the file's text.
    """
    lines: list[InputLine] = []
    for number, raw in enumerate(_text_lines(text), start=1):
        prompt = raw.strip()
        if prompt and not prompt.startswith(COMMENT_PREFIX):
            lines.append(InputLine(line=number, payload={"prompt": prompt}))
    return lines


def parse_csv(text: str) -> list[InputLine]:
    """A header row of field names, then one input per row; a ``model_id`` column names
    each row's model. Cells stay text; empty cells leave their field out.

    Args:
        text: the file's text.

    Raises:
        CsvLayoutError: the header is unusable, or the CSV cannot be parsed at all.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    lines: list[InputLine] = []
    ended_at = 0
    try:
        for row in reader:
            # A quoted cell may span lines: a row starts after the previous one ended.
            number, ended_at = ended_at + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _header(row, number)
                continue
            lines.append(_csv_row(header, row, number))
    except csv.Error as exc:
        raise CsvLayoutError(f"line {reader.line_num}: {exc}") from None
    return lines


class CsvLayoutError(ValueError):
    """A CSV file whose layout (not one row) is wrong: no rows can be read from it."""


def _header(row: list[str], number: int) -> list[str]:
    names = [cell.strip() for cell in row]
    missing = [str(position) for position, name in enumerate(names, start=1) if not name]
    if missing:
        raise CsvLayoutError(
            f"line {number}: the header row must name every column; "
            f"column {', '.join(missing)} has no name"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CsvLayoutError(
            f"line {number}: column names must differ; repeated: {', '.join(repeated)}"
        )
    return names


def _csv_row(header: list[str], row: list[str], number: int) -> InputLine:
    # A short row is allowed (its missing cells count as empty); a long one is a mistake.
    if len(row) > len(header):
        return unreadable(
            number, f"{len(row)} cells, but the header names only {len(header)} columns"
        )
    cells = {name: cell for name, cell in zip(header, row, strict=False) if cell.strip()}
    model_id = cells.pop(MODEL_ID_FIELD, None)
    return InputLine(
        line=number,
        payload=cells,
        model_id=model_id.strip() if model_id is not None else None,
        text_cells=True,
    )


def unreadable(number: int, problem: str) -> InputLine:
    """A line that could not be read, and why."""
    return InputLine(line=number, payload=None, problem=problem)


_FORMATS: Final = {".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt", ".csv": "csv"}
_PARSERS: Final[dict[str, Callable[[str], list[InputLine]]]] = {
    "jsonl": parse_jsonl,
    "txt": parse_prompts,
    "csv": parse_csv,
}


# --- Typing CSV cells -------------------------------------------------------------------------


def type_cells(cells: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """CSV cells as the JSON types the model's schema declares for their fields.

    Only fields the schema says are integers, numbers, booleans, objects or arrays are
    converted; a cell that does not read as its type stays text, so that validation then
    names the field and says what is allowed. Fields that may be strings stay strings.

    Args:
        cells: field name to cell text.
        schema: the model's input JSON Schema.
    """
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return dict(cells)
    return {name: _typed(value, properties.get(name)) for name, value in cells.items()}


def _declared_types(field: Mapping[str, Any]) -> set[str]:
    declared = field.get("type")
    types = set(declared) if isinstance(declared, list) else {declared} if declared else set()
    for keyword in ("anyOf", "oneOf"):
        for option in field.get(keyword) or ():
            if isinstance(option, Mapping):
                types |= _declared_types(option)
    return {str(name) for name in types}


def _typed(value: Any, field: object) -> Any:
    if not isinstance(value, str) or not isinstance(field, Mapping):
        return value
    types = _declared_types(field)
    if not types or "string" in types:
        return value
    cell = value.strip()
    if "integer" in types and _INTEGER.fullmatch(cell):
        return int(cell)
    if types & {"number", "float"} and _NUMBER.fullmatch(cell):
        number = float(cell)
        if math.isfinite(number):
            return int(cell) if _INTEGER.fullmatch(cell) else number
    if "boolean" in types and cell.lower() in _BOOLEANS:
        return _BOOLEANS[cell.lower()]
    if types & {"object", "array"}:
        try:
            parsed = json.loads(cell)
        except ValueError:
            return value
        if (isinstance(parsed, dict) and "object" in types) or (
            isinstance(parsed, list) and "array" in types
        ):
            return parsed
    return value
