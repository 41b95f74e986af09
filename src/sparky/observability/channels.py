"""Notification channels as apprise URLs (`discord://…`, `tgram://…`, `mailto://…`, `json://…`).

apprise URLs carry their channel's secrets (bot tokens, webhook tokens, passwords): they are kept
as `SecretStr` in the settings and only ever named by their position and scheme (`#2 (tgram)`) in
errors and logs. apprise sends through `requests`, blocking: `outbound.py` runs it on threads of
its own, off the event loop.
"""

from __future__ import annotations

import logging
import re
from types import ModuleType

#: URLs are separated by white space, or by a comma followed by the next URL's scheme (a comma
#: inside a URL, as in `mailto://…?to=a@x.com,b@y.com`, stays in it)
_SEPARATOR = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")



def _apprise() -> ModuleType:
    """apprise, imported when a channel is configured (it loads every plugin: a slower start-up)."""
    import apprise

    # apprise's lines name the channel's targets (chat ids, addresses) and, at DEBUG, the URLs it was
    # given: none of them is logged; `outbound.py` logs each failure by the channels' kinds
    logging.getLogger("apprise").disabled = True
    return apprise


def split_urls(text: str | None) -> tuple[str, ...]:
    return tuple(url for url in _SEPARATOR.split(text or "") if url)


def scheme_of(url: str) -> str:
    """The channel's kind (`discord`) — all of a URL that may be logged."""
    scheme, found, _ = url.partition("://")
    return scheme.lower() if found and scheme.isascii() and scheme.replace("+", "").isalnum() else "?"


#: the channels a user's own URLs (stored with their preferences) may name: services at fixed hosts
#: of their own. The operator's settings may name any apprise URL (an SMTP server, a JSON endpoint);
#: a user's may not, or they could have the server send requests to an address of their choosing
#: (an internal one) — the same reason their venue base URLs are held to the official hosts.
USER_SCHEMES = frozenset({"discord", "tgram", "slack", "msteams", "pover", "pbul", "gchat"})


def user_channel_urls(text: str | None) -> tuple[tuple[str, ...], list[str]]:
    """(the URLs a user may have, `#position (scheme)` of the others)."""
    kept: list[str] = []
    refused: list[str] = []
    for number, url in enumerate(split_urls(text), 1):
        if scheme_of(url) in USER_SCHEMES:
            kept.append(url)
        else:
            refused.append(f"#{number} ({scheme_of(url)})")
    return tuple(kept), refused


def invalid_channel_urls(text: str) -> list[str]:
    """`#position (scheme)` of each URL apprise cannot send to; [] when every one is good (and
    there is at least one)."""
    urls = split_urls(text)
    if not urls:
        return ["none given"]
    return [f"#{number} ({scheme_of(url)})" for number, url in enumerate(urls, 1) if not _apprise().Apprise().add(url)]


def send_blocking(urls: tuple[str, ...], title: str, body: str) -> bool:
    """Send to every channel; True when each one took it (apprise's own timeouts bound each)."""
    target = _apprise().Apprise()
    for url in urls:
        target.add(url)
    return bool(target.notify(title=title, body=body))
