"""The journal's file: its tables, the check of its version, and opening and locking it.

Durability: the file is in WAL mode with ``synchronous=NORMAL``. A COMMIT then writes the
transaction to the WAL with ``write()`` but does not ``fsync`` it; the WAL is synced at
checkpoints. A process crash (SIGKILL, OOM kill, an unhandled exception) cannot lose a
committed transaction, because the data is already in the operating system's page cache and
the kernel writes it out. Only a power loss or kernel crash can lose the last few commits,
and even then the file stays consistent (it rolls back to an earlier commit, never a torn
row). ``synchronous=FULL`` would add an fsync per commit for that case; with group commit
that would be affordable, but the batch's real failure mode is a killed process.

One process at a time: the journal holds an exclusive OS lock on ``<journal>.lock`` while it
is open, so that two runs resuming the same batch cannot both submit its missing jobs. The
lock dies with the process, so a killed run never leaves it stale.

A file written by a newer version of the library (a higher schema version) is refused rather
than misread; so is one from an earlier alpha whose states this version does not know.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Final

from ..._constants import JOURNAL_BUSY_TIMEOUT_MS
from ..._version import __version__
from ...core._errors import JournalError

__all__ = ["JOURNAL_LOCK_SUFFIX", "JOURNAL_SCHEMA_VERSION", "connect", "database_error", "lock"]

# The layout of the file. Bump it (and teach ``_check_schema`` to migrate) when tables change.
JOURNAL_SCHEMA_VERSION: Final = 2
# The lock file that keeps a second process (or a second Journal) off the same journal.
JOURNAL_LOCK_SUFFIX: Final = ".lock"

_SCHEMA: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE items (
        input_index INTEGER PRIMARY KEY,
        model_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        input_json TEXT NOT NULL,
        state TEXT NOT NULL,
        request_id TEXT,
        attempts INTEGER NOT NULL,
        created_at REAL NOT NULL,
        submitted_at REAL,
        finished_at REAL,
        detected_at REAL,
        result_json TEXT,
        error_json TEXT,
        files_json TEXT NOT NULL DEFAULT '[]',
        earlier_json TEXT NOT NULL DEFAULT '[]'
    )""",
)


def lock(path: Path) -> IO[bytes]:
    """An exclusive, non-blocking OS lock on the journal's lock file, held while open."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + JOURNAL_LOCK_SUFFIX), "a+b")  # noqa: SIM115
    except OSError as exc:
        raise JournalError(f"cannot create journal {path}: {exc}") from None
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JournalError(
            f"journal {path} is open in another process (or another Journal object); two "
            "runs of one batch could submit the same jobs twice"
        ) from None
    return handle


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the journal at ``path``, in WAL mode, its tables created or checked."""
    # isolation_level=None: transactions are begun and committed explicitly, by the batch.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(
                f"journal {path}: SQLite cannot use WAL mode here (got {mode!r}); put the "
                "journal on a local disk"
            )
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={JOURNAL_BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN IMMEDIATE")
        _check_schema(conn, path)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.close()
        raise database_error(path, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("schema_version", str(JOURNAL_SCHEMA_VERSION)),
                ("created_at", datetime.now(timezone.utc).isoformat()),
                ("library_version", __version__),
            ],
        )
        return
    if not {"meta", "items"} <= tables:
        raise JournalError(f"{path} is an SQLite file but not a runcomfy-async journal")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        raise JournalError(f"journal {path} has no readable schema version") from None
    if version > JOURNAL_SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} was written by a newer runcomfy-async (schema {version}; this "
            f"version reads schema {JOURNAL_SCHEMA_VERSION}); upgrade runcomfy-async"
        )
    if version < JOURNAL_SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} has schema {version}, from an earlier alpha of runcomfy-async "
            "whose states this version does not read; finish that batch with the version "
            "that began it, or start a new journal"
        )


def database_error(path: Path, exc: Exception) -> JournalError:
    """The JournalError for an SQLite failure on the journal at ``path``."""
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return JournalError(f"{path} is not a runcomfy-async journal, or is corrupt: {exc}")
    return JournalError(f"journal {path}: {type(exc).__name__}: {exc}")
