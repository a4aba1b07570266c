"""Timeouts named for what they measure (as httpx's ``Timeout`` is).

aiohttp's own ``connect`` timeout would also time the wait for a pooled connection; this
project keeps that wait outside every timer (a request that never got a connection was
certainly not sent), so only ``sock_connect`` is set for it. ``read`` and ``total`` are
timed by the transport's sweep (:mod:`._watchdog`).
"""

from __future__ import annotations

import aiohttp
import attrs

from .._constants import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, TOTAL_TIMEOUT_S
from ..core._validate import seconds_or_none

__all__ = ["Timeouts"]


@attrs.frozen(kw_only=True)
class Timeouts:
    """How long one HTTP attempt may take, each number measuring one thing.

    Args:
        connect: seconds to open a TCP (and TLS) connection.
        read: seconds between two reads of the answer once the request is sent (a server
            that stops answering); uploading a large body is not limited by it.
        total: seconds for the whole attempt, upload included; None for no such limit.
            A caller's deadline (``wait(timeout=...)``) also bounds every attempt but a
            submit's, which is shielded and ends by ``total``.
    """

    connect: float = attrs.field(default=CONNECT_TIMEOUT_S, validator=seconds_or_none)
    read: float = attrs.field(default=READ_TIMEOUT_S, validator=seconds_or_none)
    total: float | None = attrs.field(default=TOTAL_TIMEOUT_S, validator=seconds_or_none)

    def for_aiohttp(self, *, time_reads: bool = False) -> aiohttp.ClientTimeout:
        """What aiohttp times itself: opening a connection, and (``time_reads``) the reads
        of an answer to a large upload. Everything else is timed by the transport's one
        sweep (:mod:`._watchdog`), not by a loop timer per request."""
        return aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=self.connect,
            sock_read=self.read if time_reads else None,
        )
