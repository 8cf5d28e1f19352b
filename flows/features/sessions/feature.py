"""Sessions and reminders as a feature: commands, buttons, typed answers and hooks."""

from __future__ import annotations

import functools
from datetime import date, datetime

from flows.features.account.feature import FORGET_ALSO
from flows.features.sessions import db as sessions_db
from flows.features.sessions import ready
from flows.features.sessions.forgetting import before_links_end, forget_also
from flows.features.sessions.planning import (
    ask_when,
    chosen,
    menu,
    next_session,
    nudge_button,
    person_buttons,
    person_lines,
    session_button,
    supervisee,
    turn_button,
)
from flows.features.sessions.reminders import (
    after_check,
    export,
    plan,
    process,
    still_useful,
    timezone_changed,
)
from flows.features.sessions.settings import pause_until, reminders, set_weekly, settings_button
from flows.features.supervision.db import LinkRow
from flows.features.supervision.extend import (
    BEFORE_LINKS_END,
    LINKED,
    NEXT_SESSION,
    PERSON_BUTTONS,
    PERSON_LINES,
)
from flows.kernel import when
from flows.kernel.feature import Feature, Guard
from flows.kernel.ids import number
from flows.kernel.turn import Turn, msg, wording


def _supervision(t: Turn, args: str) -> None:
    menu(t)
    t.still_in_flow()


def _reminders(t: Turn, args: str) -> None:
    reminders(t)
    t.still_in_flow()


def _button(kind: str, t: Turn, rest: str) -> None:
    """Buttons carrying a session or nudge id (checked against the person pressing), and
    the /reminders settings (which only ever touch the presser's own)."""
    head, _, tail = rest.partition(":")
    if kind == "u":
        if head == "new":
            # "u:new" (their own), "u:new:l<link id>" (a supervisee's), or a button sent before
            # link ids, "u:new:<person id>": each checked against the presser in ask_when.
            link_id = number(tail[1:]) if tail.startswith("l") else None
            worker_id = t.person.id if not tail else (number(tail) if link_id is None else None)
            if link_id is not None:
                worker_id = supervisee(t, link_id)
            if worker_id is None:
                t.not_found()
            else:
                ask_when(t, worker_id, None)
        elif (session_id := number(head)) is not None:
            session_button(t, session_id, tail)
        else:
            t.not_found()
    elif kind == "N" and (nudge_id := number(head)) is not None:
        nudge_button(t, nudge_id, tail)
    elif kind == "M":
        settings_button(t, rest)
    else:
        t.not_found()


def typed(t: Turn, text: str) -> None:
    """Words typed while a session time, a weekly time or a pause date is asked for."""
    pending = t.conv.pending or {}
    kind = pending.get("kind")
    local_now = when.to_local(t.now, t.row.timezone)
    if kind == "session_when":
        moment = when.parse_when(text, local_now)
        if moment is None:
            t.say(msg("session_unreadable"))
            return
        chosen(t, moment)
    elif kind == "session_time":
        at = when.parse_time(text)
        if at is None:
            t.say(msg("time_unreadable"))
            return
        chosen(t, datetime.combine(date.fromisoformat(pending["day"]), at))
    elif kind == "weekly_time":
        hhmm = when.parse_hhmm(text)
        if hhmm is None:
            t.say(msg("time_unreadable"))
            return
        set_weekly(t, int(pending["day"]), hhmm)
    else:  # pause_date
        day = when.parse_day(text.split(), local_now.date())
        if day is None or day <= local_now.date():
            t.say(msg("pause_unreadable"))
            return
        pause_until(t, day)


def _linked(t: Turn, link: LinkRow) -> None:
    """A new link: the supervisor is reminded of the worker's sessions already planned."""
    plan(t.tx, link.worker_id, t.now)
    t.out.rearm = True


def _setting_session(t: Turn, value: str) -> None:
    """Day, time and repeat buttons, while a session is being set."""
    if (t.conv.pending or {}).get("kind") not in {"session_when", "session_time", "session_repeat"}:
        t.stale()
    else:
        turn_button(t, value)


def _completed(t: Turn, entry_id: int, flow: str) -> None:
    if flow == IN_THE_MOMENT:  # a check before sharing: later, one invitation to reflect
        after_check(t, entry_id)
    elif (found := wording().flows.get(flow)) is not None and found.plan:
        plan(t.tx, t.person.id, t.now)  # the next invitation to look it over
        t.out.rearm = True


IN_THE_MOMENT = "in_the_moment"
TYPED = ("session_when", "session_time", "weekly_time", "pause_date")

FEATURE = Feature(
    name="sessions",
    commands={"supervision": _supervision, "reminders": _reminders},
    menu=("supervision", "reminders"),
    supervisor_menu=("supervision",),
    buttons={kind: functools.partial(_button, kind) for kind in "uNM"},
    turn_buttons={"b": _setting_session, "gr": ready.button},
    pending=frozenset({*TYPED, "session_repeat", "ready_text"}),
    typed={**dict.fromkeys(TYPED, typed), "ready_text": ready.typed},
    completed=_completed,
    timezone_changed=timezone_changed,
    export=lambda tx, person_id, now: {"schedules": export(tx, person_id)},
    due=process,
    next_wake=sessions_db.next_wake,
    extends={
        PERSON_LINES: person_lines,
        PERSON_BUTTONS: person_buttons,
        NEXT_SESSION: next_session,
        LINKED: _linked,
        FORGET_ALSO: forget_also,
        BEFORE_LINKS_END: before_links_end,
    },
    guards={
        "nudge": Guard(live=lambda tx, nudge_id, chat, html, now: still_useful(tx, nudge_id, now))
    },
)
