"""Supervision sessions (/supervision): planning, moving and cancelling them, for yourself or,
as a supervisor, for someone you supervise; and the buttons on a reminder."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flows.features.sessions import db as sessions_db
from flows.features.sessions import ready
from flows.features.sessions.db import SessionRow
from flows.features.sessions.reminders import (
    SNOOZE,
    duration,
    plan,
    plan_next_in_series,
    repeat,
    spoken,
)
from flows.features.supervision import db as sup_db
from flows.features.supervision import links as supervision
from flows.features.supervision.db import LinkRow
from flows.kernel import when
from flows.kernel.ids import number
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, msg, name_of
from flows.store.rows import iso

SESSION_TIMES = ("09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00")


def may_plan_for(t: Turn, worker_id: int) -> bool:
    """The worker themself, or their supervisor while the link is active."""
    if worker_id == t.person.id:
        return True
    link = sup_db.supervisor_link(t.tx, worker_id)
    return link is not None and link.supervisor_id == t.person.id


def supervisee(t: Turn, link_id: int) -> int | None:
    """The worker behind a supervisee's link id, while the presser supervises them."""
    link = sup_db.link(t.tx, link_id)
    if link is None or not link.active or link.supervisor_id != t.person.id:
        return None
    return link.worker_id


OWN_WITH_BUTTONS = 2  # of your own sessions, the next ones get Move and Cancel buttons here


def menu(t: Turn) -> None:
    """Your own sessions (the next two with buttons), and for a supervisor one line per person
    they supervise: their next session. Each person's own screen (/supervisees) sets, moves
    and cancels theirs, so this stays within 8 buttons however many people there are."""
    mine = sessions_db.sessions_planned(t.tx, t.person.id)
    links = sup_db.supervisee_links(t.tx, t.person.id)
    theirs = [
        (link.worker_id, sessions_db.sessions_planned(t.tx, link.worker_id)[:1]) for link in links
    ]
    rows: list[list[Button]] = []
    for session in mine[:OWN_WITH_BUTTONS]:
        rows.append(
            [
                Button(msg("button_session_move", when=short(t, session)), f"u:{session.id}:move"),
                Button(msg("button_session_cancel"), f"u:{session.id}:cancel"),
            ]
        )
    rows.append([Button(msg("button_session_new"), "u:new")])
    if len(links) == 1:
        name = name_of(t.tx, links[0].worker_id)
        rows.append([Button(msg("button_person_sessions", name=name), f"sv:{links[0].id}")])
    elif links:
        rows.append([Button(msg("button_people_sessions"), "sv:p0")])
    t.say(
        msg(
            "supervision_menu",
            mine=[listed(t, s) for s in mine],
            theirs=[
                {"name": name_of(t.tx, w), "sessions": [listed(t, s) for s in g]} for w, g in theirs
            ],
        ),
        rows,
    )


def next_session(t: Turn, worker_id: int) -> datetime | None:
    """When the worker's next supervision starts, if one is planned."""
    planned = sessions_db.sessions_planned(t.tx, worker_id)
    return planned[0].starts_at if planned else None


def person_lines(t: Turn, link: LinkRow) -> list[str]:
    """On a supervisee's own screen: their next session."""
    planned = sessions_db.sessions_planned(t.tx, link.worker_id)
    return [msg("person_next_session", session=listed(t, planned[0]) if planned else None)]


def person_buttons(t: Turn, link: LinkRow) -> list[list[Button]]:
    """On a supervisee's own screen: move or cancel their next session, or set one."""
    planned = sessions_db.sessions_planned(t.tx, link.worker_id)
    if planned:
        session = planned[0]
        return [
            [
                Button(msg("button_session_move", when=short(t, session)), f"u:{session.id}:move"),
                Button(msg("button_session_cancel"), f"u:{session.id}:cancel"),
            ]
        ]
    name = name_of(t.tx, link.worker_id)
    return [[Button(msg("button_session_for", name=name), f"u:new:l{link.id}")]]


def short(t: Turn, session: SessionRow) -> str:
    return when.to_local(session.starts_at, t.row.timezone).strftime("%a %-d %b %H:%M")


def listed(t: Turn, session: SessionRow) -> dict[str, Any]:
    return {
        "when": spoken(session.starts_at, t.now, t.row.timezone),
        "every": session.every,
        "repeat": repeat(session.every),
        "by_other": session.set_by != session.worker_id,
        "set_by": name_of(t.tx, session.set_by),
    }


def ask_when(t: Turn, worker_id: int, move: int | None) -> None:
    if not may_plan_for(t, worker_id):
        t.not_found()
        return
    t.conv.pending = {"kind": "session_when", "worker": worker_id, "move": move}
    t.say(*day_picker(t, 0))


