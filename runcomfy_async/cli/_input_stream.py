"""``batch -``: standard input read as the batch pulls its inputs, each line checked as it
arrives.

A file is read and checked whole before anything is sent; standard input may never end (a
generator, a FIFO, ``tail -f``), so it is streamed instead. The batch pulls an input only
when it has room for one (``max_in_flight``), this module reads standard input only when it
has no line left to hand over, and a chunk at a time: memory stays bounded however long the
stream, as it does for ``client.map``.

Reading happens in a daemon thread, on demand. A thread blocked on a pipe that never ends
cannot be interrupted, but it need not be waited for: Ctrl-C cancels the batch's wait for
the next chunk at once, and the thread dies with the process. It reads the file descriptor
itself (``os.read``), so no lock of ``sys.stdin`` is held at the interpreter's exit.

A line that is not a valid input is reported as it is met. With ``--skip-invalid`` the batch
goes on without it; otherwise nothing after it is read, the jobs already sent finish, and the
command exits 65 with the command that resumes the batch once the line is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, BinaryIO

from .._constants import STDIN_CHUNK_BYTES, STDIN_MAX_LINE_BYTES
from ._input_check import BatchInput, LineProblem, ModelSchemas, check_line
from ._input_files import InputLine, parse_json_line, unreadable

__all__ = ["StdinReader", "StreamedInputs", "numbered_lines"]

_BOM = b"\xef\xbb\xbf"


class StdinReader:
    """Chunks of a binary stream, read in a daemon thread, one per :meth:`read`.

    Args:
        stream: standard input (its file descriptor is read when it has one).
        chunk_bytes: the most one read returns.
    """

    def __init__(self, stream: BinaryIO, chunk_bytes: int = STDIN_CHUNK_BYTES) -> None:
        self._read: Callable[[int], bytes]
        try:
            fd = stream.fileno()
        except (OSError, ValueError, io.UnsupportedOperation, AttributeError):
            self._read = getattr(stream, "read1", stream.read)
        else:
            self._read = lambda size: os.read(fd, size)
        self._chunk_bytes = chunk_bytes
        self._asks: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at the end of the stream.

        Raises:
            OSError: the stream cannot be read.
        """
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, name="runcomfy-stdin", daemon=True
            )
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._asks.put((loop, future))
        answer = await future
        if isinstance(answer, OSError):
            raise answer
        assert isinstance(answer, bytes)
        return answer

    def _serve(self) -> None:
        while True:
            loop, future = self._asks.get()
            answer: bytes | OSError
            try:
                answer = self._read(self._chunk_bytes)
            except OSError as exc:
                answer = exc
            # The loop may be closed by now (the command ended while this read waited).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, answer)


def _settle(future: asyncio.Future[Any], answer: object) -> None:
    if not future.done():  # not if the batch stopped waiting for it
        future.set_result(answer)


async def numbered_lines(
    read: Callable[[], Awaitable[bytes]], max_line_bytes: int = STDIN_MAX_LINE_BYTES
) -> AsyncIterator[tuple[int, str | None, str | None]]:
    """``(line number, text, None)`` for each line of a stream, or ``(number, None, why)``
    for a line that cannot be read; CRLF or LF line ends, UTF-8 with or without a BOM."""
    pending = bytearray()
    number = 0
    skipping = False  # inside a line too long to keep
    while True:
        chunk = await read()
        if not chunk:
            break
        if number == 0 and not pending and chunk.startswith(_BOM):
            chunk = chunk[len(_BOM):]
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            raw, start = bytes(pending[start:end]), end + 1
            if skipping:
                skipping = False
                continue
            number += 1
            yield _decoded(number, raw)
        del pending[:start]
        if len(pending) > max_line_bytes and not skipping:
            number += 1
            yield number, None, f"longer than {max_line_bytes} bytes: not read"
            skipping = True
        if skipping:
            pending.clear()
    if pending and not skipping:
        yield _decoded(number + 1, bytes(pending))


def _decoded(number: int, raw: bytes) -> tuple[int, str | None, str | None]:
    try:
        return number, raw.decode("utf-8").removesuffix("\r"), None
    except UnicodeDecodeError as exc:
        return number, None, f"not UTF-8 text (byte {exc.start} of the line)"


class StreamedInputs:
    """The inputs of ``batch -``, each line parsed and checked as the batch pulls it.

    :meth:`items` gives ``(model_id, payload)`` pairs, the form ``client.map`` takes.

    Args:
        read: gives the next chunk of standard input (``b""`` at its end).
        default_model: ``--model``.
        schemas: where input schemas come from.
        allow_unknown_fields: ``--allow-unknown-fields``.
        skip_invalid: ``--skip-invalid``: go on after an invalid line.
        on_problem: told of each problem of an invalid line, as it is met.
        on_skipped: told of each line skipped (``--skip-invalid``), with its problems.
        check_model: called once per model named, before its first input is handed over
            (a wrong token or an unknown model ends the batch there).

    Attributes:
        lines: the line number of each input handed over, by batch index, until
            :meth:`forget` is called for it (so that it stays small).
        total: None: how many inputs a stream holds is known only at its end.
        count: inputs handed over so far.
        skipped: invalid lines skipped.
        stopped_at: the problems of the invalid line that ended the stream, if one did.
    """

    def __init__(
        self,
        read: Callable[[], Awaitable[bytes]],
        *,
        default_model: str | None,
        schemas: ModelSchemas,
        allow_unknown_fields: bool,
        skip_invalid: bool,
        on_problem: Callable[[LineProblem], None],
        check_model: Callable[[str], Awaitable[None]],
        on_skipped: Callable[[InputLine, Sequence[LineProblem]], Awaitable[None]] | None = None,
    ) -> None:
        self._read = read
        self._default_model = default_model
        self._schemas = schemas
        self._allow_unknown = allow_unknown_fields
        self._skip_invalid = skip_invalid
        self._on_problem = on_problem
        self._check_model = check_model
        self._on_skipped = on_skipped
        self._models: set[str] = set()
        self.lines: dict[int, int] = {}
        self.total: int | None = None
        self.count = 0
        self.skipped = 0
        self.stopped_at: tuple[LineProblem, ...] = ()

    def forget(self, index: int) -> int | None:
        """The line number of input ``index``, no longer kept."""
        return self.lines.pop(index, None)

    def items(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """The inputs, for ``client.map`` (once)."""
        return self._inputs()

    async def _inputs(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async for number, text, problem in numbered_lines(self._read):
            line = parse_json_line(number, text) if text is not None else unreadable(
                number, problem or "unreadable"
            )
            if line is None:
                continue
            checked = await check_line(
                line,
                default_model=self._default_model,
                schemas=self._schemas,
                allow_unknown_fields=self._allow_unknown,
            )
            if not isinstance(checked, BatchInput):
                for found in checked:
                    self._on_problem(found)
                if not self._skip_invalid:
                    self.stopped_at = tuple(checked)
                    return
                self.skipped += 1
                if self._on_skipped is not None:
                    await self._on_skipped(line, checked)
                continue
            if checked.model_id not in self._models:
                await self._check_model(checked.model_id)
                self._models.add(checked.model_id)
            self.lines[self.count] = checked.line
            self.count += 1
            yield checked.model_id, checked.payload
