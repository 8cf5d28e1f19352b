"""The organisation's daily upkeep, from the periodic sweep: leavers reminded a week before their
data goes and then erased as /forget would; entries past COREFLECT_RETENTION_DAYS announced a
fortnight ahead and then erased; old audit rows and refused tries pruned.

Each daily part runs at most once a day, recorded in `daily_runs` in the same unit of work as
what it did: a restart neither repeats nor skips it, and running it twice changes nothing more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.features.admin import db, people, retention
from flows.features.admin.policy import Organisation
from flows.kernel.model import Outcome
from flows.kernel.turn import msg
from flows.store import audit
from flows.store.unit import Unit

LEAVER_REMINDER = timedelta(days=7)  # leavers: reminded this long before everything goes


def sweep(org: Organisation, tx: Unit, out: Outcome, now: datetime) -> None:
    if not db.daily_due(tx, "organisation", now):
        return
    db.prune_refusals(tx, now - timedelta(days=1))
    audit.prune(tx, org.audit_days)
    for person_id, left, warned in db.leavers(tx):
        ends = left + timedelta(days=org.leaver_days)
        if not warned and now >= ends - LEAVER_REMINDER:
            db.leaver_warned(tx, person_id)
            people.tell(tx, out, person_id, msg("org_leaver_reminder", until=_day(ends)), now)
    if org.retention_days is not None:
        retention.run(org, tx, out, now)


def erasures(org: Organisation, tx: Unit, out: Outcome, now: datetime) -> list[int]:
    """Leavers whose period is over: erased now, as their own /forget would."""
    due = [
        person_id
        for person_id, left, _ in db.leavers(tx)
        if now >= left + timedelta(days=org.leaver_days)
    ]
    for person_id in due:
        audit.record(tx, "leaver_erased", subject=person_id)
    return due


def _day(moment: datetime) -> str:
    return moment.strftime("%-d %B %Y")
