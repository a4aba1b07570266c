"""The durable batch journal (see :mod:`._journal` for what it promises).

- :mod:`._journal`: the :class:`Journal` API, what the batch calls.
- :mod:`._transitions`: what each write does to an input's row, and what it refuses.
- :mod:`._rows`: the entries the journal hands out, and how a row becomes one.
- :mod:`._writer`: the one thread that owns the file, and group commit.
- :mod:`._schema`: the tables, their version check, opening and locking the file.
"""

from __future__ import annotations

from ...core._errors import JournalError
from ._journal import Journal
from ._rows import JournalEntry, PastAttempt
from ._schema import JOURNAL_SCHEMA_VERSION

__all__ = ["JOURNAL_SCHEMA_VERSION", "Journal", "JournalEntry", "JournalError", "PastAttempt"]
