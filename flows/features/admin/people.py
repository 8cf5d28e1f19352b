"""What an administrator can mark about a person: approved as a supervisor (or no longer), and
having left. Ending someone's links here works as their own unlink would: live summaries are
withdrawn, the other side is told, and so are they."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.features.admin import db
from flows.features.supervision import db as sup_db
from flows.features.supervision.links import end_link
from flows.features.supervision.sharing import end_share
from flows.kernel import gate
from flows.kernel.model import Outcome, Reply
from flows.kernel.turn import msg
from flows.store.unit import Unit


def end_links(
    tx: Unit, out: Outcome, person_id: int, now: datetime, why: str, supervising: bool
) -> int:
    """End `person_id`'s links (only those where they supervise, if `supervising`); returns how
    many ended."""
    links = sup_db.supervisee_links(tx, person_id)
    mine = sup_db.supervisor_link(tx, person_id)
    if mine is not None and not supervising:
        links = [mine, *links]
    for link in links:
        live = [
            share
            for share in sup_db.shares_by_worker(tx, link.worker_id, -1, 0)
            if share.link_id == link.id and share.live(now)
        ]
        for share in live:
            end_share(tx, out, share, "withdrawn", now, tell=False)
        end_link(tx, out, link, person_id, now, "org_link_ended", why=why, withdrawn=len(live))
    return len(links)


def tell(tx: Unit, out: Outcome, person_id: int, html: str, now: datetime) -> None:
    """Catalogue wording from the organisation's side, to someone the service holds."""
    gate.send(tx, out, person_id, [Reply(html)], gate.OrgNotice(person_id), now)


def withdraw_approval(tx: Unit, out: Outcome, person_id: int, now: datetime) -> int | None:
    """None if they were not approved; else how many links ended."""
    if not db.unapprove(tx, person_id):
        return None
    ended = end_links(tx, out, person_id, now, "unapproved", supervising=True)
    tell(tx, out, person_id, msg("org_unapproved_notice", links=ended), now)
    return ended


def mark_left(tx: Unit, out: Outcome, person_id: int, now: datetime, days: int) -> bool:
    if not db.mark_left(tx, person_id, now):
        return False
    ended = end_links(tx, out, person_id, now, "left", supervising=False)
    until = now + timedelta(days=days)
    tell(
        tx,
        out,
        person_id,
        msg("org_left_notice", until=until.strftime("%-d %B %Y"), links=ended),
        now,
    )
    return True
