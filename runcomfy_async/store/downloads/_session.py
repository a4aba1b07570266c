"""The downloader's HTTP session: one that cannot carry a credential.

The downloader owns its own ``aiohttp.ClientSession``, separate from the API client's: no
Authorization header, no cookie jar (cookies are dropped), no ``.netrc``
(``trust_env=False``). The token cannot reach a CDN because this session never had it. A
session passed in is checked for the same properties.
"""

from __future__ import annotations

import ssl as ssl_
from typing import Final

import aiohttp
import aiohttp.abc

from ..._constants import CONNECT_TIMEOUT_S, READ_TIMEOUT_S
from ..._version import __version__
from ...core._errors import ConfigurationError

__all__ = ["check_session", "new_session"]

# Headers that would carry a credential; a session given to the downloader must not set them.
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})


def new_session(
    *, resolver: aiohttp.abc.AbstractResolver | None = None, ssl: ssl_.SSLContext | None = None
) -> aiohttp.ClientSession:
    """A session with no credential, no cookie jar and no environment settings.

    Args:
        resolver: how host names are resolved (a sandbox maps its CDN's name to loopback).
        ssl: the TLS context for https (a sandbox's test CA); the system's when None.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=resolver, ssl=ssl if ssl is not None else True),
        timeout=aiohttp.ClientTimeout(
            total=None, connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        headers={"User-Agent": f"runcomfy-async/{__version__}"},
    )


def check_session(session: aiohttp.ClientSession) -> None:
    """Refuse (ConfigurationError) a session that could send a credential."""
    headers = {name.lower() for name in session.headers}
    if headers & _CREDENTIAL_HEADERS:
        raise ConfigurationError(
            "the download session sets a credential header; output files must be fetched "
            "without credentials (don't pass the API client's session)"
        )
    if session.auth is not None:
        raise ConfigurationError("the download session has auth; it must have none")
    if session.trust_env:
        raise ConfigurationError(
            "the download session has trust_env=True, which sends ~/.netrc credentials; "
            "create it with trust_env=False"
        )
    if not isinstance(session.cookie_jar, aiohttp.DummyCookieJar):
        raise ConfigurationError(
            "the download session keeps cookies; create it with cookie_jar=aiohttp.DummyCookieJar()"
        )
