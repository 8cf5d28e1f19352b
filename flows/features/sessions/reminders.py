"""The nudges that help people arrive prepared (never nag).

The database is the truth. `plan` works out, for one person, which nudges should exist from
their sessions and settings, and writes them as rows (each with a key, so planning again never
makes a second); `process` turns the ones that are due into outbox rows in the same transaction
that marks them sent, or drops them with a reason when they are no longer useful. The bot's
scheduler is only an alarm clock for `next_wake`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flows.features.plans import review
from flows.features.sessions import db as sessions_db
from flows.features.sessions import digest
from flows.features.sessions.db import NudgeRow, ReminderSettings, SessionRow
from flows.features.supervision import db as sup_db
from flows.features.supervision import steps
from flows.kernel import when
from flows.kernel.export import iso_z
from flows.kernel.model import Button, Reply, reply_to_json
from flows.kernel.turn import Turn, msg, title_of
from flows.store.rows import iso
from flows.store.unit import Unit

log = logging.getLogger(__name__)


SNOOZE = timedelta(hours=2)


REFLECT_USEFUL = timedelta(hours=12)  # an invitation to reflect later than this is dropped


WEEKLY_USEFUL = timedelta(hours=6)


BATCH = 100  # due nudges turned into outbox rows per unit of work (short: replies wait behind it)


def _key_start(nudge: NudgeRow) -> str:
    return nudge.key.split(":", 3)[3] if nudge.kind == "session" else ""


def duration(minutes: int) -> str:
    return msg("duration", minutes=minutes)


def repeat(every: str | None) -> str:
    return msg("repeat_words", every=every) if every else ""


def plan(tx: Unit, person_id: int, now: datetime) -> None:
    """Make the person's pending nudges match their sessions and settings, and their
    supervisor's too (who is reminded of the same sessions, by their own settings).

    Idempotent: each nudge has a key; one already sent or dropped is never made again, and
    one already due is left for `process` (so a nudge missed while the bot was down is
    still seen, and either sent or dropped with a reason).
    """
    plan_one(tx, person_id, now)
    link = sup_db.supervisor_link(tx, person_id)
    if link is not None:
        plan_one(tx, link.supervisor_id, now)


def sessions_reminded(tx: Unit, person_id: int) -> list[SessionRow]:
    """The sessions a person is reminded of: their own, and those of everyone they supervise."""
    found = sessions_db.sessions_planned(tx, person_id)
    for link in sup_db.supervisee_links(tx, person_id):
        found += sessions_db.sessions_planned(tx, link.worker_id)
    return found


def plan_one(tx: Unit, person_id: int, now: datetime) -> None:
    settings = sessions_db.reminder_settings(tx, person_id)
    tz = tx.timezone_of(person_id)
    wanted: set[str] = set()
    for session in sessions_reminded(tx, person_id):
        if session.starts_at <= now:
            continue
        for lead in (settings.first_before, settings.second_before):
            due = session.starts_at - timedelta(minutes=lead)
            if not lead or due <= now:
                continue
            key = f"s:{session.id}:{lead}:{iso(session.starts_at)}"
            sessions_db.nudge_plan(
                tx, person_id, "session", key, due, session.starts_at, session_id=session.id
            )
            wanted.add(key)
    if settings.weekly_day is not None:
        after = max(now, settings.paused_until or now)
        slot = when.next_weekly(after, tz, settings.weekly_day, settings.weekly_time)
        due = when.out_of_quiet(slot, tz, settings.quiet_start, settings.quiet_end)
        key = f"w:{when.to_local(slot, tz).date().isoformat()}"
        sessions_db.nudge_plan(tx, person_id, "weekly", key, due, due + WEEKLY_USEFUL)
        wanted.add(key)
    if (digest_key := digest.plan(tx, person_id, settings, now)) is not None:
        wanted.add(digest_key)
    if settings.plan_review_months:
        for entry in review.current_plans(tx, person_id):
            quiet = (settings.quiet_start, settings.quiet_end)
            due = review.review_due(
                entry,
                settings.plan_review_months,
                tz,
                settings.weekly_time,
                quiet,
                settings.paused_until,
            )
            key = review.review_key(entry)
            sessions_db.nudge_plan(
                tx, person_id, "plan", key, due, due + review.REVIEW_USEFUL, entry_id=entry.id
            )
            wanted.add(key)
    for nudge in sessions_db.nudges_pending(tx, person_id):
        if nudge.due_at <= now:
            continue  # due: `process` sends or drops it
        if nudge.kind in {"session", "weekly", "digest", "plan"} and nudge.key not in wanted:
            sessions_db.nudge_end(tx, nudge.id, "cancelled", "no longer planned", now)
        elif nudge.kind == "reflect" and nudge.base_at is not None:
            if not settings.reflect_after:
                sessions_db.nudge_end(tx, nudge.id, "cancelled", "switched off", now)
                continue
            due = reflect_due(nudge.base_at, settings, tz)
            sessions_db.nudge_plan(tx, person_id, "reflect", nudge.key, due, due + REFLECT_USEFUL)


def reflect_due(base: datetime, settings: ReminderSettings, tz: str) -> datetime:
    due = base + timedelta(minutes=settings.reflect_after)
    return when.out_of_quiet(due, tz, settings.quiet_start, settings.quiet_end)


def after_check(t: Turn, entry_id: int) -> None:
    """An in-the-moment check was saved: later, one gentle invitation to reflect on it."""
    settings = sessions_db.reminder_settings(t.tx, t.person.id)
    if not settings.reflect_after:
        return
    due = reflect_due(t.now, settings, t.row.timezone)
    sessions_db.nudge_plan(
        t.tx,
        t.person.id,
        "reflect",
        f"r:{entry_id}",
        due,
        due + REFLECT_USEFUL,
        entry_id=entry_id,
        base_at=t.now,
    )
    t.out.rearm = True


def timezone_changed(t: Turn) -> None:
    """Schedules follow the zone: every planned session keeps its wall-clock time."""
    for session in sessions_db.sessions_planned(t.tx, t.person.id):
        sessions_db.session_move(
            t.tx,
            session.id,
            when.iso_local(session.local_start),
            when.to_utc(session.local_start, t.row.timezone),
        )
    plan(t.tx, t.person.id, t.now)
    t.out.rearm = True


def process(tx: Unit, now: datetime) -> list[tuple[int, int, Reply]]:
    """Sessions that have started are held (a repeating one plans its next); due nudges
    become outbox rows, marked sent in the same transaction, or are dropped with a reason.

    Returns (outbox id, chat id, reply) for the bot to send.
    """
    touched: set[int] = set()
    for session in sessions_db.sessions_started(tx, now, BATCH):
        sessions_db.session_state(tx, session.id, "held")
        plan_next_in_series(tx, session, now)
        touched.add(session.worker_id)
        ask_what_was_agreed(tx, session)
    rows: list[tuple[int, int, Reply]] = []
    quietened: set[int] = set()
    for nudge in sessions_db.nudges_due(tx, now, BATCH):
        if nudge.id in quietened:
            continue
        touched.add(nudge.person_id)
        reason = unfit(tx, nudge, now)
        if reason is not None:
            sessions_db.nudge_end(tx, nudge.id, "dropped", reason, now)
            log.info("nudge %d (%s) dropped: %s", nudge.id, nudge.kind, reason)
            continue
        reply = render(tx, nudge, now)
        reply.guard = ("nudge", nudge.id)
        sessions_db.nudge_end(tx, nudge.id, "sent", "", now)
        if nudge.session_id is not None:
            # Sent late (the bot was down) or snoozed: another reminder about the same
            # session within the next two hours would only nag.
            for other in sessions_db.nudges_pending(tx, nudge.person_id):
                if other.session_id == nudge.session_id and other.due_at <= now + SNOOZE:
                    sessions_db.nudge_end(tx, other.id, "cancelled", "just reminded", now)
                    quietened.add(other.id)
        if nudge.kind == "digest":
            outbox_id = digest.queue(tx, nudge, reply, now)  # through the gate
        else:
            (outbox_id,) = tx.outbox_add(nudge.person_id, [reply_to_json(reply)], reply.guard)
        rows.append((outbox_id, nudge.person_id, reply))
    for person_id in touched:
        plan(tx, person_id, now)
    return rows


AGREE_AFTER = timedelta(hours=1)  # a session's length is not known: ask an hour after it starts
AGREE_USEFUL = timedelta(days=3)


def ask_what_was_agreed(tx: Unit, session: SessionRow) -> None:
    """A session has started: afterwards, both people are asked once what they agreed (each
    out of their own quiet hours)."""
    link = sup_db.supervisor_link(tx, session.worker_id)
    if link is None:
        return
    for person_id in (link.worker_id, link.supervisor_id):
        settings = sessions_db.reminder_settings(tx, person_id)
        tz = tx.timezone_of(person_id)
        due = session.starts_at + AGREE_AFTER
        due = when.out_of_quiet(due, tz, settings.quiet_start, settings.quiet_end)
        sessions_db.nudge_plan(
            tx,
            person_id,
            "agree",
            f"a:{session.id}",
            due,
            due + AGREE_USEFUL,
            session_id=session.id,
        )


def unfit(tx: Unit, nudge: NudgeRow, now: datetime) -> str | None:
    """Why a due nudge should not be sent now, or None if it should."""
    if nudge.useful_until <= now:
        return "too late to be useful"
    settings = sessions_db.reminder_settings(tx, nudge.person_id)
    if settings.paused_until is not None and settings.paused_until > now:
        return "paused"
    if nudge.kind in {"session", "snooze"}:
        session = sessions_db.session(tx, nudge.session_id) if nudge.session_id else None
        if session is None or session.state != "planned" or session.starts_at <= now:
            return "session cancelled or started"
        if session.worker_id != nudge.person_id:
            link = sup_db.supervisor_link(tx, session.worker_id)
            if link is None or link.supervisor_id != nudge.person_id:
                return "no longer their supervisor"
        if nudge.kind == "session" and _key_start(nudge) != iso(session.starts_at):
            return "session moved"
    if nudge.kind == "agree":
        session = sessions_db.session(tx, nudge.session_id) if nudge.session_id else None
        link = sup_db.supervisor_link(tx, session.worker_id) if session else None
        if link is None or not link.has(nudge.person_id):
            return "no longer linked"
    if nudge.kind == "digest":
        return digest.unfit(tx, nudge)
    if nudge.kind == "plan":
        entry = tx.entry(nudge.person_id, nudge.entry_id) if nudge.entry_id else None
        if entry is None or entry.superseded_at is not None:
            return "plan changed or deleted"
        if review.review_key(entry) != nudge.key:
            return "looked over since"
    if nudge.kind == "reflect":
        entry = tx.entry(nudge.person_id, nudge.entry_id) if nudge.entry_id else None
        if entry is None:
            return "check deleted"
        if sessions_db.reflected_since(tx, nudge.person_id, entry.episode_id, entry.created_at):
            return "already reflected"
    return None


def still_useful(tx: Unit, nudge_id: int, now: datetime) -> bool:
    nudge = sessions_db.nudge(tx, nudge_id)
    reason = "gone" if nudge is None else unfit(tx, nudge, now)
    if reason is not None:
        sessions_db.nudge_withheld(tx, nudge_id, reason, now)
        log.info("nudge %d withheld at the last moment: %s", nudge_id, reason)
    return reason is None


def plan_next_in_series(tx: Unit, session: SessionRow, now: datetime) -> None:
    """A repeating session keeps its rhythm from the series' first start."""
    if session.every is None or session.series_start is None:
        return
    tz = tx.timezone_of(session.worker_id)
    after = max(now, session.starts_at)
    for n in range(1, 2000):
        local = when.repeat(session.series_start, session.every, n)
        moment = when.to_utc(local, tz)
        if moment > after:
            sessions_db.session_create(
                tx,
                session.worker_id,
                session.set_by,
                when.iso_local(local),
                moment,
                session.every,
                when.iso_local(session.series_start),
            )
            return


