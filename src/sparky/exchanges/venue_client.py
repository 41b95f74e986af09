"""The pooled client of one venue base URL: httpx's API, with the per-request work done once.

`httpx.AsyncClient.request` re-derives on every call what never changes for a venue client: it
parses the relative URL, then re-parses it merged onto `base_url`; copies and merges the client's
headers; copies the cookie jar to ask it (no, see exchanges/http.py) for a Cookie header; and after
the reply, wraps the cookie jar around a `urllib` request to extract the cookies it will refuse.
That was about half the CPU of a venue request (docs/PERFORMANCE.md, "Venue HTTP client").

`VenueClient.request` builds the same `httpx.Request` (the absolute URL parsed once, the client's
headers merged the way httpx merges them: a header the call names replaces the client's and goes
last) and hands it to the transport directly: same bytes on the wire, same reply. No cookie is ever
sent (none is added) or stored (the reply's are never read). What it skips and why nothing notices:
auth, redirects and event hooks (venue clients use none; a 3xx comes back as it is either way), and
httpx's request log line (at INFO on the stdlib `httpx` logger, which Sparky never configures).
A call with an option httpx handles itself, a URL that is not a path, or a client without its own
transport (a proxy from the environment: httpx picks and routes it) takes httpx's full path.
"""

from __future__ import annotations

from typing import Any

import httpx


class VenueClient(httpx.AsyncClient):
    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None, **options: Any) -> None:
        super().__init__(base_url=base_url, transport=transport, **options)
        #: the transport requests go to directly; None → httpx's full path (it routes proxies itself)
        self._direct = transport
        self._origin = str(self.base_url).rstrip("/")  # httpx's base_url always ends with "/"
        self._timeouts = self.timeout.as_dict()
        #: the app's metrics (`exchanges.http.send` times each request with them); None: not measured
        self.metrics: Any = None

    async def request(self, method: str, url: httpx.URL | str, *, content: Any = None, json: Any = None,
                      params: Any = None, headers: Any = None, **options: Any) -> httpx.Response:
        if self._direct is None or not isinstance(url, str) or not url.startswith("/") or not _defaults(options):
            return await super().request(method, url, content=content, json=json, params=params,
                                         headers=headers, **options)
        request = httpx.Request(method, self._origin + url, content=content, json=json, params=params,
                                headers=self._merged(headers), extensions={"timeout": self._timeouts})
        response = await self._direct.handle_async_request(request)
        response.request = request
        await response.aread()  # a no-op for the aiohttp transport, which reads the reply whole
        return response

    def _merged(self, headers: Any) -> httpx.Headers:
        """The client's headers, then the call's: a name the call gives replaces the client's (httpx's merge;
        copying `Headers` copies its normalised items, only the call's own are normalised anew)."""
        merged = httpx.Headers(self.headers)
        merged.update(headers)
        return merged


def _defaults(options: dict[str, Any]) -> bool:
    """Whether the other options of a call (`client.post` passes them all) are httpx's defaults."""
    for name, value in options.items():
        if value is not (httpx.USE_CLIENT_DEFAULT if name in _CLIENT_DEFAULT else None):
            return False
    return True


_CLIENT_DEFAULT = frozenset({"auth", "follow_redirects", "timeout"})
