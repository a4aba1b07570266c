"""A lean load generator for the sandbox: ``python -m benchmarks._loader CONFIG_JSON``.

It measures the sandbox, not a client library, so it must cost the loader as little as
possible per request: a bare asyncio protocol writing HTTP/1.1 requests by hand over
keep-alive connections and reading answers by Content-Length (the sandbox always sends one).
With aiohttp's client the loader spends about as much CPU per request as the server does,
and on a two-core machine would then measure itself.

CONFIG_JSON: ``{base_url, token, model_id, pairs, connections, cpu}``. Each connection runs
submit (POST) then result (GET) pairs back to back until ``pairs`` have been done in all.
Prints one JSON line: ``{pairs, requests, seconds, cpu_s, failures}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request outstanding."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection lost"))
        if not self._closed.done():
            self._closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
                break
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        status = int(head.split(" ", 2)[1])
        body = bytes(self._buffer[end + 4 : total])
        del self._buffer[:total]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter


async def _load(config: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(config["base_url"])
    host, port, prefix = url.hostname or "127.0.0.1", url.port or 80, url.path.rstrip("/")
    common = f"Host: {host}:{port}\r\nAuthorization: Bearer {config['token']}\r\n"
    submit_path = f"{prefix}/models/{config['model_id']}"
    pairs = int(config["pairs"])
    remaining = pairs
    failures = 0
    loop = asyncio.get_running_loop()

    async def worker(number: int) -> None:
        nonlocal remaining, failures
        _, conn = await loop.create_connection(_Connection, host, port)
        assert isinstance(conn, _Connection)
        sequence = 0
        try:
            while remaining > 0:
                remaining -= 1
                sequence += 1
                body = json.dumps({"prompt": f"c{number}-{sequence}"}).encode()
                status, answer = await conn.exchange(
                    (
                        f"POST {submit_path} HTTP/1.1\r\n{common}"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    + body
                )
                if status != 200:
                    failures += 1
                    continue
                request_id = json.loads(answer)["request_id"]
                status, answer = await conn.exchange(
                    f"GET {prefix}/requests/{request_id}/result HTTP/1.1\r\n{common}\r\n".encode()
                )
                if status != 200 or b'"succeeded"' not in answer:
                    failures += 1
        finally:
            assert conn.transport is not None
            conn.transport.close()

    started = time.perf_counter()
    cpu0 = time.process_time()
    await asyncio.gather(*(worker(i) for i in range(int(config["connections"]))))
    return {
        "pairs": pairs,
        "requests": 2 * pairs,
        "seconds": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu0,
        "failures": failures,
    }


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    cpu = config.get("cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        # Unpinned is still a valid run (the metadata says what was asked for).
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {int(cpu)})
    result = asyncio.run(_load(config))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