def render(tx: Unit, nudge: NudgeRow, now: datetime) -> Reply:
    tz = tx.timezone_of(nudge.person_id)
    if nudge.kind in {"session", "snooze"}:
        assert nudge.session_id is not None
        session = sessions_db.session(tx, nudge.session_id)
        assert session is not None
        if session.worker_id != nudge.person_id:
            return for_supervisor(tx, nudge, session, now)
        last = sessions_db.last_session_held(tx, nudge.person_id, session.starts_at)
        pack_at = sup_db.last_pack_at(tx, nudge.person_id)
        shared = pack_at is not None and (last is None or pack_at > last)
        link = sup_db.supervisor_link(tx, nudge.person_id)
        flagged = len(tx.entries(nudge.person_id, limit=200, flagged=True, flagged_since=pack_at))
        html = msg(
            "nudge_session",
            when=spoken(session.starts_at, now, tz),
            shared=shared,
            flagged=flagged,
            name=tx.name_of(link.supervisor_id) if link else "",
            steps=[s.text for s in steps.agreed(tx, link.id)] if link else [],
        )
        if shared:
            return Reply(html)
        row = [Button(msg("button_get_ready"), f"N:{nudge.id}:ready")]
        if session.starts_at - now > SNOOZE:
            row.append(Button(msg("button_snooze"), f"N:{nudge.id}:snooze"))
        return Reply(html, [row, [Button(msg("button_not_this_time"), f"N:{nudge.id}:skip")]])
    if nudge.kind == "digest":
        return digest.render(tx, nudge, now)
    if nudge.kind == "plan":
        entry = tx.entry(nudge.person_id, nudge.entry_id) if nudge.entry_id else None
        assert entry is not None
        html = msg(
            "nudge_plan_review",
            title=title_of(entry.flow),
            when=when.to_local(review.reviewed_at(entry), tz),
        )
        return Reply(html, [[Button(msg("button_review_plan"), f"pl:{entry.id}:review")]])
    if nudge.kind == "agree":
        session = sessions_db.session(tx, nudge.session_id) if nudge.session_id else None
        link = sup_db.supervisor_link(tx, session.worker_id) if session else None
        assert link is not None  # `unfit` checked it in this same unit of work
        return Reply(
            msg("nudge_agree", name=tx.name_of(link.other(nudge.person_id))),
            [
                [Button(msg("button_write_step"), f"st:new:{link.id}")],
                [Button(msg("button_session_note"), f"N:{nudge.id}:note")],
                [Button(msg("button_not_now"), f"N:{nudge.id}:skip")],
            ],
        )
    if nudge.kind == "reflect":
        return Reply(
            msg("nudge_reflect"),
            [
                [
                    Button(msg("button_reflect_now"), f"N:{nudge.id}:reflect"),
                    Button(msg("button_not_now"), f"N:{nudge.id}:skip"),
                ]
            ],
        )
    return Reply(
        msg("nudge_weekly"),
        [
            [
                Button(msg("button_reflect_now"), f"N:{nudge.id}:reflect"),
                Button(msg("button_write_journal"), f"N:{nudge.id}:journal"),
            ],
            [Button(msg("button_not_this_week"), f"N:{nudge.id}:skip")],
        ],
    )


