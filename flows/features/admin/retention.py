"""Retention (COREFLECT_RETENTION_DAYS): entries past the period are announced a fortnight ahead,
then erased, and what followed from them goes too: a summary that shared any of their answers
(withdrawn first if still live, so the supervisor's copies are deleted where Telegram allows), a
team post drawn from one (withdrawn the same way), and a co-reflection round that used one."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.features.admin import db
from flows.features.admin.people import tell
from flows.features.admin.policy import Organisation
from flows.features.supervision import db as sup_db
from flows.features.supervision.sharing import end_share
from flows.features.team import db as team_db
from flows.features.team.ending import end_post
from flows.kernel.model import Outcome
from flows.kernel.turn import msg
from flows.store import audit
from flows.store.unit import Unit

NOTICE_AHEAD = timedelta(days=14)  # the message comes this long before


def erase_before(tx: Unit, out: Outcome, person_id: int, before: datetime, now: datetime) -> int:
    """The person's entries written before `before` go, and what followed from them."""
    entries = db.entries_before(tx, person_id, before)
    if not entries:
        return 0
    gone = set(entries)
    shares = []
    for share in sup_db.shares_by_worker(tx, person_id, -1, 0):
        if share.subject in gone or any(entry in gone for entry, _ in share.answers):
            if share.live(now):
                end_share(tx, out, share, "withdrawn", now)
            shares.append(share.id)
    posts = []
    for post in team_db.team_posts_by_worker(tx, person_id):
        if post.entry_id in gone or post.share_id in shares:
            if post.state in {"posted", "consented"}:
                end_post(tx, out, post, team_db.team_group(tx, post.group_id), now)
            posts.append(post.id)
    db.erase(tx, "team_posts", posts)
    db.erase(tx, "shares", shares)
    db.erase(tx, "coreflections", db.rounds_with(tx, entries))
    db.erase(tx, "entries", entries)
    out.scrub = True
    return len(entries)


def run(org: Organisation, tx: Unit, out: Outcome, now: datetime) -> None:
    """Once a day: erase what was announced a fortnight ago, announce what is next."""
    assert org.retention_days is not None
    period = timedelta(days=org.retention_days)
    lead = min(NOTICE_AHEAD, period)
    erased = erased_people = 0
    pending: set[int] = set()
    for person_id, (noticed_at, upto) in db.notices(tx).items():
        if now < noticed_at + lead:
            pending.add(person_id)  # still within its fortnight
            continue
        # Only what the notice covered, and only if it is past the period by now.
        gone = erase_before(tx, out, person_id, min(upto, now - period), now)
        if gone:
            erased += gone
            erased_people += 1
    soon = now - (period - lead)
    for person_id, count in db.old_entries(tx, soon).items():
        if person_id in pending:
            continue
        db.set_notice(tx, person_id, now, soon)
        audit.record(tx, "retention_notice", subject=person_id, detail=str(count))
        on = (now + lead).strftime("%-d %B %Y")
        tell(tx, out, person_id, msg("retention_notice", count=count, on=on, days=period.days), now)
    audit.record(tx, "retention_run", detail=f"{erased} entries of {erased_people} people")
