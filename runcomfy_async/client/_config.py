"""Where the client's configuration comes from: the token and the base URL.

Both may come from an argument or from the environment, and both are checked before any
request: a token must never travel in clear text to a host that is not this machine.
"""

from __future__ import annotations

import os

from yarl import URL

from .._constants import BASE_URL_ENV, DEFAULT_BASE_URL, TOKEN_ENVS
from ..core._errors import ConfigurationError
from ..core._net import is_loopback

__all__ = ["resolve_base_url", "resolve_token"]


def resolve_token(api_token: str | None) -> str:
    """The token: the argument, else the first of the environment variables that is set."""
    if api_token is not None:
        if not isinstance(api_token, str) or not api_token.strip():
            raise ConfigurationError("api_token must be a non-empty string")
        return api_token.strip()
    for name in TOKEN_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise ConfigurationError(
        "no RunComfy API token: pass api_token=... or set one of "
        + ", ".join(TOKEN_ENVS)
        + " (looked at, in that order; all unset or empty)"
    )


def resolve_base_url(base_url: str | None, *, allow_insecure_http: bool = False) -> URL:
    """The API base URL: the argument, else ``RUNCOMFY_MODEL_API_BASE``, else RunComfy's.

    Plain ``http://`` is refused for hosts other than loopback, because the token would
    cross the network in clear text; ``allow_insecure_http=True`` lifts that.
    """
    text = base_url or os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    try:
        url = URL(text)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"base_url {text!r} is not a URL: {exc}") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ConfigurationError(
            f"base_url {text!r} must be an absolute http(s) URL such as {DEFAULT_BASE_URL}"
        )
    if url.user or url.password or url.query_string or url.fragment:
        raise ConfigurationError(
            "base_url must not carry credentials, a query or a fragment; "
            "the token goes in api_token or RUNCOMFY_API_TOKEN"
        )
    if url.scheme == "http" and not is_loopback(url.host) and not allow_insecure_http:
        raise ConfigurationError(
            f"refusing plain-http base_url for non-loopback host {url.host!r}: the token would "
            "travel unencrypted. Use https, or pass allow_insecure_http=True if you know why."
        )
    return url.with_path(url.path.rstrip("/") or "/")
