"""The command line's own tunable numbers and names, each named once.

The library's defaults (timeouts, in-flight caps, retries) live in ``runcomfy_async._constants``
and are shown in ``--help`` from there; these are only about what a person sees.
"""

from __future__ import annotations

from typing import Final

# The journal and gallery a batch keeps in its output folder, unless told otherwise.
JOURNAL_FILE_NAME: Final = "journal.sqlite"
GALLERY_FILE_NAME: Final = "index.html"

# An in-process sandbox (--sandbox) runs the models' realistic durations this much faster:
# Ideogram v3 takes about 8 s per image, so a 30-prompt batch on 8 workers takes ~4 s.
SANDBOX_TIME_SCALE: Final = 0.1

# How often the live display is redrawn on a terminal, and a progress line is written
# when stderr is not one (a log file should not fill up with redraws).
LIVE_REFRESH_S: Final = 0.25
PLAIN_PROGRESS_INTERVAL_S: Final = 5.0

# Input problems listed before "... and N more": enough to see a pattern, not a flood.
PROBLEMS_SHOWN: Final = 50
# Request ids listed in a cancel report line.
REQUEST_IDS_SHOWN: Final = 10

# Texts cut to this many characters where they must stay on one line or in one cell.
ERROR_TEXT_CHARS: Final = 300
SCHEMA_DEFAULT_CHARS: Final = 60