def day_picker(t: Turn, week: int) -> tuple[str, list[list[Button]]]:
    """A week of day buttons (this one, or the next: `week` 0 or 1) and a way to the other:
    eight buttons at most."""
    pending = t.conv.pending or {}
    worker_id = int(pending.get("worker", t.person.id))
    t.conv.turn += 1
    today = when.to_local(t.now, t.row.timezone).date()
    days = [today + timedelta(days=n) for n in range(week * 7, week * 7 + 7)]
    buttons = [Button(d.strftime("%a %-d %b"), f"b:{t.conv.turn}:d{d.isoformat()}") for d in days]
    if week:
        buttons.append(Button(msg("button_sooner_days"), f"b:{t.conv.turn}:w0"))
    else:
        buttons.append(Button(msg("button_later_days"), f"b:{t.conv.turn}:w1"))
    name = name_of(t.tx, worker_id) if worker_id != t.person.id else ""
    return (
        msg("session_when", name=name, move=pending.get("move") is not None),
        [buttons[i : i + 3] for i in range(0, len(buttons), 3)],
    )


def ask_time(t: Turn, day: date) -> None:
    pending = t.conv.pending or {}
    pending.update(kind="session_time", day=day.isoformat())
    t.conv.pending = pending
    t.conv.turn += 1
    buttons = [Button(h, f"b:{t.conv.turn}:t{h.replace(':', '')}") for h in SESSION_TIMES]
    t.say(
        msg("session_time", day=day),
        [buttons[i : i + 4] for i in range(0, len(buttons), 4)],
    )


def turn_button(t: Turn, value: str) -> None:
    """Day, time and repeat buttons while a session is being set."""
    pending = t.conv.pending or {}
    if value in {"w0", "w1"} and pending.get("kind") == "session_when":
        t.out.clear_buttons = False
        t.out.replace = Reply(*day_picker(t, int(value[1])))
    elif value.startswith("d") and pending.get("kind") == "session_when":
        try:
            day = date.fromisoformat(value[1:])
        except ValueError:
            t.stale()
            return
        ask_time(t, day)
    elif (
        value.startswith("t")
        and pending.get("kind") == "session_time"
        and number(value[1:], 4) is not None
    ):
        at = when.parse_time(f"{value[1:3]}:{value[3:5]}")
        if at is None:
            t.stale()
            return
        chosen(t, datetime.combine(date.fromisoformat(pending["day"]), at))
    elif value.startswith("e") and pending.get("kind") == "session_repeat":
        every = value[1:] if value[1:] in when.EVERY else None
        save(t, when.from_iso_local(pending["local"]), every)
    else:
        t.stale()


def chosen(t: Turn, local: datetime) -> None:
    """A day and time in the chooser's own zone: past is refused; a new one asks about
    repeating, a moved one is saved at once."""
    pending = t.conv.pending or {}
    if when.to_utc(local, t.row.timezone) <= t.now:
        t.say(msg("session_past"))
        ask_when(t, int(pending.get("worker", t.person.id)), pending.get("move"))
        return
    if pending.get("move"):
        save(t, local, None)
        return
    pending.update(kind="session_repeat", local=when.iso_local(local))
    t.conv.pending = pending
    t.conv.turn += 1
    choices = ("once", *when.EVERY)
    t.say(
        msg(
            "session_repeat",
            when=spoken(when.to_utc(local, t.row.timezone), t.now, t.row.timezone),
        ),
        [[Button(msg("button_repeat", every=c), f"b:{t.conv.turn}:e{c}")] for c in choices],
    )


def save(t: Turn, local: datetime, every: str | None) -> None:
    pending = t.conv.pending or {}
    worker_id = int(pending.get("worker", t.person.id))
    move = pending.get("move")
    t.conv.pending = None
    t.out.clear_buttons = True
    if not may_plan_for(t, worker_id):
        t.not_found()
        return
    starts_at = when.to_utc(local, t.row.timezone)
    worker_tz = t.tx.timezone_of(worker_id)
    worker_local = when.iso_local(when.to_local(starts_at, worker_tz))
    if move:
        session = sessions_db.session(t.tx, int(move))
        if session is None or session.worker_id != worker_id or session.state != "planned":
            t.say(msg("session_gone"))
            return
        # Moving one session of a series moves the series' rhythm with it.
        series = worker_local if session.every else None
        sessions_db.session_move(t.tx, session.id, worker_local, starts_at, series_start=series)
        every = session.every
    else:
        sessions_db.session_create(
            t.tx,
            worker_id,
            t.person.id,
            worker_local,
            starts_at,
            every,
            worker_local if every else None,
        )
    plan(t.tx, worker_id, t.now)
    t.out.rearm = True
    settings = sessions_db.reminder_settings(t.tx, worker_id)
    name = name_of(t.tx, worker_id) if worker_id != t.person.id else ""
    t.say(
        msg(
            "session_saved",
            when=spoken(starts_at, t.now, t.row.timezone),
            every=every,
            repeat=repeat(every),
            name=name,
            moved=bool(move),
            first=duration(settings.first_before) if settings.first_before else "",
            second=duration(settings.second_before) if settings.second_before else "",
        )
    )
    tell_other_side(
        t, worker_id, starts_at, "session_moved_notice" if move else "session_set_notice", every
    )
    t.resume()


