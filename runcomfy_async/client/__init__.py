"""The client: ``AsyncRunComfy``, its synchronous twin ``RunComfy``, and where their
configuration comes from.

The names are imported on first use (PEP 562): ``RunComfy`` brings the batch engine and a
blocking portal with it, which an async client for single calls never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._client import AsyncRunComfy
    from ._config import resolve_base_url, resolve_token
    from ._sync import RunComfy

_HOMES: Final = {
    "AsyncRunComfy": "._client",
    "RunComfy": "._sync",
    "resolve_base_url": "._config",
    "resolve_token": "._config",
}

__all__ = ["AsyncRunComfy", "RunComfy", "resolve_base_url", "resolve_token"]

__getattr__, __dir__ = lazy_names(__name__, _HOMES, __all__)
