"""respx sees the venue clients too.

respx's default mocker patches httpcore, httpx's own pool; the venue clients send over aiohttp
(`sparky.exchanges.aiohttp_transport`), which that patch never reaches, so a mocked venue would be
missed and the request would go out to the network. This mocker patches both: httpcore (the
Supabase client and any other plain httpx client) and the venue transport's entry point, where the
request is still an `httpx.Request` and the reply an `httpx.Response`. conftest makes it respx's
default, so every `respx.mock(...)` in the suite intercepts venue requests unchanged.
The transport itself (aiohttp underneath) is exercised against real local servers in
tests/unit/exchanges/test_http_transport.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import respx.mocks
from respx.mocks import HTTPCoreMocker
from respx.models import PassThrough

VENUE_TRANSPORT = "sparky.exchanges.aiohttp_transport.AiohttpTransport"


class VenueTransportMocker(HTTPCoreMocker):
    name = "httpcore+venue"
    targets = [*HTTPCoreMocker.targets, VENUE_TRANSPORT]

    @classmethod
    def mock(cls, spec: Any) -> Any:
        if spec.__qualname__ != "AiohttpTransport.handle_async_request":
            return super().mock(spec)
        send: Callable[[Any, httpx.Request], Awaitable[httpx.Response]] = spec

        async def handle_async_request(transport: Any, request: httpx.Request) -> httpx.Response:
            await request.aread()
            try:
                return await cls.async_handler(request)
            except PassThrough:  # a route that asked for the real network
                return await send(transport, request)

        return handle_async_request


respx.mocks.DEFAULT_MOCKER = VenueTransportMocker.name
