"""The client: ``AsyncRunComfy`` and where its configuration comes from."""

from ._client import AsyncRunComfy
from ._config import resolve_base_url, resolve_token

__all__ = ["AsyncRunComfy", "resolve_base_url", "resolve_token"]
