"""The organisation's daily upkeep, from the periodic sweep: leavers reminded a week before their
data goes and then erased as /forget would; entries past COREFLECT_RETENTION_DAYS announced a
fortnight ahead and then erased; old audit rows and refused tries pruned.

Each daily part runs at most once a day, recorded in `daily_runs` in the same unit of work as
what it did: a restart neither repeats nor skips it, and running it twice changes nothing more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.features.admin import db, people
from flows.features.admin.policy import Organisation
from flows.kernel.model import Outcome
from flows.kernel.turn import msg
from flows.store import audit
from flows.store.unit import Unit

NOTICE_AHEAD = timedelta(days=14)  # retention: the message comes this long before
LEAVER_REMINDER = timedelta(days=7)  # leavers: reminded this long before everything goes


def _lead(org: Organisation) -> timedelta:
    assert org.retention_days is not None
    return min(NOTICE_AHEAD, timedelta(days=org.retention_days))


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
        retention(org, tx, out, now)


def retention(org: Organisation, tx: Unit, out: Outcome, now: datetime) -> None:
    assert org.retention_days is not None
    lead = _lead(org)
    erased = erased_people = 0
    pending: set[int] = set()
    for person_id, (noticed_at, upto) in db.notices(tx).items():
        if now < noticed_at + lead:
            pending.add(person_id)  # still within its fortnight
            continue
        gone = db.erase_before(tx, person_id, upto)
        if gone:
            erased += gone
            erased_people += 1
    soon = now - (timedelta(days=org.retention_days) - lead)
    for person_id, count in db.old_entries(tx, soon).items():
        if person_id in pending:
            continue
        db.set_notice(tx, person_id, now, soon)
        audit.record(tx, "retention_notice", subject=person_id, detail=str(count))
        people.tell(
            tx,
            out,
            person_id,
            msg("retention_notice", count=count, on=_day(now + lead), days=org.retention_days),
            now,
        )
    audit.record(tx, "retention_run", detail=f"{erased} entries of {erased_people} people")
    if erased:
        out.scrub = True


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
