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

_WORD = re.compile(r"[a-z][A-Za-z_-]*|v\d+")


@lru_cache(maxsize=512)
def endpoint_template(method: str, path: str) -> str:
    """`POST /v3/accounts/{}/orders` for `POST /v3/accounts/101-004-1-001/orders?x=1`; the cache
    holds what paths were seen (bounded: an evicted one is worked out again)."""
    path = path.split("?", 1)[0].split("#", 1)[0] or "/"
    template = "/".join(s if not s or _WORD.fullmatch(s) else "{}" for s in path.split("/"))
    return f"{method.upper()} {template}"
