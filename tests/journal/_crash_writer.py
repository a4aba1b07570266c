"""A journal writer for the crash test: writes intents and request ids until it is killed.

Usage: ``python _crash_writer.py JOURNAL SEED``. Prints ``ready`` once the journal is open,
then ``S <index>`` after each ``record_submitted`` has returned (that is, been committed).
"""

from __future__ import annotations

import asyncio
import random
import sys

from runcomfy_async.store.journal import Journal

MODEL_ID = "ideogram/ideogram-v3/text-to-image"


async def main(path: str, seed: int) -> None:
    rng = random.Random(seed)
    journal = await Journal.open(path)
    print("ready", flush=True)

    async def submit(index: int) -> None:
        payload = {"prompt": f"prompt {index} " + "x" * rng.randrange(0, 2000), "seed": index}
        await journal.record_intent(index, MODEL_ID, payload)
        await asyncio.sleep(rng.random() * 0.002)
        await journal.record_submitted(index, f"req-{index}")
        print(f"S {index}", flush=True)

    index = 0
    while True:
        width = rng.randrange(1, 300)
        await asyncio.gather(*(submit(i) for i in range(index, index + width)))
        index += width


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
