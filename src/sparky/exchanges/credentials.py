"""What an adapter needs to reach one account: from config.json sections or `bot_credentials` rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VenueCredentials:
    exchange: str
    #: live | practice | sandbox | production | testnet … (each adapter maps it to a base URL)
    environment: str = "production"
    api_key: str | None = None
    api_secret: str | None = None
    passphrase: str | None = None
    account_id: str | None = None
    access_token: str | None = None
    #: overrides the environment's base URL (`apiUrl` / `baseUrl`); tests and testnets use it
    base_url: str | None = None
    #: venue-specific options (`extra_metadata`): working type, market type, hedge mode …
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print secrets
        return f"VenueCredentials(exchange={self.exchange!r}, environment={self.environment!r})"
