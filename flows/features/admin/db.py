"""The queries for the tables administration owns (migration 014): join codes, refused tries,
what an administrator marked about people, retention notices and the daily runs."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from flows.store.rows import at, iso
from flows.store.unit import Unit

# ---- join codes ----------------------------------------------------------------------------


def code_create(tx: Unit, code_hash: bytes, now: datetime, expires: datetime, uses: int) -> int:
    row = tx.one(
        "INSERT INTO join_codes (code_hash, created_at, expires_at, uses) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (code_hash, iso(now), iso(expires), uses),
    )
    return int(row[0])


def code_use(tx: Unit, code_hash: bytes, now: datetime) -> int | None:
    """Take one use of a live code; its id, or None if there is no such live code."""
    row = tx.one(
        "UPDATE join_codes SET used = used + 1 WHERE code_hash = ? AND used < uses"
        " AND revoked_at IS NULL AND expires_at > ? RETURNING id",
        (code_hash, iso(now)),
    )
    return None if row is None else int(row[0])


def code_revoke(tx: Unit, code_id: int, now: datetime) -> bool:
    cursor = tx.conn.execute(
        "UPDATE join_codes SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (iso(now), code_id),
    )
    return cursor.rowcount == 1


def live_codes(tx: Unit, now: datetime) -> list[sqlite3.Row]:
    return tx.named(
        "SELECT id, created_at, expires_at, uses, used FROM join_codes"
        " WHERE revoked_at IS NULL AND expires_at > ? AND used < uses ORDER BY id",
        (iso(now),),
    )


# ---- refused tries (a keyed hash of the id and a count, nothing else) -----------------------


def tries(tx: Unit, who: str, since: datetime) -> int:
    row = tx.one("SELECT tries, last_at FROM access_refusals WHERE who = ?", (who,))
    return 0 if row is None or row[1] < iso(since) else int(row[0])


def refused(tx: Unit, who: str, now: datetime, since: datetime) -> None:
    tx.conn.execute(
        "INSERT INTO access_refusals (who, tries, last_at) VALUES (?, 1, ?) ON CONFLICT (who) DO"
        " UPDATE SET tries = CASE WHEN last_at < ? THEN 1 ELSE tries + 1 END, last_at = ?",
        (who, iso(now), iso(since), iso(now)),
    )


def prune_refusals(tx: Unit, before: datetime) -> None:
    tx.conn.execute("DELETE FROM access_refusals WHERE last_at < ?", (iso(before),))


# ---- what an administrator marked ----------------------------------------------------------


def _mark(tx: Unit, person_id: int) -> None:
    tx.conn.execute("INSERT OR IGNORE INTO org_people (person_id) VALUES (?)", (person_id,))


def approve(tx: Unit, person_id: int, now: datetime) -> None:
    _mark(tx, person_id)
    tx.conn.execute(
        "UPDATE org_people SET supervisor_at = ? WHERE person_id = ?", (iso(now), person_id)
    )


def unapprove(tx: Unit, person_id: int) -> bool:
    cursor = tx.conn.execute(
        "UPDATE org_people SET supervisor_at = NULL"
        " WHERE person_id = ? AND supervisor_at IS NOT NULL",
        (person_id,),
    )
    return cursor.rowcount == 1


def approved(tx: Unit, person_id: int) -> bool:
    row = tx.one("SELECT supervisor_at FROM org_people WHERE person_id = ?", (person_id,))
    return row is not None and row[0] is not None


def approved_supervisors(tx: Unit) -> list[int]:
    rows = tx.conn.execute(
        "SELECT person_id FROM org_people WHERE supervisor_at IS NOT NULL ORDER BY supervisor_at"
    ).fetchall()
    return [int(r[0]) for r in rows]


def linked_supervisors(tx: Unit) -> list[int]:
    rows = tx.conn.execute(
        "SELECT DISTINCT supervisor_id FROM links WHERE ended_at IS NULL ORDER BY supervisor_id"
    ).fetchall()
    return [int(r[0]) for r in rows]


def mark_left(tx: Unit, person_id: int, now: datetime) -> bool:
    _mark(tx, person_id)
    cursor = tx.conn.execute(
        "UPDATE org_people SET left_at = ?, supervisor_at = NULL"
        " WHERE person_id = ? AND left_at IS NULL",
        (iso(now), person_id),
    )
    return cursor.rowcount == 1


def left_at(tx: Unit, person_id: int) -> datetime | None:
    row = tx.one("SELECT left_at FROM org_people WHERE person_id = ?", (person_id,))
    return None if row is None else at(row[0])


def leavers(tx: Unit) -> list[tuple[int, datetime, bool]]:
    rows = tx.conn.execute(
        "SELECT person_id, left_at, leaver_warned FROM org_people WHERE left_at IS NOT NULL"
    ).fetchall()
    return [(int(r[0]), datetime.fromisoformat(r[1]), bool(r[2])) for r in rows]


def leaver_warned(tx: Unit, person_id: int) -> None:
    tx.conn.execute("UPDATE org_people SET leaver_warned = 1 WHERE person_id = ?", (person_id,))


# ---- counts for /admin (numbers only) --------------------------------------------------------


def counts(tx: Unit, now: datetime) -> dict[str, int]:
    week, month = iso(now - timedelta(days=7)), iso(now - timedelta(days=30))

    def n(sql: str, *args: str) -> int:
        return int(tx.one(sql, args)[0])

    return {
        "people": n("SELECT COUNT(*) FROM people"),
        "active_week": n("SELECT COUNT(*) FROM conversations WHERE updated_at >= ?", week),
        "entries_month": n(
            "SELECT COUNT(*) FROM entries WHERE status = 'saved' AND created_at >= ?", month
        ),
        "shares_month": n("SELECT COUNT(*) FROM shares WHERE created_at >= ?", month),
        "links": n("SELECT COUNT(*) FROM links WHERE ended_at IS NULL"),
        "sessions_month": n("SELECT COUNT(*) FROM sessions WHERE created_at >= ?", month),
        "reminders_month": n(
            "SELECT COUNT(*) FROM nudges WHERE state = 'sent' AND done_at >= ?", month
        ),
        "leavers": n("SELECT COUNT(*) FROM org_people WHERE left_at IS NOT NULL"),
    }


# ---- retention ----------------------------------------------------------------------------


def old_entries(tx: Unit, before: datetime, since: datetime | None = None) -> dict[int, int]:
    """person → how many entries they wrote before `before` (and from `since`)."""
    rows = tx.conn.execute(
        "SELECT person_id, COUNT(*) FROM entries WHERE created_at < ? AND created_at >= ?"
        " GROUP BY person_id",
        (iso(before), iso(since) if since else ""),
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def notices(tx: Unit) -> dict[int, tuple[datetime, datetime]]:
    rows = tx.conn.execute("SELECT person_id, noticed_at, upto FROM retention_notices").fetchall()
    return {int(r[0]): (datetime.fromisoformat(r[1]), datetime.fromisoformat(r[2])) for r in rows}


def set_notice(tx: Unit, person_id: int, now: datetime, upto: datetime) -> None:
    tx.conn.execute(
        "INSERT INTO retention_notices (person_id, noticed_at, upto) VALUES (?, ?, ?)"
        " ON CONFLICT (person_id) DO UPDATE SET noticed_at = excluded.noticed_at,"
        " upto = excluded.upto",
        (person_id, iso(now), iso(upto)),
    )


def entries_before(tx: Unit, person_id: int, before: datetime) -> list[int]:
    rows = tx.conn.execute(
        "SELECT id FROM entries WHERE person_id = ? AND created_at < ?", (person_id, iso(before))
    ).fetchall()
    return [int(r[0]) for r in rows]


def erase(tx: Unit, table: str, ids: list[int]) -> None:
    """Rows of `table` (entries, shares, team_posts, coreflections) go; what hangs off them
    (answers, bodies, messages, parts) cascades."""
    assert table in {"entries", "shares", "team_posts", "coreflections"}
    tx.conn.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in ids])


def rounds_with(tx: Unit, entry_ids: list[int]) -> list[int]:
    marks = ",".join("?" * len(entry_ids))
    rows = tx.conn.execute(
        f"SELECT DISTINCT round_id FROM coreflection_parts WHERE entry_id IN ({marks})", entry_ids
    ).fetchall()
    return [int(r[0]) for r in rows]


# ---- daily runs -----------------------------------------------------------------------------


def daily_due(tx: Unit, name: str, now: datetime) -> bool:
    """Whether `name` has not run in the last day; if so, it counts as run from now (in this
    same unit of work, so a restart neither repeats nor skips it)."""
    row = tx.one("SELECT last_at FROM daily_runs WHERE name = ?", (name,))
    if row is not None and datetime.fromisoformat(row[0]) > now - timedelta(days=1):
        return False
    tx.conn.execute(
        "INSERT INTO daily_runs (name, last_at) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET last_at = excluded.last_at",
        (name, iso(now)),
    )
    return True
