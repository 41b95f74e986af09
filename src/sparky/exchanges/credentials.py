"""What an adapter needs to reach one account: from config.json sections or `bot_credentials` rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sparky.exchanges.errors import AuthenticationError

#: keys, tokens and ids travel in headers, paths and signatures: a control character (a pasted
#: line break) would let a value add headers of its own or split the request
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    #: overrides the environment's base URL (`apiUrl` / `baseUrl`); tests and testnets use it.
    #: From a tenant's own row only one of the venue's official hosts (`exchanges/endpoints.py`).
    base_url: str | None = None
    #: venue-specific options (`extra_metadata`): working type, market type, hedge mode …
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print secrets
        return f"VenueCredentials(exchange={self.exchange!r}, environment={self.environment!r})"

    def check_characters(self) -> None:
        """Refuse a key, token or id holding a control character (CR, LF, NUL…), naming the field
        but never its value."""
        for name in ("api_key", "api_secret", "passphrase", "account_id", "access_token"):
            value = getattr(self, name)
            if isinstance(value, str) and _CONTROL.search(value):
                raise AuthenticationError(
                    f"{self.exchange}: the stored {name} contains a line break or another control character; "
                    "store it again without one", exchange=self.exchange)
