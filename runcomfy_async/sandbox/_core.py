"""The state one sandbox shares between its API, its CDN and its queue.

It lives on the sandbox's event loop; nothing here is thread-safe (`ThreadedSandbox` hops onto
the loop before touching it).

Billing: a job is billed when it succeeds (failed and cancelled jobs cost nothing; RunComfy
documents no charge for them), by its model's catalog price: per output file, or per model
second of its drawn run time. The spend is kept per token, the sandbox's stand-in for an
account. With a balance, a submit from a token whose spend has reached it is refused with
insufficient balance; jobs already accepted still run, so a burst of submits can overshoot
the balance, as it can at any service that bills after the fact.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import aiohttp

from ._catalog import ModelRegistry, RegisteredModel
from ._constants import (
    FILES_PREFIX,
    INPUT_FETCH_TIMEOUT_S,
    LOOPBACK_HOST,
    LOOPBACK_HOSTS,
    MAX_INPUT_IMAGE_BYTES,
)
from ._faults import FaultDice
from ._http import insufficient_balance
from ._images import ImageFetchError, ImageInput
from ._jobs import Job, JobQueue, draw_fate
from ._options import SandboxOptions
from ._render import Drawing
from ._stats import JobRecord, SandboxStats
from ._tls import CdnTls, SandboxResolver
from ._tokens import TokenBook

_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode


class SandboxCore:
    """Jobs, tokens, models, faults and stats of one running sandbox.

    Args:
        options: the sandbox's settings; replace ``core.options`` to change faults, failure
            rate or balance at run time (the queue keeps the workers and retention it was
            built with).
        tokens: the tokens the API accepts.
        registry: the served models.
        loop: the loop the sandbox runs on.
        id_salt: mixed into every request id (0 when a seed was asked for).
        cdn_tls: the CDN's certificate when it serves HTTPS, else None.
    """

    def __init__(
        self,
        options: SandboxOptions,
        *,
        tokens: TokenBook,
        registry: ModelRegistry,
        loop: asyncio.AbstractEventLoop,
        id_salt: int = 0,
        cdn_tls: CdnTls | None = None,
    ) -> None:
        self.options = options
        self.id_salt = id_salt
        self.cdn_tls = cdn_tls
        # The ledger the balance is checked against; stats only mirror it (and can be reset).
        self.spent: dict[str, float] = {}
        self.fetchable_hosts = (
            LOOPBACK_HOSTS if cdn_tls is None else LOOPBACK_HOSTS | {cdn_tls.host}
        )
        self.tokens = tokens
        self.registry = registry
        self.dice = FaultDice(options.draw_seed)
        self.stats = SandboxStats()
        self.loop = loop
        # Wall-clock timestamps are derived from the loop clock so that a job's ISO times and
        # its durations agree exactly.
        self._wall_epoch = time.time()
        self.queue = JobQueue(
            workers=options.workers,
            retention_s=options.retention_s,
            loop=loop,
            epoch=loop.time(),
            on_end=self._bill,
        )
        self.api_base = ""
        self.cdn_base = ""
        self._submissions = 0
        self._fetch_session: aiohttp.ClientSession | None = None

    def create_job(
        self,
        owner: str,
        model: RegisteredModel,
        inputs: Mapping[str, Any],
        images: Mapping[str, ImageInput],
    ) -> Job:
        """Create, count and queue a job for an accepted submission."""
        index = self._submissions
        self._submissions += 1
        key = _canonical(inputs)
        options = self.options
        fate = draw_fate(
            options.draw_seed,
            index,
            model.spec,
            id_salt=self.id_salt,
            failure_rate=options.failure_rate,
        )
        record = JobRecord(
            index=index,
            request_id=fate.request_id,
            model_id=model.spec.model_id,
            duration_s=fate.duration_s,
            time_scale=options.time_scale,
            submitted_s=self.queue.now(),
            input_key=key,
        )
        job = Job(
            owner=owner,
            model=model,
            inputs=inputs,
            images=images,
            fate=fate,
            scaled_s=fate.duration_s * options.time_scale,
            record=record,
        )
        stats = self.stats
        stats.jobs_created += 1
        stats.submissions_by_input[key] += 1
        stats.jobs.append(record)
        self.queue.add(job)
        return job

    def check_balance(self, owner: str) -> None:
        """Raise the insufficient-balance error if `owner` has spent its balance."""
        balance = self.options.balance_usd
        if balance is not None and self.spent.get(owner, 0.0) >= balance:
            raise insufficient_balance(balance)

    def _bill(self, job: Job) -> None:
        """Bill a job that just ended (only a succeeded one costs anything)."""
        if job.state != "succeeded":
            return
        cost = job.model.spec.cost_usd(job.fate.duration_s)
        job.record.cost_usd = cost
        owner = job.owner
        self.spent[owner] = self.spent.get(owner, 0.0) + cost
        stats = self.stats
        stats.spend_usd += cost
        stats.spend_by_token[owner] = stats.spend_by_token.get(owner, 0.0) + cost

    def iso(self, sandbox_s: float) -> str:
        """A sandbox-clock time as ISO-8601 with its UTC offset."""
        return datetime.fromtimestamp(self._wall_epoch + sandbox_s, timezone.utc).isoformat()

    def output(self, job: Job) -> dict[str, Any]:
        """The ``output`` object of a succeeded job: its file URLs on the CDN."""
        spec = job.model.spec
        base = f"{self.cdn_base}{FILES_PREFIX}/{job.request_id}"
        if spec.output_kind == "video":
            return {"video": f"{base}/0.mp4"}
        if spec.output_kind == "image":
            return {"image": f"{base}/0.png"}
        return {"images": [f"{base}/{n}.png" for n in range(spec.images_per_job)]}

    def drawing(self, job: Job, index: int) -> Drawing:
        """What to draw for file `index` of `job`."""
        spec = job.model.spec
        properties = spec.input_schema.get("properties") or {}
        aspect = properties.get("aspect_ratio")
        return Drawing(
            render=spec.render,
            model_id=spec.model_id,
            request_id=job.request_id,
            index=index,
            inputs=job.inputs,
            sizes=spec.sizes,
            default_aspect_ratio=aspect.get("default") if isinstance(aspect, Mapping) else None,
            seed=job.fate.render_seed,
            image=job.images.get("image"),
            mask=job.images.get("mask"),
        )

    async def fetch(self, url: str) -> bytes:
        """GET a loopback image URL for an input, as RunComfy would fetch a public one."""
        if self._fetch_session is None:
            connector = None
            if self.cdn_tls is not None:
                # Outputs fed back as inputs point at the HTTPS CDN's name: reach it as a
                # client would.
                connector = aiohttp.TCPConnector(
                    resolver=SandboxResolver({self.cdn_tls.host: LOOPBACK_HOST}),
                    ssl=self.cdn_tls.client_context(),
                )
            self._fetch_session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=INPUT_FETCH_TIMEOUT_S)
            )
        try:
            # No redirects: the sandbox must not be led off loopback.
            async with self._fetch_session.get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise ImageFetchError(f"HTTP {response.status}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                    if size > MAX_INPUT_IMAGE_BYTES:
                        raise ImageFetchError(f"larger than {MAX_INPUT_IMAGE_BYTES} bytes")
                    chunks.append(chunk)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ImageFetchError(str(exc) or type(exc).__name__) from exc
        return b"".join(chunks)

    async def close(self) -> None:
        """Stop the jobs' timers and close the fetching session."""
        self.queue.close()
        if self._fetch_session is not None:
            await self._fetch_session.close()
            self._fetch_session = None
