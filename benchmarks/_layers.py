"""The throughput benchmark's jobs, stopped at each layer of the library, for §1b.

``client.map`` stacks three layers on aiohttp: the transport (one request, its timeouts and
the reading of its answer: ``http/``), the API (a submit's shield and witness, retry
policy, parsing answers into typed results: ``api/``, ``core/_parse.py``), and the batch
engine (slots, rate, planner, journal hooks, outcomes: ``batch/``). Each loop here does
the same two requests per job as the aiohttp loop and ``client.map``, through the library
down to one layer only, so that the differences of their instruction counts say where
client.map's instructions go: transport − aiohttp loop, API − transport, client.map − API.

They reach into the client's private parts (``client._api``): a measuring tool, not a way
to use the library.
"""

from __future__ import annotations

import asyncio

from runcomfy_async import RetryPolicy
from runcomfy_async.api._api import Shield
from runcomfy_async.http._transport import encode_body

from ._harness import ZERO_MODEL, prompts
from .throughput import Server, Variant, _client

TRANSPORT, API = "transport loop", "API loop"

_ONE_ATTEMPT = RetryPolicy.never()


async def _transport_loop(
    server: Server, n: int, c: int, marks: list[float], *, slow: bool = False
) -> int:
    """Per job: encode the input, POST it, GET its result once, through the transport."""
    jobs = iter(prompts(n))
    failures = 0
    async with _client(server, c, slow=slow) as client:
        transport = client._api.transport
        path = f"/models/{ZERO_MODEL}"
        url = transport.url_for(path)

        async def worker() -> None:
            nonlocal failures
            for payload in jobs:
                data = encode_body(payload, model_id=ZERO_MODEL)
                async with transport.connection():
                    job = await transport.attempt("POST", url, path, data,
                                                  model_id=ZERO_MODEL)
                rid = job["request_id"]
                result_path = f"/requests/{rid}/result"
                async with transport.connection():
                    result = await transport.attempt(
                        "GET", transport.url_for(result_path), result_path, None,
                        request_id=rid,
                    )
                if result.get("status") != "succeeded":
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(c)))
    return failures


async def _api_loop(
    server: Server, n: int, c: int, marks: list[float], *, slow: bool = False
) -> int:
    """Per job: a submit and one result poll through the API layer, as a batch makes them
    (the batch's shield, a one-attempt poll)."""
    jobs = iter(prompts(n))
    failures = 0
    async with _client(server, c, slow=slow) as client:
        api = client._api

        async def worker() -> None:
            nonlocal failures
            for payload in jobs:
                job = await api.submit(ZERO_MODEL, payload, shield=Shield.SCOPE)
                result = await api.result(job.request_id, policy=_ONE_ATTEMPT)
                if not result.ok:
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(c)))
    return failures


LAYERS: dict[str, Variant] = {TRANSPORT: _transport_loop, API: _api_loop}
