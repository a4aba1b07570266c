"""The fenced code blocks of a Markdown file, and how to run its Python ones.

A small collector rather than a plugin: the README's blocks use top-level ``await`` and
``async with``, run against a sandbox whose address and token come from the environment, and
some are whole pytest modules. Each Python block is compiled with
``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` (as ``python -m asyncio`` does) and run as a program.

A Python block may be preceded by a marker comment, on the last non-blank line before it:

- ``<!-- readme-test: pytest -->``: the block is a test module, run by pytest;
- ``<!-- readme-test: skip -->``: the block is not code to run (a signature, an output sample).

Without a marker, a Python block must run as it is written. Any fence whose language looks
like Python (``python``, ``py``, but also ``python-pseudo`` or ``pycon``) counts as Python, so
a block in another flavour is run, and fails, unless it is marked.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYTHON_LANGUAGES = frozenset({"python", "py", "python3", "py3"})
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
MODES = frozenset({"run", "pytest", "skip"})

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$")
_MARKER = re.compile(r"^<!--\s*readme-test:\s*(?P<mode>[\w-]+)\s*-->$")
_ANY_MARKER = re.compile(r"^<!--\s*readme-test\b")


class ReadmeFormatError(ValueError):
    """The Markdown has a marker the collector does not understand, or an unclosed fence."""


@dataclass(frozen=True)
class Block:
    """One fenced code block.

    Attributes:
        path: the Markdown file.
        line: the 1-based line of the block's first line of code.
        language: the first word of the fence's info string, lower-case ('' for none).
        source: the code, without the fences.
        mode: ``run``, ``pytest`` or ``skip`` (from a marker; ``run`` without one).
    """

    path: Path
    line: int
    language: str
    source: str
    mode: str = field(default="run")

    @property
    def is_python(self) -> bool:
        """Python, or a flavour of it (``python-pseudo``, ``pycon``): run unless marked."""
        language = self.language
        return language in PYTHON_LANGUAGES or language.startswith("py") or "python" in language

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def parse_blocks(text: str, path: Path) -> list[Block]:
    """Every fenced block of ``text``, in order, with the marker that precedes it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: tuple[str, int] | None = None  # a marker seen, and its line
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        stripped = line.strip()
        if _ANY_MARKER.match(stripped):
            marker = _MARKER.match(stripped)
            if marker is None or marker["mode"] not in MODES:
                raise ReadmeFormatError(f"{path.name}:{number}: unknown marker {stripped!r}")
            pending = (marker["mode"], number)
            continue
        opening = _FENCE.match(line)
        if opening is None:
            if stripped and pending is not None:
                raise ReadmeFormatError(
                    f"{path.name}:{pending[1]}: a marker must come right before a code block"
                )
            continue
        fence = opening["fence"]
        language = opening["info"].split()[0].lower() if opening["info"].strip() else ""
        first = number + 1
        body: list[str] = []
        while number < len(lines):
            inner = lines[number]
            number += 1
            if inner.startswith(fence[0] * len(fence)) and not inner.strip(fence[0]).strip():
                break
            body.append(inner)
        else:
            raise ReadmeFormatError(f"{path.name}:{first - 1}: code block never closed")
        mode = pending[0] if pending is not None else "run"
        pending = None
        blocks.append(Block(path, first, language, "\n".join(body) + "\n", mode))
    if pending is not None:
        raise ReadmeFormatError(f"{path.name}:{pending[1]}: marker at the end of the file")
    return blocks


def read_blocks(path: Path) -> list[Block]:
    return parse_blocks(path.read_text(encoding="utf-8"), path)


def compile_block(block: Block) -> Any:
    """The block's code object, with line numbers and file name pointing into the Markdown
    (tracebacks then show the README's own lines)."""
    padded = "\n" * (block.line - 1) + block.source
    return compile(
        padded, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )


def run_block(block: Block) -> dict[str, Any]:
    """Run a Python block as a program (``__name__ == "__main__"``); return its globals.

    A block with top-level ``await``/``async for``/``async with`` runs in a new asyncio loop.
    """
    if not block.is_python:
        raise ValueError(f"{block.id} is a {block.language or 'plain'} block, not Python")
    code = compile_block(block)
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(block.path)}
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)
    return namespace


def shell_commands(blocks: list[Block]) -> Iterator[tuple[Block, list[str]]]:
    """Each command of the shell blocks, as an argument list: the ``&&``-separated parts of
    ``bash`` blocks and the ``$ `` lines of ``console`` blocks."""
    for block in blocks:
        if block.language not in SHELL_LANGUAGES or block.mode == "skip":
            continue
        if block.language == "console":
            texts = [line[2:] for line in block.source.splitlines() if line.startswith("$ ")]
        else:
            texts = [
                part
                for line in block.source.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
                for part in line.split("&&")
            ]
        for text in texts:
            yield block, shlex.split(text)