def for_supervisor(tx: Unit, nudge: NudgeRow, session: SessionRow, now: datetime) -> Reply:
    """The supervisor's own reminder of a supervisee's session: whether the worker has shared
    anything for it (how many things, never what), and a way to their screen."""
    tz = tx.timezone_of(nudge.person_id)
    link = sup_db.supervisor_link(tx, session.worker_id)
    assert link is not None  # `unfit` checked it in this same unit of work
    since = sessions_db.last_session_held(tx, session.worker_id, session.starts_at)
    shared = [
        s
        for s in sup_db.shares_for_supervisor(tx, nudge.person_id, now, 200, 0, link.id)
        if since is None or s.created_at > since
    ]
    html = msg(
        "nudge_session_supervisor",
        when=spoken(session.starts_at, now, tz),
        name=tx.name_of(session.worker_id),
        shared=len(shared),
        steps=[s.text for s in steps.agreed(tx, link.id)],
    )
    return Reply(
        html,
        [
            [
                Button(
                    msg("button_open_person", name=tx.name_of(session.worker_id)), f"sv:{link.id}"
                )
            ],
            [Button(msg("button_not_this_time"), f"N:{nudge.id}:skip")],
        ],
    )


def spoken(moment: datetime, now: datetime, tz: str) -> str:
    """ "today at 14:00", "tomorrow at 14:00" or "on Tue 8 Dec at 14:00", in their zone."""
    local, today = when.to_local(moment, tz), when.to_local(now, tz).date()
    days = (local.date() - today).days
    return msg("weekday", local=local, days=days)


