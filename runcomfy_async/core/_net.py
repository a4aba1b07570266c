"""Which hosts are this machine: one answer for the client's base URL and for downloads."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` names and loopback addresses, IPv4-mapped ones included.

    ``::ffff:127.0.0.1`` is 127.0.0.1 reached over IPv6; Python 3.13 calls it loopback and
    earlier versions do not, so the mapping is unwrapped here to answer the same everywhere.
    """
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
