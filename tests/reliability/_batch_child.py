"""A batch run in a child process, for the crash tests: it is SIGKILLed at a random instant.

Usage::

    python _batch_child.py BASE_URL CDN_ORIGIN JOURNAL OUT_DIR MODEL COUNT PREFIX [--resubmit]

The token comes from ``RUNCOMFY_API_TOKEN`` (never from the command line, which ``ps`` shows).
The child prints ``started`` once the batch is open (journal and download folder ready) and
``done`` when every outcome has been received; the test kills it somewhere in between.

With ``RUNCOMFY_TEST_KILL_AT=POINT:N`` the child instead kills itself (SIGKILL) the N-th
time it reaches POINT, for the instants a random kill rarely hits exactly (the eight points
of ``test_kill_points.POINTS``):

- ``after_record_<write>``: right after the journal's ``record_<write>`` committed, for each
  of its five state transitions: ``after_record_intent`` (the submit is about to go out),
  ``after_record_submitted``, ``after_record_finished``, ``after_record_not_created`` and
  ``after_record_files``;
- ``before_submitted_write``: a submit's answer (the request id) arrived, not yet journaled;
- ``after_poll_answer``: a poll's answer arrived, not yet acted on;
- ``mid_download``: a file is fully written under its temporary name, not yet renamed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from runcomfy_async import AsyncRunComfy, RetryPolicy

# The inputs must be the test's: the same builder, imported without the test package.
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _inputs import make_inputs


def install_kill_point(spec: str) -> None:
    """Make this process SIGKILL itself the N-th time it reaches the named point."""
    from runcomfy_async.api._api import Api
    from runcomfy_async.store.downloads import _folder as _downloads
    from runcomfy_async.store.journal import Journal

    point, nth = spec.split(":")
    reached = [0]

    def hit() -> None:
        reached[0] += 1
        if reached[0] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)

    if point.startswith("after_record_"):
        # After the N-th committed write of one kind: every journal state transition.
        name = point.removeprefix("after_")
        write = getattr(Journal, name)

        async def write_then_die(self: Journal, *args: Any, **kwargs: Any) -> Any:
            answer = await write(self, *args, **kwargs)
            hit()
            return answer

        setattr(Journal, name, write_then_die)
    elif point == "before_submitted_write":
        record_submitted = Journal.record_submitted

        async def die_then_record(self: Journal, *args: Any, **kwargs: Any) -> None:
            hit()
            await record_submitted(self, *args, **kwargs)

        Journal.record_submitted = die_then_record  # type: ignore[method-assign]
    elif point == "after_poll_answer":
        result = Api.result

        async def answer_then_die(self: Api, *args: Any, **kwargs: Any) -> Any:
            answer = await result(self, *args, **kwargs)
            hit()
            return answer

        Api.result = answer_then_die  # type: ignore[method-assign]
    elif point == "mid_download":
        publish = _downloads._publish

        def die_before_rename(*args: Any) -> Any:
            hit()
            return publish(*args)

        _downloads._publish = die_before_rename
    else:
        raise SystemExit(f"unknown kill point {point!r}")


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
    if os.environ.get("RUNCOMFY_TEST_KILL_AT"):
        install_kill_point(os.environ["RUNCOMFY_TEST_KILL_AT"])
    asyncio.run(main(sys.argv[1:]))
