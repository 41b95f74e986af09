"""Who sent this alert, and which user's accounts may it touch (invariants 10 and 11).

Three ways in, checked in this order:
1. a signed SignalStudio forward: header `X-Sparky-Signature: t=<unix>,v1=<hex>` where v1 is
   HMAC-SHA256(SIGNALSTUDIO_FORWARD_SECRET, "<t>.<raw body>"), within 5 minutes; the body's
   `user_id` is then trusted if it is the UUID of a user the store knows, never the local user's
   (it would skip every gate and quota; a path-like id would name files outside the data dir).
   An accepted signature is accepted once: its `replay_key` becomes the
   request's idempotency key, which the store keeps unique per user (across restarts and servers);
2. the legacy shared secret (`WEBHOOK_SECRET`, config.json, or the generated one): the local user;
3. a user's own webhook secret (bot_credentials, exchange 'webhook'): that user.
A body `user_id` naming anyone else than the secret's owner is refused — the original trusted it.
Secrets are compared as SHA-256 digests (the directory) or with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from sparky.errors import ServiceUnavailable, Unauthorized
from sparky.store.base import StoreUnavailable
from sparky.store.tenants import TenantStore, secret_digest

log = structlog.get_logger("sparky.auth")

#: the single local user of embedded / legacy mode
LOCAL_USER_ID = "00000000-0000-0000-0000-000000000000"
SIGNATURE_HEADER = "x-sparky-signature"
SIGNATURE_TOLERANCE_SEC = 300

INVALID_SECRET_HINT = "Check the 'secret' field of your alert message against your webhook secret"
#: a user id as Supabase Auth and `sparky users` write it (any case; used in lower case)
USER_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def fingerprint(secret: str) -> str:
    """Identifies which secret was used without revealing it (stored in webhook_requests)."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def sign_forward(secret: str, body: bytes, timestamp: int) -> str:
    """The header value SignalStudio sends (documented in docs/MULTI_TENANT.md)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_forward(header: str, body: bytes, secret: str, now: float) -> str | None:
    """The signature (v1) that `header` carries for `body`, if it is valid at `now`; else None."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return None
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SEC:
        return None
    expected = sign_forward(secret, body, timestamp).split("v1=", 1)[1]
    if any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        return expected
    return None