def export(tx: Unit, person_id: int) -> list[dict[str, Any]]:
    """Everything held about the person's schedules, as docs/export-format.md describes."""
    items: list[dict[str, Any]] = [
        {
            "kind": "session",
            "id": s.id,
            "starts_at": iso_z(s.starts_at),
            "local_start": when.iso_local(s.local_start),
            "every": s.every,
            "state": s.state,
            "set_by": s.set_by,
        }
        for s in sessions_db.sessions_all(tx, person_id)
    ]
    items += [
        {
            "kind": "nudge",
            "id": n.id,
            "about": n.kind,
            "session_id": n.session_id,
            "entry_id": n.entry_id,
            "due_at": iso_z(n.due_at),
            "state": n.state,
            "reason": reason,
        }
        for n, reason in sessions_db.nudges_all(tx, person_id)
    ]
    items += [
        {
            "kind": "agreed_step",
            "id": s.id,
            "text": s.text,
            "state": s.state,
            "written_by": s.proposed_by,
            "created_at": iso_z(s.created_at),
            "done_at": None if s.done_at is None else iso_z(s.done_at),
        }
        for s in steps.of_worker(tx, person_id)
    ]
    if sessions_db.has_reminder_settings(tx, person_id):
        r = sessions_db.reminder_settings(tx, person_id)
        items.append(
            {
                "kind": "reminders",
                "first_before_minutes": r.first_before,
                "second_before_minutes": r.second_before,
                "reflect_after_minutes": r.reflect_after,
                "weekly_day": r.weekly_day,
                "weekly_time": r.weekly_time,
                "quiet_start": r.quiet_start,
                "quiet_end": r.quiet_end,
                "paused_until": None if r.paused_until is None else iso_z(r.paused_until),
                "digest_day": r.digest_day,
                "digest_time": r.digest_time,
            }
        )
    return items
