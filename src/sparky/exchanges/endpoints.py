"""Where a tenant's own credentials may send requests: the venue's official hosts, and nowhere else.

A `bot_credentials` row on Supabase is written by its user through the dashboard. A base URL there
(`apiUrl`, `baseUrl`) would let that user point Sparky at any address the server can reach — a
cloud metadata service, an admin page on loopback — with headers and a path they chose, and read
what came back in the webhook's answer. So a tenant's base URL may only pick one of the hosts the
venue publishes for its API (live, practice/sandbox, testnet, demo): `https://`, the default port,
no user name, query or fragment. Anything else is refused before an adapter exists, so no request
is made.

The operator's own settings are trusted as given (proxies, test servers): config.json sections and,
on the embedded SQLite store, the rows `sparky users credentials --api-url` writes.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from sparky.errors import BadRequest
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import vendor_words
from sparky.exchanges.factory import official_hosts

#: a URL path of plain segments (`/v1`): no dot segments, escapes or parameters
_PATH = re.compile(r"(/[A-Za-z0-9_~-]+(\.[A-Za-z0-9_~-]+)*)*/?")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\?#]")


class BaseUrlRefused(BadRequest):
    """A tenant's stored base URL is not one of the venue's official hosts; nothing was sent."""

    def __init__(self, exchange: str, url: Any, reason: str, hosts: frozenset[str]) -> None:
        listed = ", ".join(f"https://{host}" for host in sorted(hosts)) or "none"
        super().__init__(
            f"The apiUrl stored with your {exchange} credentials ({vendor_words(url, 80)}) is refused: {reason}; "
            "nothing was sent",
            field="exchange",
            hint=f"Remove apiUrl from your {exchange} credentials in SignalStudio → Settings → Bot Credentials, "
                 f"or set it to one of {exchange}'s official hosts: {listed}",
        )


def official_base_url(exchange: str, url: Any) -> str:
    """`url` when it names one of `exchange`'s official hosts (as `https://host[/path]`), else
    BaseUrlRefused."""
    hosts = official_hosts(exchange)
    if not isinstance(url, str):
        raise BaseUrlRefused(exchange, url, "it is not a URL", hosts)
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BaseUrlRefused(exchange, url, "it is not a URL", hosts) from None
    if parts.hostname not in hosts:
        raise BaseUrlRefused(exchange, url, f"{vendor_words(parts.hostname or 'no host', 60)} is not one of "
                                            f"{exchange}'s official hosts", hosts)
    if parts.scheme != "https":  # the keys would cross the network in clear text
        raise BaseUrlRefused(exchange, url, "it must start with https://", hosts)
    if parts.username is not None or parts.password is not None or port not in (None, 443):
        raise BaseUrlRefused(exchange, url, "it may name only a host, without a user or a port", hosts)
    # urlsplit drops tabs and line breaks and keeps backslashes: the text itself must be plain
    if _UNSAFE.search(text) or parts.query or parts.fragment or not _PATH.fullmatch(parts.path):
        raise BaseUrlRefused(exchange, url, "it may hold only a host and a plain path", hosts)
    return f"https://{parts.hostname}{parts.path}".rstrip("/")


def tenant_credentials(credentials: VenueCredentials) -> VenueCredentials:
    """A tenant's credentials with their base URL checked (see the module docstring)."""
    if credentials.base_url is None:
        return credentials
    return replace(credentials, base_url=official_base_url(credentials.exchange, credentials.base_url))
