"""``python -m runcomfy_async``: the command line (see :mod:`runcomfy_async.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(program=(sys.executable, "-m", "runcomfy_async")))
