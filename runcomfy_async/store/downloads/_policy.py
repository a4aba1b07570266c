"""Which output URLs the downloader may fetch: only allowed places.

Output URLs come from the server's answer, so they are untrusted. ``https`` only (plain
``http`` only to loopback, for the sandbox), only hosts under the allowed suffixes
(``runcomfy.net`` allows ``cdn.runcomfy.net``, never ``evilruncomfy.net``) or exactly the
allowed origins, no ``user:password@`` URLs. Every URL is checked before any connection or
DNS lookup, and every redirect hop is checked by the same rules.

The rules guard what is *fetched*. A file already on disk with its recorded size and hash is
not fetched, so they are not asked about its URL (see :meth:`.Downloader.download`).
"""

from __future__ import annotations

from collections.abc import Sequence

from yarl import URL

from ...core._errors import ConfigurationError, DownloadError
from ...core._net import is_loopback
from ...core._text import redact_url

__all__ = ["UrlPolicy"]


class UrlPolicy:
    """The hosts and origins output files may be fetched from.

    Args:
        allowed_hosts: host suffixes to download from over https: ``runcomfy.net`` allows
            ``runcomfy.net`` and ``*.runcomfy.net``.
        allowed_origins: exact ``scheme://host:port`` origins also allowed (the sandbox's
            file server on loopback, for instance).

    Raises:
        ConfigurationError: a host is not a host name, or an origin is not an origin.
    """

    def __init__(self, allowed_hosts: Sequence[str], allowed_origins: Sequence[str]) -> None:
        self._hosts = tuple(_host_suffix(host) for host in allowed_hosts)
        self._origins = frozenset(_origin(origin) for origin in allowed_origins)

    def check(self, url: str | URL, *, reported: str, index: int, redirect: bool = False) -> URL:
        """``url`` parsed, if the rules allow fetching it.

        Args:
            url: the URL, or a redirect's target.
            reported: the output URL to name in the error (the one the server gave).
            index: the input's position in the batch, for the error.
            redirect: whether ``url`` is a redirect's target (the error then says so).

        Raises:
            DownloadError: the rules refuse it.
        """
        what = f"redirect to {redact_url(str(url))}" if redirect else "URL"

        def refuse(reason: str) -> DownloadError:
            return DownloadError(reported, f"{what} refused: {reason}", index=index)

        try:
            parsed = url if isinstance(url, URL) else URL(url)
        except (ValueError, TypeError):
            raise refuse("not a valid URL") from None
        scheme = parsed.scheme.lower()
        if scheme not in ("https", "http"):
            raise refuse("only https URLs are downloaded")
        if not parsed.raw_host:
            raise refuse("no host")
        if parsed.raw_user is not None or parsed.raw_password is not None:
            raise refuse("URLs carrying credentials are not fetched")
        host = parsed.raw_host.lower().rstrip(".")
        if scheme == "http" and not is_loopback(host):
            raise refuse("plain http is only allowed to loopback hosts")
        if (scheme, host, parsed.port) in self._origins:
            return parsed
        if any(host == suffix or host.endswith("." + suffix) for suffix in self._hosts):
            return parsed
        raise refuse(f"host {host} is not an allowed download host")


def _host_suffix(text: str) -> str:
    host = text.strip().lower().strip(".")
    if not host or any(c in host for c in "/:@?#* "):
        raise ConfigurationError(
            f"allowed_hosts takes host names like 'runcomfy.net', got {text!r}"
        )
    return host


def _origin(text: str) -> tuple[str, str, int | None]:
    try:
        url = URL(text)
    except (ValueError, TypeError):
        url = None
    if (
        url is None
        or url.scheme.lower() not in ("http", "https")
        or not url.raw_host
        or url.path not in ("", "/")
        or url.query_string
        or url.fragment
        or url.raw_user is not None
    ):
        raise ConfigurationError(
            f"allowed_origins takes origins like 'http://127.0.0.1:8080', got {text!r}"
        )
    return url.scheme.lower(), url.raw_host.lower().rstrip("."), url.port