def tell_other_side(
    t: Turn, worker_id: int, starts_at: datetime, message: str, every: str | None
) -> None:
    """The worker and their supervisor both see sessions: the other one is told (names and
    dates only, through the gate)."""
    link = sup_db.supervisor_link(t.tx, worker_id)
    if link is None:
        return
    other = link.other(t.person.id)
    tz = t.tx.timezone_of(other)
    supervision.notice(
        t.tx,
        t.out,
        link.id,
        other,
        message,
        t.now,
        t.person.id,
        when=spoken(starts_at, t.now, tz),
        every=every,
        repeat=repeat(every),
        for_worker=other == worker_id,
    )


def session_button(t: Turn, session_id: int, action: str) -> None:
    session = sessions_db.session(t.tx, session_id)
    if session is None or not may_plan_for(t, session.worker_id):
        t.not_found()
        return
    if session.state != "planned":
        t.out.clear_buttons = True
        t.say(msg("session_gone"))
        return
    label = spoken(session.starts_at, t.now, t.row.timezone)
    if action == "move":
        ask_when(t, session.worker_id, session.id)
    elif action == "cancel" or (
        action in {"one", "all"} and not t.confirmed(f"u:{session.id}:cancel")
    ):
        t.asking_to_confirm(f"u:{session.id}:cancel")
        one = msg("button_cancel_one", every=session.every)
        rows = [[Button(one, f"u:{session.id}:one")]]
        if session.every:
            rows.append([Button(msg("button_cancel_all"), f"u:{session.id}:all")])
        rows.append([Button(msg("button_keep_session"), f"u:{session.id}:keep")])
        t.say(msg("session_cancel_confirm", when=label, every=session.every), rows)
    elif action in {"one", "all"}:
        t.out.clear_buttons = True
        sessions_db.session_state(t.tx, session.id, "cancelled")
        if action == "one":
            plan_next_in_series(t.tx, session, t.now)
        plan(t.tx, session.worker_id, t.now)
        t.out.rearm = True
        t.say(msg("session_cancelled", when=label, all=action == "all" and bool(session.every)))
        tell_other_side(t, session.worker_id, session.starts_at, "session_cancelled_notice", None)
    else:
        t.confirmed(f"u:{session.id}:cancel")  # no longer waiting on it
        t.out.clear_buttons = True
        t.out.toast = msg("session_kept")


def nudge_button(t: Turn, nudge_id: int, action: str) -> None:
    nudge = sessions_db.nudge(t.tx, nudge_id)
    if nudge is None or nudge.person_id != t.person.id:
        t.not_found()
        return
    t.out.clear_buttons = True
    if action in {"ready", "prep"}:  # "prep": a "Prepare now" button already in a chat
        ready.get_ready(t)
    elif action == "snooze":
        session = sessions_db.session(t.tx, nudge.session_id) if nudge.session_id else None
        if session is None or session.state != "planned" or session.starts_at <= t.now:
            t.out.toast = msg("nudge_over")
            return
        if session.starts_at - t.now <= SNOOZE:
            t.out.toast = msg("snooze_too_late")
            return
        due = t.now + SNOOZE
        sessions_db.nudge_plan(
            t.tx,
            t.person.id,
            "snooze",
            f"z:{nudge.id}:{iso(t.now)}",
            due,
            session.starts_at,
            session_id=session.id,
        )
        t.out.rearm = True
        t.out.toast = msg("snoozed", at=when.to_local(due, t.row.timezone))
    elif action == "skip":
        if nudge.session_id is not None:
            for other in sessions_db.nudges_pending(t.tx, t.person.id):
                if other.session_id == nudge.session_id:
                    sessions_db.nudge_end(t.tx, other.id, "cancelled", "not this time", t.now)
            t.out.rearm = True
            t.out.toast = msg("not_this_time")
        else:
            t.out.toast = msg("nudge_dismissed")
    elif action == "note" and nudge.session_id is not None:
        # A private note of the session, for them alone: a journal entry linked to it.
        t.command("journal")
        if t.conv.flow == "journal" and t.conv.entry_id is not None:
            t.tx.conn.execute(
                "INSERT OR IGNORE INTO session_notes (entry_id, session_id) VALUES (?, ?)",
                (t.conv.entry_id, nudge.session_id),
            )
    elif action in {"reflect", "journal"}:
        t.command("reflect" if action == "reflect" else "journal")
        check = t.tx.entry(t.person.id, nudge.entry_id) if nudge.entry_id else None
        if action == "reflect" and check is not None and t.conv.flow == "reflection":
            assert t.conv.entry_id is not None
            t.tx.set_entry_episode(t.conv.entry_id, check.episode_id)
    else:
        t.not_found()
