"""``python -m runcomfy_async.sandbox``: serve a sandbox standalone (see `_standalone`)."""

from __future__ import annotations

import sys

from ._standalone import serve_main

if __name__ == "__main__":
    sys.exit(serve_main(prog="python -m runcomfy_async.sandbox"))
