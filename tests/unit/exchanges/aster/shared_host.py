"""The scripted Aster venue serving several accounts on one host: a signed request is good when
signed with its own key's secret (`FakeAster` knows one account)."""

from __future__ import annotations

from tests.unit.exchanges.aster.test_aster import KEY, SECRET, FakeAster

OTHER_KEY, OTHER_SECRET = "other-api-key", "other-api-secret"
SECRETS = {KEY: SECRET, OTHER_KEY: OTHER_SECRET}


class SharedHost(FakeAster):
    secrets = SECRETS
