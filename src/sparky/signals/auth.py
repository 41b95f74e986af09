"""Who sent this alert? Legacy single-tenant secrets, compared in constant time.

Per-user secrets and signed SignalStudio forwards plug in here (multi-tenant work); until then a
body `user_id` is refused unless it names the local user, never trusted blindly as the original did.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sparky.errors import Unauthorized

#: the single local user of embedded / legacy mode
LOCAL_USER_ID = "00000000-0000-0000-0000-000000000000"

INVALID_SECRET_HINT = "Check the 'secret' field of your alert message against the server's webhook secret"


def fingerprint(secret: str) -> str:
    """Identifies which secret was used without revealing it (stored in webhook_requests)."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Principal:
    user_id: str
    secret_fingerprint: str


class Authenticator:
    def __init__(self, legacy_secrets: list[str]) -> None:
        self._secrets = [s.encode() for s in legacy_secrets if s]

    def authenticate(self, fields: dict[str, Any]) -> Principal:
        secret = fields.get("secret")
        if not isinstance(secret, str) or not secret:
            raise Unauthorized("Unauthorized: Invalid webhook secret", hint=INVALID_SECRET_HINT)
        candidate = secret.encode()
        matched = False
        for known in self._secrets:  # compare against every secret: timing reveals nothing
            matched |= hmac.compare_digest(candidate, known)
        if not matched:
            raise Unauthorized("Unauthorized: Invalid webhook secret", hint=INVALID_SECRET_HINT)
        claimed = fields.get("user_id") or fields.get("userId")
        if claimed not in (None, "", LOCAL_USER_ID):
            raise Unauthorized(
                "Unauthorized: user_id needs that user's own webhook secret or a signed forward",
                hint="Remove user_id from the alert, or send it with that user's secret",
            )
        return Principal(user_id=LOCAL_USER_ID, secret_fingerprint=fingerprint(secret))
