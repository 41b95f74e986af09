"""No test reaches the internet: a host name other than the machine's own does not resolve.

A venue adapter built in a test without a respx mock (its warm-up, say) would otherwise send a
real request to the venue's public host. Resolution is where every such request starts (aiohttp
and httpx resolve through `socket.getaddrinfo`), so a name is refused here, for the whole session,
as a network without DNS would refuse it; addresses (the loopback servers tests start) and
`localhost` pass.
"""

from __future__ import annotations

import ipaddress
import socket

LOCAL = {"localhost", "", None}

_getaddrinfo = socket.getaddrinfo


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


def _local_only(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name not in LOCAL and not _is_address(str(name)):  # an address needs no name server
        raise socket.gaierror(socket.EAI_NONAME, f"tests never reach the internet (asked for {name})")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _local_only
