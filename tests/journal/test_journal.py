"""The journal: what it promises about commits, refusals, crashes and secrets."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

import anyio
import pytest

from runcomfy_async import JobState, RunComfyError
from runcomfy_async.core._files import StoredFile
from runcomfy_async.core._identity import canonical_json, input_fingerprint
from runcomfy_async.core._lifecycle import InputState as EntryState
from runcomfy_async.store.journal import (
    JOURNAL_SCHEMA_VERSION,
    Journal,
    JournalError,
)

MODEL = "ideogram/ideogram-v3/text-to-image"
CRASH_WRITER = Path(__file__).with_name("_crash_writer.py")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "batch" / "journal.sqlite"


def read_row(path: Path, index: int) -> sqlite3.Row | None:
    """The row as a second, independent connection sees it."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM items WHERE input_index = ?", (index,)
        ).fetchone()
        return row
    finally:
        conn.close()


# --- Ordering: a write is committed when its call returns ---------------------------------


async def test_record_intent_is_committed_when_it_returns(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(7, MODEL, {"prompt": "a fox"})
        row = read_row(path, 7)
        assert row is not None
        assert row["state"] == "intent"
        assert row["input_json"] == canonical_json({"prompt": "a fox"})
        assert row["fingerprint"] == input_fingerprint(MODEL, {"prompt": "a fox"})


async def test_record_submitted_is_committed_when_it_returns(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(7, MODEL, {"prompt": "a fox"})
        await journal.record_submitted(7, "req-7")
        row = read_row(path, 7)
        assert row is not None
        assert (row["state"], row["request_id"]) == ("submitted", "req-7")


async def test_every_concurrent_writer_resumes_after_its_own_commit(path: Path) -> None:
    async with Journal(path) as journal:

        async def write(index: int) -> None:
            await journal.record_intent(index, MODEL, {"prompt": str(index)})
            assert read_row(path, index) is not None

        await asyncio.gather(*(write(i) for i in range(200)))


# --- Group commit ----------------------------------------------------------------------------


async def test_concurrent_writes_share_transactions(path: Path) -> None:
    async with Journal(path) as journal:
        before = journal.commits
        await asyncio.gather(
            *(journal.record_intent(i, MODEL, {"prompt": str(i)}) for i in range(1000))
        )
        assert journal.commits - before < 100
        assert await journal.counts() == {EntryState.INTENT: 1000}


async def test_a_refused_write_does_not_fail_its_transaction_neighbours(path: Path) -> None:
    async with Journal(path) as journal:
        results = await asyncio.gather(
            *(journal.record_intent(i, MODEL, {"prompt": str(i)}) for i in range(50)),
            journal.record_submitted(999, "req-999"),
            return_exceptions=True,
        )
        assert isinstance(results[-1], JournalError)
        assert not any(isinstance(r, BaseException) for r in results[:-1])
        assert await journal.counts() == {EntryState.INTENT: 50}


async def test_a_cancelled_record_submitted_is_still_committed(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        task = asyncio.create_task(journal.record_submitted(1, "req-1"))
        await asyncio.sleep(0)  # let it queue its write
        task.cancel()
    async with Journal(path) as journal:
        entry = await journal.get(1)
        assert entry is not None
        assert entry.request_id == "req-1"


# --- Entries ---------------------------------------------------------------------------------


async def test_a_finished_entry_round_trips_through_reopening(path: Path) -> None:
    submitted = datetime(2025, 1, 2, 3, 4, 5, 250000, tzinfo=timezone.utc)
    finished = datetime(2025, 1, 2, 3, 5, 0, tzinfo=timezone.utc)
    files = (
        StoredFile(
            url="https://cdn.runcomfy.net/a.png?sig=x",
            path="000003-a-fox.png",
            sha256="ab" * 32,
            size=1234,
            content_type="image/png",
        ),
    )
    result = {"request_id": "req-3", "status": "succeeded", "output": {"image": "https://x"}}
    async with Journal(path) as journal:
        await journal.record_intent(3, MODEL, {"prompt": "a fox", "seed": 3})
        await journal.record_submitted(3, "req-3", at=submitted)
        await journal.record_finished(
            3, JobState.SUCCEEDED, result=result, finished_at=finished, detected_at=finished
        )
        await journal.record_files(3, files)
    async with Journal(path) as journal:
        entry = await journal.get(3)
    assert entry is not None
    assert entry.state is EntryState.SUCCEEDED
    assert entry.input == {"prompt": "a fox", "seed": 3}
    assert entry.fingerprint == input_fingerprint(MODEL, {"prompt": "a fox", "seed": 3})
    assert (entry.request_id, entry.attempts) == ("req-3", 1)
    assert (entry.submitted_at, entry.finished_at, entry.detected_at) == (
        submitted,
        finished,
        finished,
    )
    assert entry.result == result
    assert entry.error is None
    assert entry.files == files


async def test_a_failed_entry_keeps_the_raw_error(path: Path) -> None:
    error = [{"errorCode": "OOM", "error": "out of memory", "debugInfo": None}]
    async with Journal(path) as journal:
        await journal.record_intent(0, MODEL, {"prompt": "a fox"})
        await journal.record_submitted(0, "req-0")
        await journal.record_finished(0, EntryState.FAILED, error=error)
        entry = await journal.get(0)
    assert entry is not None
    assert (entry.state, entry.error) == (EntryState.FAILED, error)


async def test_get_of_an_unknown_index_is_none(path: Path) -> None:
    async with Journal(path) as journal:
        assert await journal.get(5) is None


async def test_entries_come_in_index_order_from_start(path: Path) -> None:
    async with Journal(path) as journal:
        for index in (5, 1, 9, 3):
            await journal.record_intent(index, MODEL, {"prompt": str(index)})
        assert [e.index for e in await journal.entries()] == [1, 3, 5, 9]
        assert [e.index for e in await journal.entries(start=4, limit=1)] == [5]


async def test_entries_filter_by_state(path: Path) -> None:
    async with Journal(path) as journal:
        for index in range(4):
            await journal.record_intent(index, MODEL, {"prompt": str(index)})
        await journal.record_submitted(2, "req-2")
        submitted = await journal.entries(states={EntryState.SUBMITTED})
        assert [e.index for e in submitted] == [2]


async def test_counts_and_max_index_describe_the_batch(path: Path) -> None:
    async with Journal(path) as journal:
        assert await journal.max_index() is None
        for index in range(3):
            await journal.record_intent(index, MODEL, {"prompt": str(index)})
        await journal.record_submitted(0, "req-0")
        assert await journal.max_index() == 2
        assert await journal.counts() == {EntryState.INTENT: 2, EntryState.SUBMITTED: 1}


async def test_an_input_refused_before_submitting_is_recorded_invalid(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_not_created(
            4, MODEL, {"prompt": ""}, EntryState.REFUSED, "prompt: must not be empty"
        )
        entry = await journal.get(4)
    assert entry is not None
    assert (entry.state, entry.attempts, entry.error) == (
        EntryState.REFUSED,
        0,
        "prompt: must not be empty",
    )


# --- Never losing a paid job, never submitting twice silently --------------------------------


async def test_a_new_intent_while_a_job_is_in_flight_is_refused(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        await journal.record_submitted(1, "req-1")
        with pytest.raises(JournalError, match="req-1 in flight"):
            await journal.record_intent(1, MODEL, {"prompt": "a fox"})


async def test_a_resubmit_keeps_the_earlier_request_id(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        await journal.record_submitted(1, "req-a")
        await journal.record_finished(1, EntryState.FAILED, error="boom")
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        await journal.record_submitted(1, "req-b")
        entry = await journal.get(1)
    assert entry is not None
    assert (entry.request_id, entry.attempts, entry.error) == ("req-b", 2, None)
    [earlier] = entry.earlier_attempts
    assert (earlier.attempt, earlier.request_id, earlier.state) == (
        1,
        "req-a",
        EntryState.FAILED,
    )


async def test_an_intent_of_unknown_outcome_is_kept_when_resubmitted(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        entry = await journal.get(1)
    assert entry is not None
    assert entry.attempts == 2
    assert [(e.state, e.request_id) for e in entry.earlier_attempts] == [(EntryState.INTENT, None)]


async def test_a_second_request_id_for_one_attempt_is_refused(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        await journal.record_submitted(1, "req-a")
        with pytest.raises(JournalError, match="req-a"):
            await journal.record_submitted(1, "req-b")


async def test_recording_the_same_request_id_again_changes_nothing(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        await journal.record_submitted(1, "req-a")
        await journal.record_finished(1, JobState.SUCCEEDED)
        await journal.record_submitted(1, "req-a")
        entry = await journal.get(1)
    assert entry is not None
    assert entry.state is EntryState.SUCCEEDED


async def test_a_request_id_without_an_intent_is_refused(path: Path) -> None:
    async with Journal(path) as journal:
        with pytest.raises(JournalError, match="no recorded intent"):
            await journal.record_submitted(1, "req-1")


async def test_finishing_with_a_state_that_is_not_final_is_refused(path: Path) -> None:
    async with Journal(path) as journal:
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})
        with pytest.raises(ValueError, match="running"):
            await journal.record_finished(1, JobState.RUNNING)
        with pytest.raises(ValueError, match="submitted"):
            await journal.record_finished(1, EntryState.SUBMITTED)


async def test_a_naive_timestamp_is_refused(path: Path) -> None:
    async with Journal(path) as journal:
        with pytest.raises(ValueError, match="timezone-aware"):
            await journal.record_intent(1, MODEL, {"prompt": "a"}, at=datetime(2025, 1, 1))


# --- Opening ---------------------------------------------------------------------------------


async def test_open_creates_missing_folders_and_records_the_schema(path: Path) -> None:
    journal = await Journal.open(path)
    await journal.aclose()
    conn = sqlite3.connect(path)
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    conn.close()
    assert meta["schema_version"] == str(JOURNAL_SCHEMA_VERSION)
    assert set(meta) == {"schema_version", "created_at", "library_version"}


async def test_a_journal_from_a_newer_version_is_refused(path: Path) -> None:
    await (await Journal.open(path)).aclose()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(JournalError, match="newer runcomfy-async"):
        await Journal.open(path)


async def test_a_file_that_is_not_a_database_is_refused(path: Path) -> None:
    await anyio.Path(path.parent).mkdir(parents=True)
    await anyio.Path(path).write_bytes(b"this is not sqlite at all, just some bytes" * 100)
    with pytest.raises(JournalError, match="not a runcomfy-async journal"):
        await Journal.open(path)


async def test_an_unrelated_sqlite_database_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.close()
    with pytest.raises(JournalError, match="not a runcomfy-async journal"):
        await Journal.open(path)


async def test_a_journal_open_elsewhere_cannot_be_opened_again(path: Path) -> None:
    async with Journal(path):
        with pytest.raises(JournalError, match="open in another process"):
            await Journal.open(path)
    await (await Journal.open(path)).aclose()


async def test_a_closed_journal_refuses_writes(path: Path) -> None:
    journal = await Journal.open(path)
    await journal.aclose()
    with pytest.raises(JournalError, match="not open"):
        await journal.record_intent(1, MODEL, {"prompt": "a fox"})


def test_journal_error_is_a_runcomfy_error() -> None:
    assert issubclass(JournalError, RunComfyError)


# --- Secrets ---------------------------------------------------------------------------------


async def test_no_column_could_hold_a_token(path: Path) -> None:
    await (await Journal.open(path)).aclose()
    conn = sqlite3.connect(path)
    columns = [
        name.lower()
        for table in ("meta", "items")
        for _, name, *_ in conn.execute(f"PRAGMA table_info({table})")
    ]
    conn.close()
    for word in ("token", "auth", "secret", "bearer", "password", "credential", "api_key"):
        assert not any(word in column for column in columns), (word, columns)


async def test_the_file_never_contains_the_token_or_an_auth_header(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "rc_live_9f2c1d7e5b3a48f6a0e4c2b1d9f8e7a6"
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", token)
    async with Journal(path) as journal:
        for index in range(20):
            await journal.record_intent(index, MODEL, {"prompt": f"a fox {index}"})
            await journal.record_submitted(index, f"req-{index}")
            await journal.record_finished(index, JobState.SUCCEEDED, result={"output": {}})
    data = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.is_file())
    for needle in (token.encode(), b"Authorization", b"Bearer"):
        assert needle not in data


# --- Crash safety ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
async def test_a_killed_writer_leaves_a_consistent_journal(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True)
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CRASH_WRITER),
        str(path),
        str(seed),
        stdout=asyncio.subprocess.PIPE,
    )
    assert writer.stdout is not None
    assert await writer.stdout.readline() == b"ready\n"
    first = await writer.stdout.readline()  # the first acknowledged write: it is running
    await asyncio.sleep(rng.uniform(0.0, 0.3))
    writer.kill()
    acknowledged = {
        int(line.split()[1])
        for line in (first + await writer.stdout.read()).decode().splitlines()
        if line.startswith("S ")
    }
    await writer.wait()

    async with Journal(path) as journal:
        entries = {e.index: e for e in await journal.entries()}
    for index in acknowledged:
        assert entries[index].request_id == f"req-{index}"
    for entry in entries.values():
        assert entry.fingerprint == input_fingerprint(entry.model_id, entry.input)
        if entry.request_id is None:
            assert entry.state is EntryState.INTENT
        else:
            assert (entry.state, entry.request_id) == (
                EntryState.SUBMITTED,
                f"req-{entry.index}",
            )
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
