"""The lease columns of `webhook_requests` (execution/leases.py) for `SqliteStore`: claiming a
pending row and renewing the leases this server holds. Both run as writes on the writer thread,
inside its BEGIN IMMEDIATE transaction: no other connection to the file writes in between."""

from __future__ import annotations

import sqlite3

# a pending row is taken by its owner, or by anyone when it has no lease or its lease ended
CLAIM_REQUEST = (
    "UPDATE webhook_requests SET lease_owner = :owner, lease_expires_at = :until"
    " WHERE id = :id AND status = 'pending'"
    " AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires_at IS NULL OR lease_expires_at <= :now)"
)


def renew_leases(conn: sqlite3.Connection, ids: list[str], owner: str, until: str) -> set[str]:
    """Extend `owner`'s leases on the pending rows among `ids`; the ids renewed. Runs in the
    writer's transaction (BEGIN IMMEDIATE), so the read and the update see the same rows."""
    if not ids:
        return set()
    marks = ", ".join("?" for _ in ids)
    where = f"id IN ({marks}) AND status = 'pending' AND lease_owner = ?"
    held = {str(r[0]) for r in conn.execute(f"SELECT id FROM webhook_requests WHERE {where}", [*ids, owner])}
    conn.execute(f"UPDATE webhook_requests SET lease_expires_at = ? WHERE {where}", [until, *ids, owner])
    return held
