"""A supervisor's weekly digest (opt-in, in /reminders): on the day and time they choose, the
sessions in the coming week and what is new per person, as labels only (never anyone's words),
through the gate (Digest: every person named is supervised by them over an active link)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.features.sessions import db as sessions_db
from flows.features.sessions.db import NudgeRow, ReminderSettings
from flows.features.supervision import db as sup_db
from flows.kernel import gate, when
from flows.kernel.model import Button, Outcome, Reply, reply_to_json
from flows.kernel.turn import msg, title_of
from flows.store.unit import Unit

DIGEST_USEFUL = timedelta(hours=6)
WEEK = timedelta(days=7)
SHOWN = 10  # people in one digest; the rest are counted


def plan(tx: Unit, person_id: int, settings: ReminderSettings, now: datetime) -> str | None:
    """Plan the next digest, if they chose one and supervise someone; its key, or None."""
    if settings.digest_day is None or not sup_db.supervisee_links(tx, person_id):
        return None
    tz = tx.timezone_of(person_id)
    after = max(now, settings.paused_until or now)
    slot = when.next_weekly(after, tz, settings.digest_day, settings.digest_time)
    due = when.out_of_quiet(slot, tz, settings.quiet_start, settings.quiet_end)
    key = f"g:{when.to_local(slot, tz).date().isoformat()}"
    sessions_db.nudge_plan(tx, person_id, "digest", key, due, due + DIGEST_USEFUL)
    return key


def unfit(tx: Unit, nudge: NudgeRow) -> str | None:
    if not sup_db.supervisee_links(tx, nudge.person_id):
        return "nobody to tell them about"
    if sessions_db.reminder_settings(tx, nudge.person_id).digest_day is None:
        return "switched off"
    return None


def render(tx: Unit, nudge: NudgeRow, now: datetime) -> Reply:
    """Labels only: for each person, their sessions in the coming week, and how many things
    they shared since last week (by kind)."""
    tz = tx.timezone_of(nudge.person_id)
    links = sup_db.supervisee_links(tx, nudge.person_id)
    people = []
    for link in links[:SHOWN]:
        sessions = [
            s.starts_at
            for s in sessions_db.sessions_planned(tx, link.worker_id)
            if s.starts_at < now + WEEK
        ]
        shared = [
            s
            for s in sup_db.shares_for_supervisor(tx, nudge.person_id, now, 200, 0, link.id)
            if s.created_at > now - WEEK
        ]
        kinds: dict[str, int] = {}
        for share in shared:
            label = _label(tx, share)
            kinds[label] = kinds.get(label, 0) + 1
        people.append(
            {
                "name": tx.name_of(link.worker_id),
                "sessions": [when.to_local(s, tz) for s in sessions],
                "shared": [{"what": k, "count": n} for k, n in kinds.items()],
            }
        )
    html = msg("digest", people=people, more=max(0, len(links) - SHOWN))
    return Reply(html, [[Button(msg("button_people"), "sv:p0")]])


def _label(tx: Unit, share: sup_db.ShareRow) -> str:
    if share.kind == "pack":
        return msg("digest_pack")
    entry = tx.entry(share.worker_id, share.answers[0][0]) if share.answers else None
    return title_of(entry.flow) if entry else msg("digest_pack")


def queue(tx: Unit, nudge: NudgeRow, reply: Reply, now: datetime) -> int:
    """Into the outbox through the gate, in this unit of work; the outbox row's id."""
    out = Outcome()
    links = tuple(link.id for link in sup_db.supervisee_links(tx, nudge.person_id))
    gate.send(tx, out, nudge.person_id, [reply], gate.Digest(links), now, asked=True)
    ((to, checked),) = out.others
    checked.guard = ("nudge", nudge.id)
    (outbox_id,) = tx.outbox_add(to, [reply_to_json(checked)], checked.guard)
    return outbox_id
