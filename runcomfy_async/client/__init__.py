"""The client: ``AsyncRunComfy``, its synchronous twin ``RunComfy``, and where their
configuration comes from."""

from ._client import AsyncRunComfy
from ._config import resolve_base_url, resolve_token
from ._sync import RunComfy

__all__ = ["AsyncRunComfy", "RunComfy", "resolve_base_url", "resolve_token"]