def replay_key(signature: str) -> str:
    """The idempotency key of an accepted forward: one per (timestamp, body), however the header was
    written (extra v1 values, padded t). A digest, so the stored key cannot be sent as a signature."""
    return "signalstudio:" + hashlib.sha256(signature.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    user_id: str
    #: fingerprint of the secret used, or None for a signed forward
    secret_fingerprint: str | None
    via: str  # "legacy" | "user-secret" | "signalstudio"
    #: a signed forward's one-use key (see `replay_key`); None for secrets, which are meant to be reused
    replay_key: str | None = None


class SecretDirectory:
    """Webhook secret digests → user ids, as the store has them; and which user ids exist.

    Refreshed in full every few seconds by a background task (removals take effect), looked up in
    the store once on a miss, and misses remembered for `negative_ttl` so a stream of bad secrets
    cannot hammer the store. A read that started before a newer refresh is never kept over it
    (it could bring back a secret that was just rotated out). Whether a user exists is asked of
    the store once and remembered until the next refresh (`negative_ttl` at most).
    """

    def __init__(self, store: TenantStore | None, *, negative_ttl: float = 60.0, max_negative: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._owners: dict[str, str] = {}
        self._misses: dict[str, float] = {}
        self._negative_ttl = negative_ttl
        self._max_negative = max_negative
        self._clock = clock
        self._started = 0  # refreshes started
        self._applied = 0  # the newest refresh whose result is in _owners
        self._users: dict[str, tuple[bool, float]] = {}  # user id → (exists, remembered until)

    async def refresh(self) -> int:
        if self._store is None:
            return 0
        self._started += 1
        number = self._started
        owners = dict(await self._store.webhook_secret_owners())
        if number > self._applied:
            self._owners, self._applied = owners, number
            self._users.clear()
        return len(owners)

    async def user_exists(self, user_id: str) -> bool:
        """Whether the store knows `user_id` (a canonical UUID). The owner of a webhook secret
        exists; anyone else is asked of the store once and remembered for a while."""
        if self._store is None:
            return False
        if user_id in self._owners.values():
            return True
        cached = self._users.get(user_id)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        started = self._started
        exists = await self._store.user_exists(user_id)
        if started == self._started:  # a refresh began meanwhile: answer, but remember nothing
            if len(self._users) >= self._max_negative:
                self._users.clear()
            self._users[user_id] = (exists, self._clock() + self._negative_ttl)
        return exists

    async def owner(self, secret: str) -> str | None:
        digest = secret_digest(secret)
        owner = self._owners.get(digest)
        if owner is not None or self._store is None:
            return owner
        expires = self._misses.get(digest)
        if expires is not None and expires > self._clock():
            return None
        started = self._started
        owner = await self._store.find_webhook_secret_owner(secret)
        if started != self._started:  # a refresh began meanwhile: answer, but cache nothing
            return owner
        if owner is None:
            if len(self._misses) >= self._max_negative:
                self._misses.clear()
            self._misses[digest] = self._clock() + self._negative_ttl
            return None
        self._owners[digest] = owner
        return owner


class Authenticator:
    def __init__(self, legacy_secrets: list[str], directory: SecretDirectory | None = None, *,
                 forward_secret: str | None = None, worker_key: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`worker_key`: the AI worker's signing key when no forward secret is set (ai/worker_key.py)."""
        self._legacy = [s.encode() for s in legacy_secrets if s]
        self._directory = directory
        self._forward_secret = forward_secret
        self._worker_key = worker_key
        self._clock = clock

    async def authenticate(self, fields: dict[str, Any], raw: bytes = b"",
                           headers: Mapping[str, str] | None = None) -> Principal:
        claimed = fields.get("user_id") or fields.get("userId")
        signature = (headers or {}).get(SIGNATURE_HEADER)
        if signature is not None:
            return await self._forwarded(signature, raw, claimed)
        secret = fields.get("secret")
        if not isinstance(secret, str) or not secret:
            raise Unauthorized("Unauthorized: Invalid webhook secret", hint=INVALID_SECRET_HINT)
        if self._is_legacy(secret):
            if claimed not in (None, "", LOCAL_USER_ID):
                raise self._not_yours()
            return Principal(LOCAL_USER_ID, fingerprint(secret), "legacy")
        owner = await self._directory.owner(secret) if self._directory is not None else None
        if owner is None:
            raise Unauthorized("Unauthorized: Invalid webhook secret", hint=INVALID_SECRET_HINT)
        if claimed not in (None, "") and claimed != owner:
            raise self._not_yours()
        return Principal(owner, fingerprint(secret), "user-secret")

    def _is_legacy(self, secret: str) -> bool:
        candidate = secret.encode()
        matched = False
        for known in self._legacy:  # compare against every secret: timing reveals nothing
            matched |= hmac.compare_digest(candidate, known)
        return matched

    async def _forwarded(self, signature: str, raw: bytes, claimed: Any) -> Principal:
        if not self._forward_secret and not self._worker_key:
            raise Unauthorized("Unauthorized: signed forwards are not enabled on this server",
                               hint="Set SIGNALSTUDIO_FORWARD_SECRET to the dashboard's forwarding key")
        now = self._clock()
        accepted = next((found for key in (self._forward_secret, self._worker_key) if key
                         and (found := verify_forward(signature, raw, key, now)) is not None), None)
        if accepted is None:
            log.warning("webhook.bad_forward_signature")
            raise Unauthorized("Unauthorized: invalid or expired forward signature")
        return Principal(await self._forwarded_user(claimed), None, "signalstudio", replay_key(accepted))

    async def _forwarded_user(self, claimed: Any) -> str:
        """The user a signed forward acts for: the UUID of a user the store knows (lower case),
        never the local user. Anything else is a 401 naming `user_id`, before anything is recorded."""
        if claimed is None or claimed == "":
            raise Unauthorized("Unauthorized: a signed forward must name the user_id", field="user_id")
        if not isinstance(claimed, str) or not USER_UUID.fullmatch(claimed):
            raise Unauthorized("Unauthorized: a signed forward's user_id must be a user's UUID", field="user_id")
        user_id = claimed.lower()
        if user_id == LOCAL_USER_ID:
            raise Unauthorized("Unauthorized: a signed forward cannot act for the local user", field="user_id",
                               hint="Forward alerts for dashboard users only; the local user's alerts carry "
                                    "WEBHOOK_SECRET")
        try:
            known = self._directory is not None and await self._directory.user_exists(user_id)
        except StoreUnavailable as err:
            raise ServiceUnavailable("The forward's user_id cannot be checked now; nothing was recorded or "
                                     "executed, retry shortly") from err
        if not known:
            log.warning("webhook.forward_unknown_user", user_id=user_id)
            raise Unauthorized("Unauthorized: the signed forward's user_id is not a user of this server",
                               field="user_id")
        return user_id

    @staticmethod
    def _not_yours() -> Unauthorized:
        return Unauthorized(
            "Unauthorized: user_id needs that user's own webhook secret or a signed forward",
            hint="Remove user_id from the alert, or send it with that user's secret",
        )
