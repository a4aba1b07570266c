"""The token appears nowhere: not in logs at DEBUG, reprs, error texts, tracebacks, pickles,
the journal, the manifest or the downloaded files; and it never reaches the CDN.

One scenario (run once for the module) produces everything the tests look through: a full
batch with every fault on (journal and downloads), then a failure of every kind the library
has, each provoked on purpose. Each test then searches one place for the token.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import runcomfy_async as rc
import runcomfy_async.http._transport as transport_module
from runcomfy_async.sandbox import CdnFaults, FaultPlan, ModelSpec, Sandbox
from runcomfy_async.store.journal import Journal

from ._support import (
    CHAOS_MODEL,
    SCHEMA,
    fast_retry,
    make_client,
    make_inputs,
    models,
    record_figures,
)

TOKEN = "rc-live-SECRET-7f3a9c1e5b2d4086a1c3e5f7"
OTHER_TOKEN_MARK = "sbx-"  # tokens the sandbox issues start with this
FAILING = "reliability/always-fails"
SLOWEST = "reliability/slowest"


@attrs.define
class Evidence:
    """Everything the scenario left behind, to be searched for the token."""

    tokens: list[str] = attrs.field(factory=list)
    log_text: str = ""
    reprs: list[str] = attrs.field(factory=list)
    errors: dict[str, BaseException] = attrs.field(factory=dict)
    files: list[Path] = attrs.field(factory=list)
    cdn_credentials_seen: int = -1
    cdn_requests: int = 0


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # format() renders exc_info and stack_info too; args are rendered by getMessage().
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


async def _expect(evidence: Evidence, name: str, work: Callable[[], Awaitable[Any]]) -> None:
    """Run ``work``, which must fail with a RunComfyError; keep the error."""
    try:
        with anyio.fail_after(30):
            await work()
    except rc.RunComfyError as error:
        evidence.errors[name] = error
    else:  # pragma: no cover - the scenario is built so that each step fails
        raise AssertionError(f"{name}: expected a failure")


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def _raw_server(reply: bytes) -> asyncio.AbstractServer:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def _scenario(tmp: Path, evidence: Evidence) -> None:
    specs = [*models(), ModelSpec(FAILING, SCHEMA, failure_rate=1.0),
             ModelSpec(SLOWEST, SCHEMA, median_s=600.0)]
    async with Sandbox(token=TOKEN, models=specs, workers=64, time_scale=0.01, seed=5) as sb:
        other = sb.add_token()
        revoked = sb.add_token()
        sb.revoke_token(revoked)
        evidence.tokens = [TOKEN, other, revoked, "rc-WRONG-token-0123456789abcdef"]
        out = tmp / "out"

        # 1. A whole batch under every fault, with a journal and downloads.
        sb.faults = FaultPlan.uniform(
            server_error=0.10, rate_limit=0.05, reset=0.02, slow=0.01, error_in_200=0.01,
            accepted_then_dropped=0.01, retry_after_s=0.02, slow_s=0.3,
        )
        async with make_client(sb.base_url, TOKEN, read_timeout=0.2) as client:
            async with client.map(CHAOS_MODEL, make_inputs(100, "secret"),
                                  journal=tmp / "journal.sqlite", download_to=out,
                                  download_origins=[sb.cdn_base_url]) as batch:
                outcomes = [o async for o in batch]
            evidence.reprs += [repr(client), repr(client._transport), repr(batch)]
            evidence.reprs += [repr(o) for o in outcomes]
            for o in outcomes:
                if o.error is not None:
                    evidence.errors.setdefault(f"batch:{o.state.value}:{type(o.error).__name__}",
                                               o.error)
        sb.faults = FaultPlan()

        # 2. Failures of every kind.
        async with make_client(sb.base_url, TOKEN, read_timeout=0.3) as client:
            job = await client.submit(SLOWEST, {"prompt": "slow"})
            await _expect(evidence, "not-found", lambda: client.status("no-such-request"))
            await _expect(evidence, "invalid-input-422",
                          lambda: client.submit(CHAOS_MODEL, {"width": "wide"}))
            await _expect(evidence, "unknown-model", lambda: client.submit("no/such-model", {}))
            await _expect(evidence, "job-failed", lambda: client.run(FAILING, {"prompt": "x"}))
            await _expect(evidence, "wait-timeout",
                          lambda: client.wait(job.request_id, timeout=0.2))
            await _expect(evidence, "bad-input-typed", lambda: client.submit("bad model id", {}))
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(transport_module, "MAX_REQUEST_BYTES", 100)
                await _expect(evidence, "request-too-large",
                              lambda: client.submit(CHAOS_MODEL, {"prompt": "x" * 200}))
            sb.faults = FaultPlan.uniform(rate_limit=1.0, retry_after_s=3600)
            await _expect(evidence, "rate-limited", lambda: client.status(job.request_id))
            sb.faults = FaultPlan.uniform(server_error=1.0)
            await _expect(evidence, "server-error", lambda: client.status(job.request_id))
            sb.faults = FaultPlan.uniform(reset=1.0)
            await _expect(evidence, "submit-unknown",
                          lambda: client.submit(CHAOS_MODEL, {"prompt": "r"}))
            await _expect(evidence, "connection-reset", lambda: client.result(job.request_id))
            sb.faults = FaultPlan.uniform(slow=1.0, slow_s=0.5)
            async with make_client(sb.base_url, TOKEN, read_timeout=0.1,
                                   retry=rc.RetryPolicy(max_attempts=2)) as impatient:
                await _expect(evidence, "read-timeout", lambda: impatient.result(job.request_id))
            sb.faults = FaultPlan.uniform(error_in_200=1.0)
            await _expect(evidence, "error-in-200", lambda: client.result(job.request_id))
            sb.faults = FaultPlan()
            async with client.map(FAILING, [{"prompt": "a"}, {"prompt": "b"}],
                                  fail_fast=True) as batch:
                async def consume() -> None:
                    async for _ in batch:
                        pass
                await _expect(evidence, "batch-aborted", consume)
            evidence.reprs += [repr(batch)]
            # Downloads from a host that is not allowed are refused (the jobs still succeed).
            async with client.map(CHAOS_MODEL, make_inputs(2, "refused"),
                                  download_to=tmp / "refused") as batch:
                for o in [o async for o in batch]:
                    if o.error is not None:
                        evidence.errors[f"download-refused:{type(o.error).__name__}"] = o.error
            async with client.map(CHAOS_MODEL, make_inputs(2, "huge"), download_to=tmp / "capped",
                                  download_origins=[sb.cdn_base_url]) as batch:
                sb.cdn_faults = CdnFaults(huge_body_bytes=600 * 1024 * 1024)
                for o in [o async for o in batch]:
                    if o.error is not None:
                        evidence.errors[f"download:{type(o.error).__name__}"] = o.error
            sb.cdn_faults = CdnFaults()
            journal = await Journal.open(tmp / "locked.sqlite")
            try:
                await _expect(evidence, "journal-locked",
                              lambda: Journal.open(tmp / "locked.sqlite"))
            finally:
                await journal.aclose()
            for n in range(64):  # last: every worker busy, the next job stays queued
                await client.submit(SLOWEST, {"prompt": f"busy {n}"})
            cancelled = await client.submit(SLOWEST, {"prompt": "cancel me"})
            await client.cancel(cancelled.request_id)
            await _expect(evidence, "job-cancelled", lambda: client.wait(cancelled.request_id))
            evidence.reprs += [repr(client), repr(client._transport)]

        for name, token in (("unauthorized", "rc-WRONG-token-0123456789abcdef"),
                            ("revoked", revoked)):
            async with make_client(sb.base_url, token) as stranger:
                await _expect(evidence, name, lambda c=stranger: c.status(job.request_id))
        async with make_client(sb.base_url, other) as stranger:
            await _expect(evidence, "permission-denied", lambda: stranger.status(job.request_id))

        # Broken answers. aiohttp's own error for a malformed status line carries the
        # request's headers (the errors must keep no link to it); a 200 that is not JSON and
        # a redirect are refused.
        for name, reply in (
            ("malformed-http", b"HTTP/1.1 2000 Nope\r\n\r\n"),
            ("not-json", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
            ("redirect", b"HTTP/1.1 307 Moved\r\nLocation: http://127.0.0.1:9/v1/x\r\n"
                         b"Content-Length: 0\r\n\r\n"),
        ):
            server = await _raw_server(reply)
            port = server.sockets[0].getsockname()[1]
            async with make_client(f"http://127.0.0.1:{port}/v1", TOKEN) as broken:
                await _expect(evidence, f"{name}-get", lambda c=broken: c.status("r-1"))
                await _expect(evidence, f"{name}-submit", lambda c=broken: c.submit("a/b", {}))
            server.close()
            await server.wait_closed()
        async with make_client("http://127.0.0.1:9/v1", TOKEN, connect_timeout=0.5) as nowhere:
            await _expect(evidence, "connection-refused", lambda: nowhere.status("r-1"))
        for name, base in (("credentials-in-url", f"https://user:{TOKEN}@example.com/v1"),
                           ("plain-http", "http://api.example.com/v1")):
            async def configure(base: str = base) -> None:
                AsyncRunComfy = rc.AsyncRunComfy
                AsyncRunComfy(api_token=TOKEN, base_url=base, retry=fast_retry())
            await _expect(evidence, name, configure)

        snapshot = sb.stats.snapshot()
        evidence.cdn_credentials_seen = len(snapshot.cdn_credentials_seen)
        evidence.cdn_requests = snapshot.cdn_requests
    evidence.files = _files_under(tmp)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    capture = _Capture()
    root = logging.getLogger()
    library = logging.getLogger("runcomfy_async")
    saved = (root.level, library.level)
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    library.setLevel(logging.DEBUG)
    found = Evidence()
    try:
        asyncio.run(_scenario(tmp_path_factory.mktemp("secrets"), found))
    finally:
        root.removeHandler(capture)
        root.setLevel(saved[0])
        library.setLevel(saved[1])
    found.log_text = "\n".join(capture.lines)
    yield found
    record_figures("secrets", leak_figures(found))


def leak_figures(evidence: Evidence) -> dict[str, Any]:
    """Where the token was looked for, and how often it was found (each place counted once)."""
    texts = {
        "logs": [evidence.log_text],
        "reprs": evidence.reprs,
        "error_texts": ["\n".join([str(e), repr(e), *traceback.format_exception(e)])
                        for e in evidence.errors.values()],
    }
    leaks = {place: sum(1 for t in items if _leaks(evidence, t)) for place, items in texts.items()}
    leaks["pickled_errors"] = sum(
        1 for e in evidence.errors.values()
        if any(t.encode() in pickle.dumps(e) for t in evidence.tokens)
    )
    leaks["files"] = sum(1 for p in evidence.files
                         if any(t.encode() in p.read_bytes() for t in evidence.tokens))
    leaks["cdn_requests_with_credentials"] = evidence.cdn_credentials_seen
    reachable = sum(1 for e in evidence.errors.values()
                    if any(_leaks(evidence, repr(o)) for o in _reachable(e)))
    return {
        "errors_examined": len(evidence.errors),
        "error_kinds": sorted({type(e).__name__ for e in evidence.errors.values()}),
        "log_lines": evidence.log_text.count("\n") + 1,
        "reprs_examined": len(evidence.reprs),
        "files_scanned": len(evidence.files),
        "cdn_requests": evidence.cdn_requests,
        "leaks_found": leaks,
        "leaks_total": sum(leaks.values()),
        "errors_with_token_reachable_through_suppressed_context": reachable,
    }


def _leaks(evidence: Evidence, text: str) -> list[str]:
    return [token for token in evidence.tokens if token in text or token.lower() in text.lower()]


def _reachable(value: Any, seen: set[int] | None = None, depth: int = 0) -> Iterator[Any]:
    """Every object reachable from an error: causes, contexts, args, attributes, items."""
    seen = set() if seen is None else seen
    if id(value) in seen or depth > 8:
        return
    seen.add(id(value))
    yield value
    children: list[Any] = []
    if isinstance(value, BaseException):
        children += [value.__cause__, value.__context__, *value.args]
    if isinstance(value, (list, tuple, set, frozenset)):
        children += list(value)
    elif isinstance(value, dict):
        children += [*value.keys(), *value.values()]
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        children += list(vars(value).values())
    for child in children:
        if child is not None and not isinstance(child, (str, bytes, int, float, bool)):
            yield from _reachable(child, seen, depth + 1)


def test_the_scenario_provoked_every_kind_of_failure(evidence: Evidence) -> None:
    kinds = {type(e) for e in evidence.errors.values()}
    for expected in (rc.NotFoundError, rc.InvalidRequestError, rc.JobFailedError,
                     rc.WaitTimeoutError, rc.JobCancelledError, rc.InvalidInputError,
                     rc.RateLimitedError, rc.ServerError, rc.SubmitOutcomeUnknownError,
                     rc.ConnectionFailedError, rc.RequestTimeoutError, rc.AuthenticationError,
                     rc.PermissionDeniedError, rc.MalformedResponseError, rc.BatchAbortedError,
                     rc.DownloadError, rc.JournalError, rc.ConfigurationError):
        assert expected in kinds, f"no {expected.__name__} was provoked"


def test_token_is_not_in_debug_logs(evidence: Evidence) -> None:
    assert "runcomfy_async" in evidence.log_text, "nothing was logged: the capture is broken"
    assert _leaks(evidence, evidence.log_text) == []


def test_token_is_not_in_reprs_of_client_transport_batch_or_outcomes(evidence: Evidence) -> None:
    assert evidence.reprs
    assert [r for r in evidence.reprs if _leaks(evidence, r)] == []


def test_token_is_not_in_error_texts_or_tracebacks(evidence: Evidence) -> None:
    for name, error in evidence.errors.items():
        text = "\n".join([str(error), repr(error), *traceback.format_exception(error)])
        assert _leaks(evidence, text) == [], f"{name}: {type(error).__name__}"


def test_token_is_not_in_pickled_errors(evidence: Evidence) -> None:
    for name, error in evidence.errors.items():
        data = pickle.dumps(error)
        assert not any(t.encode() in data for t in evidence.tokens), name


def test_token_is_not_reachable_from_any_error_object(evidence: Evidence) -> None:
    leaking = {
        name: type(obj).__name__
        for name, error in evidence.errors.items()
        for obj in _reachable(error)
        if _leaks(evidence, repr(obj))
    }
    assert leaking == {}


def test_token_is_not_in_journal_manifest_or_downloaded_files(evidence: Evidence) -> None:
    assert any(p.name == "manifest.jsonl" for p in evidence.files)
    assert any(p.name.startswith("journal.sqlite") for p in evidence.files)
    for path in evidence.files:
        data = path.read_bytes()
        assert not any(t.encode() in data for t in evidence.tokens), path.name


def test_no_credential_reached_the_cdn(evidence: Evidence) -> None:
    assert evidence.cdn_requests > 0
    assert evidence.cdn_credentials_seen == 0
