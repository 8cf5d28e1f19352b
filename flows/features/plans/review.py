"""When a plan is next due a look over: its last review (the latest version's last save) plus
the person's chosen number of months, at their weekly time, out of quiet hours and after any
pause. The reminder itself is a nudge, sent by sessions' reminders like every other."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.kernel import when
from flows.kernel.turn import wording
from flows.store.rows import EntryRow
from flows.store.unit import Unit

REVIEW_USEFUL = timedelta(days=7)  # a review invitation missed for longer is dropped


def current_plans(tx: Unit, person_id: int) -> list[EntryRow]:
    """The latest version of each of the person's plans."""
    names = [f.name for f in wording().flows.values() if f.plan]
    if not names:
        return []
    return tx.entries(person_id, limit=len(names) * 4, flows=names, statuses=("saved",))


def reviewed_at(entry: EntryRow) -> datetime:
    return entry.updated_at or entry.created_at


def review_due(
    entry: EntryRow,
    months: int,
    tz: str,
    at: str,
    quiet: tuple[str, str],
    paused_until: datetime | None,
) -> datetime:
    """When to invite them to look this plan over (UTC)."""
    local = when.to_local(reviewed_at(entry), tz)
    hour, minute = (int(x) for x in at.split(":"))
    day = when.add_months(local.date(), months)
    due = when.to_utc(
        datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute), tz
    )
    if paused_until is not None and due < paused_until:
        due = paused_until
    return when.out_of_quiet(due, tz, *quiet)


def review_key(entry: EntryRow) -> str:
    """One invitation per review: looking the plan over again makes the next one."""
    return f"p:{entry.id}:{reviewed_at(entry).isoformat()}"
