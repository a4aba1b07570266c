"""The transport fed arbitrary answers: any status, headers and body, and broken HTTP.

Whatever comes back, a call returns or raises a ``RunComfyError`` subclass, within a bound:
never KeyError, TypeError, UnicodeDecodeError, an aiohttp exception, or a hang.

Two loopback servers, both on one event loop with the client (no threads): an aiohttp.web app
that answers with the status, headers and body a hypothesis example sets, and a raw TCP
server that writes arbitrary bytes where an HTTP answer should be.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runcomfy_async as rc
from runcomfy_async import AsyncRunComfy, RetryPolicy, RunComfyError

SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CALL_BOUND_S = 5.0
MODEL = "acme/model"


@attrs.define
class Script:
    """What the scripted server answers next."""

    status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b"{}"
    raw: bytes = b""


@attrs.define
class Rig:
    loop: asyncio.AbstractEventLoop
    script: Script
    client: AsyncRunComfy
    raw_client: AsyncRunComfy

    def run(self, coroutine: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coroutine)


async def _start(script: Script) -> tuple[web.AppRunner, asyncio.AbstractServer, int, int]:
    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(status=script.status, headers=script.headers, body=script.body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    async def raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(script.raw)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    raw_server = await asyncio.start_server(raw, "127.0.0.1", 0)
    raw_port = raw_server.sockets[0].getsockname()[1]
    return runner, raw_server, port, raw_port


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    script = Script()
    runner, raw_server, port, raw_port = loop.run_until_complete(_start(script))
    retry = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.002,
                        retry_after_cap=0.01, max_elapsed=1.0)

    def client(p: int) -> AsyncRunComfy:
        return AsyncRunComfy(api_token="tok-hostile-transport", base_url=f"http://127.0.0.1:{p}/v1",
                             retry=retry, read_timeout=0.3, connect_timeout=0.3)

    made = Rig(loop, script, client(port), client(raw_port))
    yield made
    loop.run_until_complete(made.client.aclose())
    loop.run_until_complete(made.raw_client.aclose())
    raw_server.close()
    loop.run_until_complete(raw_server.wait_closed())
    loop.run_until_complete(runner.cleanup())
    loop.close()


def _after_status_line(rest: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + rest


CALLS: dict[str, Callable[[AsyncRunComfy], Awaitable[Any]]] = {
    "submit": lambda c: c.submit(MODEL, {"prompt": "a fox"}),
    "status": lambda c: c.status("req-1"),
    "result": lambda c: c.result("req-1"),
    "cancel": lambda c: c.cancel("req-1"),
    "wait": lambda c: c.wait("req-1", timeout=0.5),
}
calls = pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())


async def _bounded(call: Callable[[AsyncRunComfy], Awaitable[Any]], client: AsyncRunComfy) -> None:
    with anyio.fail_after(CALL_BOUND_S):
        try:
            await call(client)
        except RunComfyError as error:
            str(error)
            repr(error)


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
                      max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["request_id", "status", "error_code", "error_message", "detail",
                         "output", "outcome", "message"]) | st.text(max_size=6), inner, max_size=5),
    max_leaves=10,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"null", b"[]", b"\xff\xfe{", b"<html>502</html>",
                     b'{"error_code": "x"}', b'{"error_code": 429001}', b'{"request_id": 5}',
                     b"{\"error_code\": true, \"error_message\": []}", gzip.compress(b"{}")]),
)
statuses = st.integers(200, 599) | st.sampled_from(
    [204, 301, 302, 307, 308, 408, 429, 503, 600, 999]
)
headers = st.fixed_dictionaries({}, optional={
    "Retry-After": header_text | st.sampled_from(["0", "1e9", "-1", "Wed, 21 Oct 2015 07:28:00 GMT",
                                                 "Fri, 31 Dec 9999 23:59:59 GMT", "nan", "inf"]),
    "Location": header_text | st.just("https://evil.example/steal"),
    "Content-Type": st.sampled_from(["application/json", "text/html", "bogus/type; charset=nope",
                                     "application/json; charset=utf-16"]) | header_text,
    "Content-Encoding": st.sampled_from(["gzip", "deflate", "br", "identity", "bogus"]),
})


@calls
@SETTINGS
@given(status=statuses, answer_headers=headers, body=bodies)
def test_any_answer_becomes_a_result_or_a_runcomfy_error(
    rig: Rig, call: Callable[[AsyncRunComfy], Awaitable[Any]], status: int,
    answer_headers: dict[str, str], body: bytes,
) -> None:
    rig.script.status, rig.script.headers, rig.script.body = status, answer_headers, body
    rig.run(_bounded(call, rig.client))


@pytest.mark.parametrize("status", [200, 500], ids=["in-a-200", "in-a-500"])
def test_an_infinite_error_code_becomes_a_runcomfy_error(rig: Rig, status: int) -> None:
    rig.script.status, rig.script.headers = status, {}
    rig.script.body = b'{"error_code": 1e999, "error_message": "x"}'
    with pytest.raises(RunComfyError):
        rig.run(rig.client.result("req-1"))


BROKEN_HTTP = [
    b"",  # the connection closes with no answer
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"request_id\"",  # truncated
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n{}",
    b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 429 Too Many\r\nRetry-After: \xff\xfe\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
]


@calls
@pytest.mark.parametrize("raw", BROKEN_HTTP, ids=range(len(BROKEN_HTTP)))
def test_broken_http_becomes_a_runcomfy_error(
    rig: Rig, call: Callable[[AsyncRunComfy], Awaitable[Any]], raw: bytes
) -> None:
    rig.script.raw = raw
    rig.run(_bounded(call, rig.raw_client))


@pytest.mark.parametrize("call", [CALLS["submit"], CALLS["result"]], ids=["submit", "result"])
@SETTINGS
@given(raw=st.binary(max_size=300) | st.binary(max_size=200).map(_after_status_line))
def test_arbitrary_bytes_for_an_answer_become_a_runcomfy_error(
    rig: Rig, call: Callable[[AsyncRunComfy], Awaitable[Any]], raw: bytes
) -> None:
    rig.script.raw = raw
    rig.run(_bounded(call, rig.raw_client))


@pytest.mark.parametrize("body", [b"hello", b"{}", b'{"status": "in_queue"}'],
                         ids=["not-json", "empty-object", "no-request-id"])
def test_a_submit_answered_without_a_request_id_is_an_unknown_outcome(
    rig: Rig, body: bytes
) -> None:
    rig.script.status, rig.script.headers, rig.script.body = 200, {}, body
    with pytest.raises(rc.SubmitOutcomeUnknownError):
        rig.run(rig.client.submit(MODEL, {"prompt": "a fox"}))
