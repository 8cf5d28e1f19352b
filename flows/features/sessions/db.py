"""Sessions and reminders' own tables: sessions, nudges, reminder settings. Plain functions over
the unit of work."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flows.store.rows import at, iso
from flows.store.unit import Unit


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    worker_id: int
    set_by: int
    local_start: datetime  # naive wall-clock time in the worker's zone
    starts_at: datetime  # UTC
    every: str | None  # '1w', '2w', '4w', '1m'; None: just this once
    series_start: datetime | None  # naive local start of the series' first session
    state: str  # 'planned', 'held', 'cancelled'


_SESSION_COLUMNS = "id, worker_id, set_by, local_start, starts_at, every, series_start, state"


def _session_row(r: sqlite3.Row) -> SessionRow:
    return SessionRow(
        id=r["id"],
        worker_id=r["worker_id"],
        set_by=r["set_by"],
        local_start=datetime.strptime(r["local_start"], "%Y-%m-%dT%H:%M"),
        starts_at=datetime.fromisoformat(r["starts_at"]),
        every=r["every"],
        series_start=(
            datetime.strptime(r["series_start"], "%Y-%m-%dT%H:%M") if r["series_start"] else None
        ),
        state=r["state"],
    )


@dataclass(frozen=True, slots=True)
class NudgeRow:
    id: int
    person_id: int
    kind: str  # 'session', 'snooze', 'reflect', 'weekly', 'agree', 'digest'
    key: str
    session_id: int | None
    entry_id: int | None
    base_at: datetime | None
    due_at: datetime
    useful_until: datetime
    state: str  # 'pending', 'sent', 'dropped', 'cancelled'


_NUDGE_COLUMNS = (
    "id, person_id, kind, key, session_id, entry_id, base_at, due_at, useful_until, state"
)


def _nudge_row(r: sqlite3.Row) -> NudgeRow:
    return NudgeRow(
        id=r["id"],
        person_id=r["person_id"],
        kind=r["kind"],
        key=r["key"],
        session_id=r["session_id"],
        entry_id=r["entry_id"],
        base_at=at(r["base_at"]),
        due_at=datetime.fromisoformat(r["due_at"]),
        useful_until=datetime.fromisoformat(r["useful_until"]),
        state=r["state"],
    )


@dataclass(frozen=True, slots=True)
class ReminderSettings:
    """What a person chose; minutes of 0 mean off, times are local "HH:MM"."""

    first_before: int = 1440
    second_before: int = 60
    reflect_after: int = 240
    weekly_day: int | None = None  # 0 Monday … 6 Sunday; None: off
    weekly_time: str = "09:00"
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    paused_until: datetime | None = None  # UTC
    digest_day: int | None = None  # a supervisor's weekly digest: 0 Monday … 6 Sunday; None off
    digest_time: str = "09:00"
    plan_review_months: int = 3  # an invitation to look over each plan; 0: off


_REMINDER_COLUMNS = (
    "first_before, second_before, reflect_after, weekly_day, weekly_time, quiet_start,"
    " quiet_end, paused_until, digest_day, digest_time, plan_review_months"
)


def reminder_settings(tx: Unit, person_id: int) -> ReminderSettings:
    row = tx.one(
        f"SELECT {_REMINDER_COLUMNS} FROM reminder_settings WHERE person_id = ?",
        (person_id,),
    )
    if row is None:
        return ReminderSettings()
    first, second, reflect, weekly_day, weekly_time, quiet_start, quiet_end, paused = row[:8]
    return ReminderSettings(
        first,
        second,
        reflect,
        weekly_day,
        weekly_time,
        quiet_start,
        quiet_end,
        at(paused),
        row[8],
        row[9],
        row[10],
    )


def set_reminder_settings(tx: Unit, person_id: int, settings: ReminderSettings) -> None:
    values = (
        settings.first_before,
        settings.second_before,
        settings.reflect_after,
        settings.weekly_day,
        settings.weekly_time,
        settings.quiet_start,
        settings.quiet_end,
        None if settings.paused_until is None else iso(settings.paused_until),
        settings.digest_day,
        settings.digest_time,
        settings.plan_review_months,
    )
    tx.conn.execute(
        f"INSERT OR REPLACE INTO reminder_settings (person_id, {_REMINDER_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (person_id, *values),
    )


def session_create(
    tx: Unit,
    worker_id: int,
    set_by: int,
    local_start: str,
    starts_at: datetime,
    every: str | None,
    series_start: str | None,
) -> int:
    row = tx.one(
        "INSERT INTO sessions (worker_id, set_by, local_start, starts_at, every, series_start,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            worker_id,
            set_by,
            local_start,
            iso(starts_at),
            every,
            series_start,
            iso(tx.clock()),
        ),
    )
    return int(row[0])


def session(tx: Unit, session_id: int) -> SessionRow | None:
    r = tx.named_one(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
    return None if r is None else _session_row(r)


def _sessions(tx: Unit, where: str, args: Sequence[Any]) -> list[SessionRow]:
    rows = tx.named(
        f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {where} ORDER BY starts_at, id", args
    )
    return [_session_row(r) for r in rows]


def sessions_planned(tx: Unit, worker_id: int) -> list[SessionRow]:
    return _sessions(tx, "worker_id = ? AND state = 'planned'", (worker_id,))


def sessions_all(tx: Unit, worker_id: int) -> list[SessionRow]:
    return _sessions(tx, "worker_id = ?", (worker_id,))


def nudges_all(tx: Unit, person_id: int) -> list[tuple[NudgeRow, str | None]]:
    """Every nudge of the person, oldest due first, with why it was dropped or cancelled."""
    rows = tx.named(
        f"SELECT {_NUDGE_COLUMNS}, reason FROM nudges WHERE person_id = ? ORDER BY due_at, id",
        (person_id,),
    )
    return [(_nudge_row(r), r["reason"] or None) for r in rows]


def has_reminder_settings(tx: Unit, person_id: int) -> bool:
    row = tx.one("SELECT 1 FROM reminder_settings WHERE person_id = ?", (person_id,))
    return row is not None


def last_session_held(tx: Unit, worker_id: int, before: datetime) -> datetime | None:
    row = tx.one(
        "SELECT MAX(starts_at) FROM sessions WHERE worker_id = ? AND state = 'held'"
        " AND starts_at < ?",
        (worker_id, iso(before)),
    )
    return at(row[0]) if row else None


def session_move(
    tx: Unit,
    session_id: int,
    local_start: str,
    starts_at: datetime,
    series_start: str | None = None,
) -> None:
    tx.conn.execute(
        "UPDATE sessions SET local_start = ?, starts_at = ?,"
        " series_start = COALESCE(?, series_start) WHERE id = ?",
        (local_start, iso(starts_at), series_start, session_id),
    )


def session_state(tx: Unit, session_id: int, state: str) -> None:
    """Held (it has started) or cancelled."""
    tx.conn.execute("UPDATE sessions SET state = ? WHERE id = ?", (state, session_id))


def sessions_started(tx: Unit, now: datetime, limit: int) -> list[SessionRow]:
    rows = tx.named(
        f"SELECT {_SESSION_COLUMNS} FROM sessions INDEXED BY sessions_next"
        " WHERE state = 'planned' AND starts_at <= ? ORDER BY starts_at LIMIT ?",
        (iso(now), limit),
    )
    return [_session_row(r) for r in rows]


def nudge(tx: Unit, nudge_id: int) -> NudgeRow | None:
    r = tx.named_one(f"SELECT {_NUDGE_COLUMNS} FROM nudges WHERE id = ?", (nudge_id,))
    return None if r is None else _nudge_row(r)


def nudges_pending(tx: Unit, person_id: int) -> list[NudgeRow]:
    rows = tx.named(
        f"SELECT {_NUDGE_COLUMNS} FROM nudges WHERE person_id = ? AND state = 'pending'"
        " ORDER BY due_at, id",
        (person_id,),
    )
    return [_nudge_row(r) for r in rows]


def nudge_plan(
    tx: Unit,
    person_id: int,
    kind: str,
    key: str,
    due_at: datetime,
    useful_until: datetime,
    *,
    session_id: int | None = None,
    entry_id: int | None = None,
    base_at: datetime | None = None,
) -> None:
    """Plan a nudge, or move one still pending; one already sent or dropped stays as it is."""
    tx.conn.execute(
        "INSERT INTO nudges (person_id, kind, key, session_id, entry_id, base_at, due_at,"
        " useful_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (person_id, key) DO UPDATE SET due_at = excluded.due_at,"
        " useful_until = excluded.useful_until WHERE state = 'pending'",
        (
            person_id,
            kind,
            key,
            session_id,
            entry_id,
            None if base_at is None else iso(base_at),
            iso(due_at),
            iso(useful_until),
        ),
    )


def nudge_end(tx: Unit, nudge_id: int, state: str, reason: str, now: datetime) -> None:
    tx.conn.execute(
        "UPDATE nudges SET state = ?, reason = ?, done_at = ? WHERE id = ? AND state = 'pending'",
        (state, reason, iso(now), nudge_id),
    )


def nudge_withheld(tx: Unit, nudge_id: int, reason: str, now: datetime) -> None:
    """Queued, but no longer useful by the time it could be sent (the bot was down)."""
    tx.conn.execute(
        "UPDATE nudges SET state = 'dropped', reason = ?, done_at = ? WHERE id = ?",
        (reason, iso(now), nudge_id),
    )


def nudges_due(tx: Unit, now: datetime, limit: int) -> list[NudgeRow]:
    rows = tx.named(
        f"SELECT {_NUDGE_COLUMNS} FROM nudges INDEXED BY nudges_due"
        " WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
        (iso(now), limit),
    )
    return [_nudge_row(r) for r in rows]


def next_wake(tx: Unit) -> datetime | None:
    """The next moment anything is due: a pending nudge, or a planned session starting."""
    row = tx.one(
        "SELECT MIN(t) FROM (SELECT MIN(due_at) AS t FROM nudges WHERE state = 'pending'"
        " UNION ALL SELECT MIN(starts_at) FROM sessions WHERE state = 'planned')"
    )
    return at(row[0]) if row else None


def reflected_since(tx: Unit, person_id: int, episode_id: int, since: datetime) -> bool:
    """A reflection in this sharing episode, or any reflection saved since `since`."""
    row = tx.one(
        "SELECT EXISTS (SELECT 1 FROM entries WHERE person_id = ? AND flow = 'reflection'"
        " AND status = 'saved' AND (episode_id = ? OR created_at >= ?))",
        (person_id, episode_id, iso(since)),
    )
    return bool(row[0])
