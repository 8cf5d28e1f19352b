"""/reminders: how long before a session, reflecting afterwards, a weekly nudge, quiet hours,
pausing. They only ever touch the presser's own settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from flows.features.sessions import db as sessions_db
from flows.features.sessions.reminders import duration, plan
from flows.features.supervision import db as sup_db
from flows.kernel import when
from flows.kernel.ids import number
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, msg

FIRST_BEFORE = (1440, 2880, 720, 0)  # minutes before a session; 0: off (the first is the default)


SECOND_BEFORE = (60, 120, 30, 0)


REFLECT_AFTER = (240, 120, 480, 0)


QUIET = (("21:00", "08:00"), ("22:00", "07:00"), ("20:00", "09:00"), ("00:00", "00:00"))


WEEKLY_TIMES = ("08:00", "09:00", "12:00", "13:00", "17:00", "18:00", "19:00", "20:00")


PAUSE_WEEKS = (1, 2, 4)


PLAN_REVIEW_MONTHS = (3, 6, 12, 1, 0)  # an invitation to look over each plan; 0: off


def reminders(t: Turn, edit: bool = False) -> None:
    settings = sessions_db.reminder_settings(t.tx, t.person.id)
    paused = settings.paused_until is not None and settings.paused_until > t.now
    quiet_off = settings.quiet_start == settings.quiet_end
    weekday = (
        msg("weekday_short", day=settings.weekly_day) if settings.weekly_day is not None else ""
    )
    digest_day = (
        msg("weekday_short", day=settings.digest_day) if settings.digest_day is not None else ""
    )
    text = msg(
        "reminders",
        s=settings,
        first=duration(settings.first_before) if settings.first_before else "",
        second=duration(settings.second_before) if settings.second_before else "",
        reflect=duration(settings.reflect_after),
        weekday=weekday,
        quiet_off=quiet_off,
        paused_until=when.to_local(settings.paused_until, t.row.timezone)
        if paused and settings.paused_until
        else None,
        timezone=t.row.timezone,
    )
    rows = [
        [Button(lead("button_first_before", settings.first_before), "M:first")],
        [Button(lead("button_second_before", settings.second_before), "M:second")],
        [Button(lead("button_reflect_after", settings.reflect_after), "M:reflect")],
        [Button(msg("button_weekly", s=settings, weekday=weekday), "M:weekly")],
        [Button(msg("button_quiet", s=settings, off=quiet_off), "M:quiet")],
        [Button(msg("button_plan_review", months=settings.plan_review_months), "M:planrev")],
        *(
            [[Button(msg("button_digest", s=settings, weekday=digest_day), "M:digest")]]
            if sup_db.supervisee_links(t.tx, t.person.id)
            else []
        ),
        [
            Button(
                msg("button_resume" if paused else "button_pause"),
                "M:resume" if paused else "M:pause",
            )
        ],
    ]
    if edit:
        t.out.replace = Reply(text, rows)
    else:
        t.say(text, rows)


def lead(message: str, minutes: int) -> str:
    return msg(message, minutes=minutes, lead=duration(minutes))


def change(t: Turn, **values: Any) -> None:
    settings = replace(sessions_db.reminder_settings(t.tx, t.person.id), **values)
    sessions_db.set_reminder_settings(t.tx, t.person.id, settings)
    plan(t.tx, t.person.id, t.now)
    t.out.rearm = True


def settings_button(t: Turn, value: str) -> None:
    settings = sessions_db.reminder_settings(t.tx, t.person.id)
    cycles = {
        "first": ("first_before", FIRST_BEFORE),
        "second": ("second_before", SECOND_BEFORE),
        "reflect": ("reflect_after", REFLECT_AFTER),
        "planrev": ("plan_review_months", PLAN_REVIEW_MONTHS),
    }
    if value in cycles:
        field, options = cycles[value]
        current = getattr(settings, field)
        following = (
            options[(options.index(current) + 1) % len(options)]
            if current in options
            else options[0]
        )
        change(t, **{field: following})
        reminders(t, edit=True)
    elif value == "quiet":
        quiet = (settings.quiet_start, settings.quiet_end)
        hours = QUIET[(QUIET.index(quiet) + 1) % len(QUIET)] if quiet in QUIET else QUIET[0]
        change(t, quiet_start=hours[0], quiet_end=hours[1])
        reminders(t, edit=True)
    elif value == "weekly":
        _day_picker(t, "weekly_day", "M:wd", "button_weekly_off")
    elif value == "digest":
        _day_picker(t, "digest_day", "M:gd", "button_digest_off")
    elif value == "gdoff":
        t.out.clear_buttons = True
        change(t, digest_day=None)
        reminders(t)
    elif value.startswith("gd") and number(value[2:], 1) in range(7):
        t.out.clear_buttons = True
        day = value[2:]
        buttons = [Button(h, f"M:gt{day}:{h.replace(':', '')}") for h in WEEKLY_TIMES]
        t.say(msg("digest_time"), [buttons[i : i + 4] for i in range(0, len(buttons), 4)])
    elif value.startswith("gt"):
        picked = _day_and_time(value[2:])
        if picked is None:
            t.stale()
            return
        t.out.clear_buttons = True
        change(t, digest_day=picked[0], digest_time=picked[1])
        reminders(t)
    elif value == "wdoff":
        t.out.clear_buttons = True
        change(t, weekly_day=None)
        reminders(t)
    elif value.startswith("wd") and number(value[2:], 1) in range(7):
        t.out.clear_buttons = True
        t.conv.pending = {"kind": "weekly_time", "day": int(value[2:])}
        buttons = [Button(h, f"M:wt{value[2:]}:{h.replace(':', '')}") for h in WEEKLY_TIMES]
        t.say(
            msg("weekly_time", day=int(value[2:])),
            [buttons[i : i + 4] for i in range(0, len(buttons), 4)],
        )
    elif value.startswith("wt"):
        picked = _day_and_time(value[2:])
        if picked is None:
            t.stale()
            return
        t.out.clear_buttons = True
        set_weekly(t, *picked)
    elif value == "pause":
        t.say(
            msg("pause_how_long"),
            [
                [Button(msg("button_pause_weeks", weeks=w), f"M:p{w}") for w in PAUSE_WEEKS],
                [Button(msg("button_pause_date"), "M:pdate")],
            ],
        )
    elif value == "pdate":
        t.out.clear_buttons = True
        t.conv.pending = {"kind": "pause_date"}
        t.say(msg("pause_date_ask"))
    elif value.startswith("p") and number(value[1:], 3) in PAUSE_WEEKS:
        t.out.clear_buttons = True
        today = when.to_local(t.now, t.row.timezone).date()
        pause_until(t, today + timedelta(weeks=int(value[1:])))
    elif value == "resume":
        change(t, paused_until=None)
        t.out.toast = msg("resumed")
        reminders(t, edit=True)
    else:
        t.stale()


def _day_and_time(data: str) -> tuple[int, str] | None:
    """A weekday and time pressed as "<day 0-6>:<hhmm>" (the weekly and digest pickers)."""
    day, _, hhmm = data.partition(":")
    at = when.parse_hhmm(f"{hhmm[:2]}:{hhmm[2:]}") if len(hhmm) == 4 else None
    if number(day, 1) is None or int(day) > 6 or at is None:
        return None
    return int(day), at


def set_weekly(t: Turn, day: int, at: str) -> None:
    t.conv.pending = None
    change(t, weekly_day=day, weekly_time=at)
    reminders(t)


def pause_until(t: Turn, day: date) -> None:
    t.conv.pending = None
    resume = when.to_utc(datetime.combine(day, datetime.min.time()), t.row.timezone)
    change(t, paused_until=resume)
    t.say(msg("paused", day=day))


def _day_picker(t: Turn, question: str, prefix: str, off: str) -> None:
    """Which day of the week (Mon-Thu, Fri-Sun), or off."""
    day = [Button(msg("weekday_short", day=d), f"{prefix}{d}") for d in range(7)]
    t.say(msg(question), [day[:4], day[4:], [Button(msg(off), f"{prefix}off")]])
