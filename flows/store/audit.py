"""The audit trail: an append-only record of who did what, never what anyone wrote.

Any feature records an action in the unit of work that does it (so the row and the action commit
together, or neither does). People appear only as keyed hashes: HMAC-SHA256 of their Telegram id
under a key derived from the master key, so the trail names nobody to whoever reads the database,
while an administrator holding the key can find one person's rows (`coreflect audit --person`).
Triggers in migration 014 refuse any change to a row, and any delete of a row under 30 days old.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from flows.store.rows import iso
from flows.store.unit import Unit

# Every action the trail may hold (record() refuses any other, so this list stays true).
ACTIONS = (
    "linked",
    "unlinked",
    "shared",
    "share_withdrawn",
    "share_expired",
    "exported",
    "entry_deleted",
    "erased",
    "join_code_created",
    "join_code_revoked",
    "join_code_used",
    "admin_viewed",
    "supervisor_approved",
    "supervisor_withdrawn",
    "leaver_marked",
    "leaver_erased",
    "retention_notice",
    "retention_run",
)


def person_key(log_key: bytes) -> bytes:
    return hmac.new(log_key, b"coreflect audit ids v1", hashlib.sha256).digest()


def hashed(key: bytes, person_id: int | None) -> str | None:
    """A person's id as the audit trail shows it (24 hex digits), or None."""
    if person_id is None:
        return None
    return hmac.new(key, str(int(person_id)).encode(), hashlib.sha256).hexdigest()[:24]


def record(
    tx: Unit,
    action: str,
    actor: int | None = None,
    subject: int | None = None,
    detail: str = "",
) -> None:
    """One row for one action, in this unit of work. `detail` is a kind or a count only."""
    if action not in ACTIONS:
        raise ValueError(f"not an audit action: {action}")
    key = person_key(tx.keys.log_key)
    tx.conn.execute(
        "INSERT INTO audit (at, action, actor, subject, detail) VALUES (?, ?, ?, ?, ?)",
        (iso(tx.clock()), action, hashed(key, actor), hashed(key, subject), detail),
    )


def rows(tx: Unit, since: datetime, person: int | None = None) -> list[dict[str, Any]]:
    """The trail from `since`, oldest first; with `person`, only the rows about them."""
    sql = "SELECT id, at, action, actor, subject, detail FROM audit WHERE at >= ?"
    args: list[Any] = [iso(since)]
    if person is not None:
        mark = hashed(person_key(tx.keys.log_key), person)
        sql += " AND (actor = ? OR subject = ?)"
        args += [mark, mark]
    return [dict(r) for r in tx.named(sql + " ORDER BY id", args)]


def prune(tx: Unit, keep_days: int) -> int:
    """Rows older than `keep_days` go (never fewer than 30: the trigger refuses younger)."""
    before = tx.clock() - timedelta(days=max(keep_days, 30))
    cursor = tx.conn.execute("DELETE FROM audit WHERE at < ?", (iso(before),))
    return cursor.rowcount
