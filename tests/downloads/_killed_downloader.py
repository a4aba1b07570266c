"""A downloader for the kill test: downloads one URL into a folder until it is killed.

Usage: ``python _killed_downloader.py OUT_DIR URL ORIGIN``.
"""

from __future__ import annotations

import asyncio
import sys

from runcomfy_async.store.downloads import Downloader


async def main(out_dir: str, url: str, origin: str) -> None:
    async with Downloader(out_dir, allowed_hosts=(), allowed_origins=[origin]) as downloader:
        await downloader.download(7, "a fox", [url])


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
