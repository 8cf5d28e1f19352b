"""Supervision sessions, and the nudges that help people arrive prepared (never nag).

The database is the truth. `plan` works out, for one person, which nudges should exist from
their sessions and settings, and writes them as rows (each with a key, so planning again never
makes a second); `process` turns the ones that are due into outbox rows in the same transaction
that marks them sent, or drops them with a reason when they are no longer useful. The bot's
scheduler is only an alarm clock for `Store.next_wake`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flows.features.sessions import db as sessions_db
from flows.features.sessions.db import NudgeRow, ReminderSettings, SessionRow
from flows.features.supervision import db as sup_db
from flows.kernel import when
from flows.kernel.export import iso_z
from flows.kernel.model import Button, Reply, reply_to_json
from flows.kernel.turn import Turn
from flows.store.rows import iso
from flows.store.unit import Unit

if TYPE_CHECKING:
    from flows.questions.catalogue import Catalogue
    from flows.service import Service

log = logging.getLogger(__name__)

NUDGE_COMMANDS = ("supervision", "reminders")
FIRST_BEFORE = (1440, 2880, 720, 0)  # minutes before a session; 0: off (the first is the default)
SECOND_BEFORE = (60, 120, 30, 0)
REFLECT_AFTER = (240, 120, 480, 0)
QUIET = (("21:00", "08:00"), ("22:00", "07:00"), ("20:00", "09:00"), ("00:00", "00:00"))
WEEKLY_TIMES = ("08:00", "09:00", "12:00", "13:00", "17:00", "18:00", "19:00", "20:00")
SESSION_TIMES = ("09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00", "17:00")
PAUSE_WEEKS = (1, 2, 4)
DAYS_OFFERED = 14  # day buttons for setting a session: the coming two weeks
SNOOZE = timedelta(hours=2)
REFLECT_USEFUL = timedelta(hours=12)  # an invitation to reflect later than this is dropped
WEEKLY_USEFUL = timedelta(hours=6)
BATCH = 500  # due nudges turned into outbox rows per unit of work

NUDGE_MESSAGES = frozenset(
    {
        "supervision_menu",
        "button_session_new",
        "button_session_for",
        "button_session_move",
        "button_session_cancel",
        "session_when",
        "session_time",
        "session_unreadable",
        "session_past",
        "session_repeat",
        "button_repeat",
        "session_saved",
        "session_set_notice",
        "session_moved_notice",
        "session_cancelled_notice",
        "session_cancel_confirm",
        "button_cancel_one",
        "button_cancel_all",
        "button_keep_session",
        "session_cancelled",
        "session_kept",
        "session_gone",
        "nudge_session",
        "button_prepare_now",
        "button_snooze",
        "button_not_this_time",
        "snoozed",
        "snooze_too_late",
        "not_this_time",
        "nudge_reflect",
        "button_reflect_now",
        "button_not_now",
        "nudge_weekly",
        "button_write_journal",
        "button_not_this_week",
        "nudge_dismissed",
        "nudge_over",
        "reminders",
        "button_first_before",
        "button_second_before",
        "button_reflect_after",
        "button_weekly",
        "button_quiet",
        "button_pause",
        "button_resume",
        "weekly_day",
        "weekly_time",
        "button_weekly_off",
        "weekday",
        "weekday_short",
        "duration",
        "repeat_words",
        "pause_how_long",
        "button_pause_weeks",
        "button_pause_date",
        "pause_date_ask",
        "pause_unreadable",
        "paused",
        "resumed",
        "time_unreadable",
    }
)


def _key_start(nudge: NudgeRow) -> str:
    return nudge.key.split(":", 3)[3] if nudge.kind == "session" else ""


class Nudges:
    def __init__(self, service: Service) -> None:
        self.svc = service

    @property
    def cat(self) -> Catalogue:
        """The wording of the person being answered (see Service.cat)."""
        return self.svc.cat

    def say(self, message: str, /, **context: Any) -> str:
        return self.cat.say(message, **context)

    def duration(self, minutes: int) -> str:
        return self.say("duration", minutes=minutes)

    def repeat(self, every: str | None) -> str:
        return self.say("repeat_words", every=every) if every else ""

    # ---- planning ------------------------------------------------------------------------

    def plan(self, tx: Unit, person_id: int, now: datetime) -> None:
        """Make the person's pending nudges match their sessions and settings.

        Idempotent: each nudge has a key; one already sent or dropped is never made again, and
        one already due is left for `process` (so a nudge missed while the bot was down is
        still seen, and either sent or dropped with a reason).
        """
        settings = sessions_db.reminder_settings(tx, person_id)
        tz = tx.timezone_of(person_id, self.svc.default_timezone)
        wanted: set[str] = set()
        for session in sessions_db.sessions_planned(tx, person_id):
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
        for nudge in sessions_db.nudges_pending(tx, person_id):
            if nudge.due_at <= now:
                continue  # due: `process` sends or drops it
            if nudge.kind in {"session", "weekly"} and nudge.key not in wanted:
                sessions_db.nudge_end(tx, nudge.id, "cancelled", "no longer planned", now)
            elif nudge.kind == "reflect" and nudge.base_at is not None:
                if not settings.reflect_after:
                    sessions_db.nudge_end(tx, nudge.id, "cancelled", "switched off", now)
                    continue
                due = self.reflect_due(nudge.base_at, settings, tz)
                sessions_db.nudge_plan(
                    tx, person_id, "reflect", nudge.key, due, due + REFLECT_USEFUL
                )

    @staticmethod
    def reflect_due(base: datetime, settings: ReminderSettings, tz: str) -> datetime:
        due = base + timedelta(minutes=settings.reflect_after)
        return when.out_of_quiet(due, tz, settings.quiet_start, settings.quiet_end)

    def after_check(self, t: Turn, entry_id: int) -> None:
        """An in-the-moment check was saved: later, one gentle invitation to reflect on it."""
        settings = sessions_db.reminder_settings(t.tx, t.person.id)
        if not settings.reflect_after:
            return
        due = self.reflect_due(t.now, settings, t.row.timezone)
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

    def timezone_changed(self, t: Turn) -> None:
        """Schedules follow the zone: every planned session keeps its wall-clock time."""
        for session in sessions_db.sessions_planned(t.tx, t.person.id):
            sessions_db.session_move(
                t.tx,
                session.id,
                when.iso_local(session.local_start),
                when.to_utc(session.local_start, t.row.timezone),
            )
        self.plan(t.tx, t.person.id, t.now)
        t.out.rearm = True

    # ---- what is due ---------------------------------------------------------------------

    def process(self, tx: Unit, now: datetime) -> list[tuple[int, int, Reply]]:
        """Sessions that have started are held (a repeating one plans its next); due nudges
        become outbox rows, marked sent in the same transaction, or are dropped with a reason.

        Returns (outbox id, chat id, reply) for the bot to send.
        """
        touched: set[int] = set()
        for session in sessions_db.sessions_started(tx, now, BATCH):
            sessions_db.session_state(tx, session.id, "held")
            self.plan_next_in_series(tx, session, now)
            touched.add(session.worker_id)
        rows: list[tuple[int, int, Reply]] = []
        quietened: set[int] = set()
        for nudge in sessions_db.nudges_due(tx, now, BATCH):
            if nudge.id in quietened:
                continue
            touched.add(nudge.person_id)
            reason = self.unfit(tx, nudge, now)
            if reason is not None:
                sessions_db.nudge_end(tx, nudge.id, "dropped", reason, now)
                log.info("nudge %d (%s) dropped: %s", nudge.id, nudge.kind, reason)
                continue
            reply = self.render(tx, nudge, now)
            reply.nudge_id = nudge.id
            sessions_db.nudge_end(tx, nudge.id, "sent", "", now)
            if nudge.session_id is not None:
                # Sent late (the bot was down) or snoozed: another reminder about the same
                # session within the next two hours would only nag.
                for other in sessions_db.nudges_pending(tx, nudge.person_id):
                    if other.session_id == nudge.session_id and other.due_at <= now + SNOOZE:
                        sessions_db.nudge_end(tx, other.id, "cancelled", "just reminded", now)
                        quietened.add(other.id)
            (outbox_id,) = tx.outbox_add(nudge.person_id, [reply_to_json(reply)], nudge_id=nudge.id)
            rows.append((outbox_id, nudge.person_id, reply))
        for person_id in touched:
            self.plan(tx, person_id, now)
        return rows

    def unfit(self, tx: Unit, nudge: NudgeRow, now: datetime) -> str | None:
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
            if nudge.kind == "session" and _key_start(nudge) != iso(session.starts_at):
                return "session moved"
        if nudge.kind == "reflect":
            entry = tx.entry(nudge.person_id, nudge.entry_id) if nudge.entry_id else None
            if entry is None:
                return "check deleted"
            if sessions_db.reflected_since(tx, nudge.person_id, entry.episode_id, entry.created_at):
                return "already reflected"
        return None

    def still_useful(self, tx: Unit, nudge_id: int, now: datetime) -> bool:
        nudge = sessions_db.nudge(tx, nudge_id)
        reason = "gone" if nudge is None else self.unfit(tx, nudge, now)
        if reason is not None:
            sessions_db.nudge_withheld(tx, nudge_id, reason, now)
            log.info("nudge %d withheld at the last moment: %s", nudge_id, reason)
        return reason is None

    def plan_next_in_series(self, tx: Unit, session: SessionRow, now: datetime) -> None:
        """A repeating session keeps its rhythm from the series' first start."""
        if session.every is None or session.series_start is None:
            return
        tz = tx.timezone_of(session.worker_id, self.svc.default_timezone)
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

    def render(self, tx: Unit, nudge: NudgeRow, now: datetime) -> Reply:
        tz = tx.timezone_of(nudge.person_id, self.svc.default_timezone)
        if nudge.kind in {"session", "snooze"}:
            assert nudge.session_id is not None
            session = sessions_db.session(tx, nudge.session_id)
            assert session is not None
            last = sessions_db.last_session_held(tx, nudge.person_id, session.starts_at)
            pack_at = sup_db.last_pack_at(tx, nudge.person_id)
            shared = pack_at is not None and (last is None or pack_at > last)
            link = sup_db.supervisor_link(tx, nudge.person_id)
            flagged = len(
                tx.entries(nudge.person_id, limit=200, flagged=True, flagged_since=pack_at)
            )
            html = self.say(
                "nudge_session",
                when=self.spoken(session.starts_at, now, tz),
                shared=shared,
                flagged=flagged,
                name=tx.name_of(link.supervisor_id) if link else "",
            )
            if shared:
                return Reply(html)
            row = [Button(self.say("button_prepare_now"), f"N:{nudge.id}:prep")]
            if session.starts_at - now > SNOOZE:
                row.append(Button(self.say("button_snooze"), f"N:{nudge.id}:snooze"))
            return Reply(
                html, [row, [Button(self.say("button_not_this_time"), f"N:{nudge.id}:skip")]]
            )
        if nudge.kind == "reflect":
            return Reply(
                self.say("nudge_reflect"),
                [
                    [
                        Button(self.say("button_reflect_now"), f"N:{nudge.id}:reflect"),
                        Button(self.say("button_not_now"), f"N:{nudge.id}:skip"),
                    ]
                ],
            )
        return Reply(
            self.say("nudge_weekly"),
            [
                [
                    Button(self.say("button_reflect_now"), f"N:{nudge.id}:reflect"),
                    Button(self.say("button_write_journal"), f"N:{nudge.id}:journal"),
                ],
                [Button(self.say("button_not_this_week"), f"N:{nudge.id}:skip")],
            ],
        )

    def spoken(self, moment: datetime, now: datetime, tz: str) -> str:
        """ "today at 14:00", "tomorrow at 14:00" or "on Tue 8 Dec at 14:00", in their zone."""
        local, today = when.to_local(moment, tz), when.to_local(now, tz).date()
        days = (local.date() - today).days
        return self.say("weekday", local=local, days=days)

    # ---- the person's side: /supervision -------------------------------------------------

    def command(self, t: Turn, command: str) -> None:
        if command == "supervision":
            self.menu(t)
        else:
            self.reminders(t)
        if t.conv.flow:
            t.say(self.say("still_in_flow", title=self.svc._flow_of(t).title))

    def may_plan_for(self, t: Turn, worker_id: int) -> bool:
        """The worker themself, or their supervisor while the link is active."""
        if worker_id == t.person.id:
            return True
        link = sup_db.supervisor_link(t.tx, worker_id)
        return link is not None and link.supervisor_id == t.person.id

    def menu(self, t: Turn) -> None:
        mine = sessions_db.sessions_planned(t.tx, t.person.id)
        theirs = [
            (link.worker_id, sessions_db.sessions_planned(t.tx, link.worker_id))
            for link in sup_db.supervisee_links(t.tx, t.person.id)
        ]
        rows: list[list[Button]] = []
        for session in mine + [s for _, group in theirs for s in group]:
            label = self.short(t, session)
            if session.worker_id != t.person.id:
                label = f"{self.svc.sup.name(t.tx, session.worker_id)} · {label}"
            rows.append(
                [
                    Button(self.say("button_session_move", when=label), f"u:{session.id}:move"),
                    Button(self.say("button_session_cancel"), f"u:{session.id}:cancel"),
                ]
            )
        rows.append([Button(self.say("button_session_new"), f"u:new:{t.person.id}")])
        for worker_id, _ in theirs:
            name = self.svc.sup.name(t.tx, worker_id)
            rows.append([Button(self.say("button_session_for", name=name), f"u:new:{worker_id}")])
        t.say(
            self.say(
                "supervision_menu",
                mine=[self.listed(t, s) for s in mine],
                theirs=[
                    {"name": self.svc.sup.name(t.tx, w), "sessions": [self.listed(t, s) for s in g]}
                    for w, g in theirs
                ],
            ),
            rows,
        )

    def short(self, t: Turn, session: SessionRow) -> str:
        return when.to_local(session.starts_at, t.row.timezone).strftime("%a %-d %b %H:%M")

    def listed(self, t: Turn, session: SessionRow) -> dict[str, Any]:
        return {
            "when": self.spoken(session.starts_at, t.now, t.row.timezone),
            "every": session.every,
            "repeat": self.repeat(session.every),
            "by_other": session.set_by != session.worker_id,
            "set_by": self.svc.sup.name(t.tx, session.set_by),
        }

    def button(self, t: Turn, kind: str, rest: str) -> bool:
        """Buttons carrying a session or nudge id (checked against the person pressing), and
        the /reminders settings (which only ever touch the presser's own)."""
        head, _, tail = rest.partition(":")
        if kind == "u":
            if head == "new" and tail.isdigit():
                self.ask_when(t, int(tail), None)
            elif head.isdigit():
                self.session_button(t, int(head), tail)
            else:
                self.svc.sup.not_found(t)
        elif kind == "N" and head.isdigit():
            self.nudge_button(t, int(head), tail)
        elif kind == "M":
            self.settings_button(t, rest)
        elif kind in {"u", "N"}:
            self.svc.sup.not_found(t)
        else:
            return False
        return True

    def ask_when(self, t: Turn, worker_id: int, move: int | None) -> None:
        if not self.may_plan_for(t, worker_id):
            self.svc.sup.not_found(t)
            return
        t.conv.pending = {"kind": "session_when", "worker": worker_id, "move": move}
        t.conv.turn += 1
        today = when.to_local(t.now, t.row.timezone).date()
        days = [today + timedelta(days=n) for n in range(DAYS_OFFERED)]
        buttons = [
            Button(d.strftime("%a %-d %b"), f"b:{t.conv.turn}:d{d.isoformat()}") for d in days
        ]
        name = self.svc.sup.name(t.tx, worker_id) if worker_id != t.person.id else ""
        t.say(
            self.say("session_when", name=name, move=move is not None),
            [buttons[i : i + 3] for i in range(0, len(buttons), 3)],
        )

    def ask_time(self, t: Turn, day: date) -> None:
        pending = t.conv.pending or {}
        pending.update(kind="session_time", day=day.isoformat())
        t.conv.pending = pending
        t.conv.turn += 1
        buttons = [Button(h, f"b:{t.conv.turn}:t{h.replace(':', '')}") for h in SESSION_TIMES]
        t.say(
            self.say("session_time", day=day),
            [buttons[i : i + 3] for i in range(0, len(buttons), 3)],
        )

    def typed(self, t: Turn, text: str) -> None:
        """Words typed while a session time, a weekly time or a pause date is asked for."""
        pending = t.conv.pending or {}
        kind = pending.get("kind")
        local_now = when.to_local(t.now, t.row.timezone)
        if kind == "session_when":
            moment = when.parse_when(text, local_now)
            if moment is None:
                t.say(self.say("session_unreadable"))
                return
            self.chosen(t, moment)
        elif kind == "session_time":
            at = when.parse_time(text)
            if at is None:
                t.say(self.say("time_unreadable"))
                return
            self.chosen(t, datetime.combine(date.fromisoformat(pending["day"]), at))
        elif kind == "weekly_time":
            hhmm = when.parse_hhmm(text)
            if hhmm is None:
                t.say(self.say("time_unreadable"))
                return
            self.set_weekly(t, int(pending["day"]), hhmm)
        else:  # pause_date
            day = when.parse_day(text.split(), local_now.date())
            if day is None or day <= local_now.date():
                t.say(self.say("pause_unreadable"))
                return
            self.pause_until(t, day)

    def turn_button(self, t: Turn, value: str) -> None:
        """Day, time and repeat buttons while a session is being set."""
        pending = t.conv.pending or {}
        if value.startswith("d") and pending.get("kind") == "session_when":
            try:
                day = date.fromisoformat(value[1:])
            except ValueError:
                self.svc._stale(t)
                return
            self.ask_time(t, day)
        elif (
            value.startswith("t") and value[1:].isdigit() and pending.get("kind") == "session_time"
        ):
            at = when.parse_time(f"{value[1:3]}:{value[3:5]}")
            if at is None:
                self.svc._stale(t)
                return
            self.chosen(t, datetime.combine(date.fromisoformat(pending["day"]), at))
        elif value.startswith("e") and pending.get("kind") == "session_repeat":
            every = value[1:] if value[1:] in when.EVERY else None
            self.save(t, when.from_iso_local(pending["local"]), every)
        else:
            self.svc._stale(t)

    def chosen(self, t: Turn, local: datetime) -> None:
        """A day and time in the chooser's own zone: past is refused; a new one asks about
        repeating, a moved one is saved at once."""
        pending = t.conv.pending or {}
        if when.to_utc(local, t.row.timezone) <= t.now:
            t.say(self.say("session_past"))
            self.ask_when(t, int(pending.get("worker", t.person.id)), pending.get("move"))
            return
        if pending.get("move"):
            self.save(t, local, None)
            return
        pending.update(kind="session_repeat", local=when.iso_local(local))
        t.conv.pending = pending
        t.conv.turn += 1
        choices = ("once", *when.EVERY)
        t.say(
            self.say(
                "session_repeat",
                when=self.spoken(when.to_utc(local, t.row.timezone), t.now, t.row.timezone),
            ),
            [
                [Button(self.say("button_repeat", every=c), f"b:{t.conv.turn}:e{c}")]
                for c in choices
            ],
        )

    def save(self, t: Turn, local: datetime, every: str | None) -> None:
        pending = t.conv.pending or {}
        worker_id = int(pending.get("worker", t.person.id))
        move = pending.get("move")
        t.conv.pending = None
        t.out.clear_buttons = True
        if not self.may_plan_for(t, worker_id):
            self.svc.sup.not_found(t)
            return
        starts_at = when.to_utc(local, t.row.timezone)
        worker_tz = t.tx.timezone_of(worker_id, self.svc.default_timezone)
        worker_local = when.iso_local(when.to_local(starts_at, worker_tz))
        if move:
            session = sessions_db.session(t.tx, int(move))
            if session is None or session.worker_id != worker_id or session.state != "planned":
                t.say(self.say("session_gone"))
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
        self.plan(t.tx, worker_id, t.now)
        t.out.rearm = True
        settings = sessions_db.reminder_settings(t.tx, worker_id)
        name = self.svc.sup.name(t.tx, worker_id) if worker_id != t.person.id else ""
        t.say(
            self.say(
                "session_saved",
                when=self.spoken(starts_at, t.now, t.row.timezone),
                every=every,
                repeat=self.repeat(every),
                name=name,
                moved=bool(move),
                first=self.duration(settings.first_before) if settings.first_before else "",
                second=self.duration(settings.second_before) if settings.second_before else "",
            )
        )
        self.tell_other_side(
            t, worker_id, starts_at, "session_moved_notice" if move else "session_set_notice", every
        )
        self.svc._ask_again(t)

    def tell_other_side(
        self, t: Turn, worker_id: int, starts_at: datetime, message: str, every: str | None
    ) -> None:
        """The worker and their supervisor both see sessions: the other one is told (names and
        dates only, through the gate)."""
        link = sup_db.supervisor_link(t.tx, worker_id)
        if link is None:
            return
        other = link.other(t.person.id)
        tz = t.tx.timezone_of(other, self.svc.default_timezone)
        self.svc.sup.notice(
            t.tx,
            t.out,
            link.id,
            other,
            message,
            t.now,
            t.person.id,
            when=self.spoken(starts_at, t.now, tz),
            every=every,
            repeat=self.repeat(every),
            for_worker=other == worker_id,
        )

    def session_button(self, t: Turn, session_id: int, action: str) -> None:
        session = sessions_db.session(t.tx, session_id)
        if session is None or not self.may_plan_for(t, session.worker_id):
            self.svc.sup.not_found(t)
            return
        if session.state != "planned":
            t.out.clear_buttons = True
            t.say(self.say("session_gone"))
            return
        label = self.spoken(session.starts_at, t.now, t.row.timezone)
        if action == "move":
            self.ask_when(t, session.worker_id, session.id)
        elif action == "cancel":
            one = self.say("button_cancel_one", every=session.every)
            rows = [[Button(one, f"u:{session.id}:one")]]
            if session.every:
                rows.append([Button(self.say("button_cancel_all"), f"u:{session.id}:all")])
            rows.append([Button(self.say("button_keep_session"), f"u:{session.id}:keep")])
            t.say(self.say("session_cancel_confirm", when=label, every=session.every), rows)
        elif action in {"one", "all"}:
            t.out.clear_buttons = True
            sessions_db.session_state(t.tx, session.id, "cancelled")
            if action == "one":
                self.plan_next_in_series(t.tx, session, t.now)
            self.plan(t.tx, session.worker_id, t.now)
            t.out.rearm = True
            t.say(
                self.say(
                    "session_cancelled", when=label, all=action == "all" and bool(session.every)
                )
            )
            self.tell_other_side(
                t, session.worker_id, session.starts_at, "session_cancelled_notice", None
            )
        else:
            t.out.clear_buttons = True
            t.out.toast = self.say("session_kept")

    # ---- pressing a nudge's buttons ------------------------------------------------------

    def nudge_button(self, t: Turn, nudge_id: int, action: str) -> None:
        nudge = sessions_db.nudge(t.tx, nudge_id)
        if nudge is None or nudge.person_id != t.person.id:
            self.svc.sup.not_found(t)
            return
        t.out.clear_buttons = True
        if action == "prep":
            pack = self.svc.sup.pack_entries(t)
            if pack and sup_db.supervisor_link(t.tx, t.person.id):
                self.svc.sup.share_pick(t, "k", "")
            elif pack:
                self.svc._entries(t, "supervision", 0)
            else:
                self.svc._command(t, "prepare")
        elif action == "snooze":
            session = sessions_db.session(t.tx, nudge.session_id) if nudge.session_id else None
            if session is None or session.state != "planned" or session.starts_at <= t.now:
                t.out.toast = self.say("nudge_over")
                return
            if session.starts_at - t.now <= SNOOZE:
                t.out.toast = self.say("snooze_too_late")
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
            t.out.toast = self.say("snoozed", at=when.to_local(due, t.row.timezone))
        elif action == "skip":
            if nudge.session_id is not None:
                for other in sessions_db.nudges_pending(t.tx, t.person.id):
                    if other.session_id == nudge.session_id:
                        sessions_db.nudge_end(t.tx, other.id, "cancelled", "not this time", t.now)
                t.out.rearm = True
                t.out.toast = self.say("not_this_time")
            else:
                t.out.toast = self.say("nudge_dismissed")
        elif action in {"reflect", "journal"}:
            self.svc._command(t, "reflect" if action == "reflect" else "journal")
            check = t.tx.entry(t.person.id, nudge.entry_id) if nudge.entry_id else None
            if action == "reflect" and check is not None and t.conv.flow == "reflection":
                assert t.conv.entry_id is not None
                t.tx.set_entry_episode(t.conv.entry_id, check.episode_id)
        else:
            self.svc.sup.not_found(t)

    # ---- /reminders ----------------------------------------------------------------------

    def reminders(self, t: Turn, edit: bool = False) -> None:
        settings = sessions_db.reminder_settings(t.tx, t.person.id)
        paused = settings.paused_until is not None and settings.paused_until > t.now
        quiet_off = settings.quiet_start == settings.quiet_end
        weekday = (
            self.say("weekday_short", day=settings.weekly_day)
            if settings.weekly_day is not None
            else ""
        )
        text = self.say(
            "reminders",
            s=settings,
            first=self.duration(settings.first_before) if settings.first_before else "",
            second=self.duration(settings.second_before) if settings.second_before else "",
            reflect=self.duration(settings.reflect_after),
            weekday=weekday,
            quiet_off=quiet_off,
            paused_until=when.to_local(settings.paused_until, t.row.timezone)
            if paused and settings.paused_until
            else None,
            timezone=t.row.timezone,
        )
        rows = [
            [Button(self.lead("button_first_before", settings.first_before), "M:first")],
            [Button(self.lead("button_second_before", settings.second_before), "M:second")],
            [Button(self.lead("button_reflect_after", settings.reflect_after), "M:reflect")],
            [Button(self.say("button_weekly", s=settings, weekday=weekday), "M:weekly")],
            [Button(self.say("button_quiet", s=settings, off=quiet_off), "M:quiet")],
            [
                Button(
                    self.say("button_resume" if paused else "button_pause"),
                    "M:resume" if paused else "M:pause",
                )
            ],
        ]
        if edit:
            t.out.replace = Reply(text, rows)
        else:
            t.say(text, rows)

    def lead(self, message: str, minutes: int) -> str:
        return self.say(message, minutes=minutes, lead=self.duration(minutes))

    def change(self, t: Turn, **values: Any) -> None:
        settings = replace(sessions_db.reminder_settings(t.tx, t.person.id), **values)
        sessions_db.set_reminder_settings(t.tx, t.person.id, settings)
        self.plan(t.tx, t.person.id, t.now)
        t.out.rearm = True

    def settings_button(self, t: Turn, value: str) -> None:
        settings = sessions_db.reminder_settings(t.tx, t.person.id)
        cycles = {
            "first": ("first_before", FIRST_BEFORE),
            "second": ("second_before", SECOND_BEFORE),
            "reflect": ("reflect_after", REFLECT_AFTER),
        }
        if value in cycles:
            field, options = cycles[value]
            current = getattr(settings, field)
            following = (
                options[(options.index(current) + 1) % len(options)]
                if current in options
                else options[0]
            )
            self.change(t, **{field: following})
            self.reminders(t, edit=True)
        elif value == "quiet":
            quiet = (settings.quiet_start, settings.quiet_end)
            hours = QUIET[(QUIET.index(quiet) + 1) % len(QUIET)] if quiet in QUIET else QUIET[0]
            self.change(t, quiet_start=hours[0], quiet_end=hours[1])
            self.reminders(t, edit=True)
        elif value == "weekly":
            t.say(
                self.say("weekly_day"),
                [
                    [Button(self.say("weekday_short", day=d), f"M:wd{d}") for d in range(4)],
                    [Button(self.say("weekday_short", day=d), f"M:wd{d}") for d in range(4, 7)],
                    [Button(self.say("button_weekly_off"), "M:wdoff")],
                ],
            )
        elif value == "wdoff":
            t.out.clear_buttons = True
            self.change(t, weekly_day=None)
            self.reminders(t)
        elif value.startswith("wd") and value[2:].isdigit() and int(value[2:]) < 7:
            t.out.clear_buttons = True
            t.conv.pending = {"kind": "weekly_time", "day": int(value[2:])}
            buttons = [Button(h, f"M:wt{value[2:]}:{h.replace(':', '')}") for h in WEEKLY_TIMES]
            t.say(
                self.say("weekly_time", day=int(value[2:])),
                [buttons[i : i + 4] for i in range(0, len(buttons), 4)],
            )
        elif value.startswith("wt"):
            day, _, hhmm = value[2:].partition(":")
            at = when.parse_hhmm(f"{hhmm[:2]}:{hhmm[2:]}") if len(hhmm) == 4 else None
            if not day.isdigit() or int(day) > 6 or at is None:
                self.svc._stale(t)
                return
            t.out.clear_buttons = True
            self.set_weekly(t, int(day), at)
        elif value == "pause":
            t.say(
                self.say("pause_how_long"),
                [
                    [
                        Button(self.say("button_pause_weeks", weeks=w), f"M:p{w}")
                        for w in PAUSE_WEEKS
                    ],
                    [Button(self.say("button_pause_date"), "M:pdate")],
                ],
            )
        elif value == "pdate":
            t.out.clear_buttons = True
            t.conv.pending = {"kind": "pause_date"}
            t.say(self.say("pause_date_ask"))
        elif value.startswith("p") and value[1:].isdigit() and int(value[1:]) in PAUSE_WEEKS:
            t.out.clear_buttons = True
            today = when.to_local(t.now, t.row.timezone).date()
            self.pause_until(t, today + timedelta(weeks=int(value[1:])))
        elif value == "resume":
            self.change(t, paused_until=None)
            t.out.toast = self.say("resumed")
            self.reminders(t, edit=True)
        else:
            self.svc._stale(t)

    def set_weekly(self, t: Turn, day: int, at: str) -> None:
        t.conv.pending = None
        self.change(t, weekly_day=day, weekly_time=at)
        self.reminders(t)

    def pause_until(self, t: Turn, day: date) -> None:
        t.conv.pending = None
        resume = when.to_utc(datetime.combine(day, datetime.min.time()), t.row.timezone)
        self.change(t, paused_until=resume)
        t.say(self.say("paused", day=day))

    # ---- /export ---------------------------------------------------------------------------

    def export(self, tx: Unit, person_id: int) -> list[dict[str, Any]]:
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
                }
            )
        return items
