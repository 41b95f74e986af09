"""A venue request's endpoint as a bounded metrics label: method and path template.

Paths carry account ids (`/v3/accounts/101-004-1234567-001/orders`), order ids and, on OANDA,
instruments (`/v3/accounts/…/positions/EUR_USD/close`): one label value each would grow the metrics
without end and put an account id in them. A segment of letters (and `_`, `-`) starting lower-case
is a word of the API and is kept (`positionRisk` too: it starts lower-case and has no digit), as is a
version (`v1`); anything else becomes `{}` (ids have digits, instruments are upper-case). The query
string is never part of it (symbols and signatures travel there).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

_WORD = re.compile(r"[a-z][A-Za-z_-]*|v\d+")


def endpoint_template(method: str, url: str) -> str:
    """`POST /v3/accounts/{}/orders` for `POST /v3/accounts/101-004-1-001/orders?x=1`. `url` is a path
    (with its query) or an absolute URL (a venue's other host): only its path is a template."""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0].split("#", 1)[0]
    return path_template(method, path or "/")


@lru_cache(maxsize=512)
def path_template(method: str, path: str) -> str:
    """The template of a path without its query: cached by path, so a signed query (a new timestamp
    and signature on every Aster request) never misses the cache or pushes the others out (bounded:
    an evicted one is worked out again)."""
    template = "/".join(s if not s or _WORD.fullmatch(s) else "{}" for s in path.split("/"))
    return f"{method.upper()} {template}"
