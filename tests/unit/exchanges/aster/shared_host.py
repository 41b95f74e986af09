"""The scripted Aster venue serving several accounts on one host: a signed request is good when
signed with its own key's secret (`FakeAster` knows one account)."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

import httpx

from sparky.exchanges.aster.api import sign
from tests.unit.exchanges.aster.test_aster import KEY, SECRET, FakeAster

OTHER_KEY, OTHER_SECRET = "other-api-key", "other-api-secret"
SECRETS = {KEY: SECRET, OTHER_KEY: OTHER_SECRET}


class SharedHost(FakeAster):
    def _verify(self, request: httpx.Request) -> dict[str, str] | httpx.Response:
        raw = (request.content if request.method == "POST" else request.url.query).decode()
        payload, sep, signature = raw.rpartition("&signature=")
        secret = SECRETS.get(request.headers.get("X-MBX-APIKEY", ""))
        if not sep or secret is None or not hmac.compare_digest(sign(secret, payload), signature):
            self.bad_signatures += 1
            return self.error("invalid_signature")
        params = dict(parse_qsl(payload, keep_blank_values=True))
        stamp, window = int(params["timestamp"]), int(params.get("recvWindow", 5000))
        if not (stamp < self.server_ms + 1000 and self.server_ms - stamp <= window):  # the docs' rule
            return self.error("invalid_timestamp")
        return params
