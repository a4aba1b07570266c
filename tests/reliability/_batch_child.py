"""A batch run in a child process, for the crash tests: it is SIGKILLed at a random instant.

Usage::

    python _batch_child.py BASE_URL CDN_ORIGIN JOURNAL OUT_DIR MODEL COUNT PREFIX [--resubmit]

The token comes from ``RUNCOMFY_API_TOKEN`` (never from the command line, which ``ps`` shows).
The child prints ``started`` once the batch is open (journal and download folder ready) and
``done`` when every outcome has been received; the test kills it somewhere in between.
"""

from __future__ import annotations

import asyncio
import sys

from runcomfy_async import AsyncRunComfy, RetryPolicy

# The inputs must be the test's: the same builder, imported without the test package.
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _inputs import make_inputs


async def main(argv: list[str]) -> None:
    base_url, cdn, journal, out, model, count, prefix = argv[:7]
    resubmit = "--resubmit" in argv[7:]
    retry = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=8, retry_after_cap=1.0)
    client = AsyncRunComfy(base_url=base_url, retry=retry, read_timeout=0.5)
    async with client, client.map(
        model, make_inputs(int(count), prefix), journal=journal, download_to=out,
        download_origins=[cdn], max_in_flight=16, resubmit_unknown=resubmit,
    ) as outcomes:
        print("started", flush=True)
        async for _ in outcomes:
            pass
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
