"""The CDN over HTTPS under a RunComfy-like host name, and what a client needs to reach it.

RunComfy's outputs come from ``https://<something>.runcomfy.net``; a client that checks the
scheme or the host of an output URL (the official CLI downloads only from ``*.runcomfy.net``
and ``*.runcomfy.com``) cannot be tested against ``http://127.0.0.1``. With ``cdn_https=True``
the sandbox's CDN serves TLS as ``cdn.sandbox.runcomfy.net`` with a certificate from a test CA
made for the run (the ``trustme`` package, imported only in this mode), and answers output
URLs as ``https://cdn.sandbox.runcomfy.net:PORT/files/...``.

A client reaches it with two things the sandbox hands out: the CA (an `ssl.SSLContext` that
trusts it, or its PEM) and `SandboxResolver`, an aiohttp resolver that maps the sandbox's
host names to 127.0.0.1 and refuses every other name, so that a test using it cannot reach
the internet by mistake::

    connector = aiohttp.TCPConnector(resolver=sb.resolver(), ssl=sb.cdn_ssl_context())
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs
from aiohttp.abc import AbstractResolver

from ._constants import LOOPBACK_HOST
from ._pillow import SandboxDependencyError

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult

# Names that always mean this machine.
LOOPBACK_NAMES = frozenset({"localhost"})


class SandboxResolver(AbstractResolver):
    """Resolves the sandbox's host names (and ``localhost``) to 127.0.0.1; refuses others.

    Args:
        hosts: host name -> IPv4 address (127.0.0.1 for the sandbox's names).
    """

    def __init__(self, hosts: Mapping[str, str]) -> None:
        self._hosts = {name.lower(): address for name, address in hosts.items()}
        self._hosts.update(dict.fromkeys(LOOPBACK_NAMES, LOOPBACK_HOST))

    @property
    def hosts(self) -> Mapping[str, str]:
        """The names it resolves, and to what."""
        return dict(self._hosts)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The one loopback address of a known name; `socket.gaierror` for any other."""
        address = self._hosts.get(host.lower().rstrip("."))
        if address is None:
            # The error a real lookup of an unknown name raises: clients map it to DNS failure.
            raise socket.gaierror(socket.EAI_NONAME, f"the sandbox resolves no {host!r}")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        """Nothing to release."""


@attrs.frozen
class CdnTls:
    """The test CA of one run and the CDN's certificate from it.

    Args:
        host: the name the certificate is for (also valid for 127.0.0.1 and localhost).
        ca_pem: the CA certificate, PEM.
        server_context: the CDN's server-side context.
    """

    host: str
    ca_pem: bytes = attrs.field(repr=False)
    server_context: ssl.SSLContext = attrs.field(repr=False)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the CA (and nothing else), host names checked."""
        context = ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
        return context


def make_cdn_tls(host: str, also: Iterable[str] = (LOOPBACK_HOST, "localhost")) -> CdnTls:
    """A fresh CA and a certificate for `host` (and `also`), or `SandboxDependencyError`."""
    try:
        import trustme
    except ImportError:
        raise SandboxDependencyError(
            "the sandbox's HTTPS CDN makes its certificates with trustme, which is not "
            "installed: pip install trustme"
        ) from None
    authority = trustme.CA()
    certificate = authority.issue_cert(host, *also)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    return CdnTls(host=host, ca_pem=authority.cert_pem.bytes(), server_context=server_context)
