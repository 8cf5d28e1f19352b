"""First contact, and the time zone."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from zoneinfo import available_timezones

from flows.kernel.ids import number
from flows.kernel.model import Button
from flows.kernel.turn import Turn, flow_list, msg, wording
from flows.questions import tidy


def welcome(t: Turn) -> None:
    """First contact. Someone arriving through a deep link (a supervisor with an invite link)
    is greeted by the feature that owns the link, which asks `timezone_offer` when it suits."""
    t.tx.set_welcomed(t.person.id)
    if t.deep_link:
        return
    t.say(msg("welcome", name=t.person.first_name, flows=flow_list()))
    timezone_offer(t)


def timezone_offer(t: Turn) -> None:
    t.conv.turn += 1
    t.say(
        msg("timezone_offer", timezone=t.row.timezone),
        [
            [Button(msg("button_tz_keep"), f"z:{t.conv.turn}:keep")],
            [Button(msg("button_tz_other"), f"z:{t.conv.turn}:list")],
        ],
    )


def settings(t: Turn) -> None:
    t.conv.turn += 1
    rows = [
        [Button(zone.replace("_", " "), f"z:{t.conv.turn}:{index}")]
        for index, zone in enumerate(wording().timezones)
    ]
    rows.append([Button(msg("button_tz_other"), f"z:{t.conv.turn}:other")])
    if tidy.is_on(t.tx, t.person.id):
        toggle = Button(msg("button_tidy_off"), f"td:{t.conv.turn}:off")
    else:
        toggle = Button(msg("button_tidy_on"), f"td:{t.conv.turn}:on")
    t.say(msg("settings_tidy", on=toggle.data.endswith("off")), [[toggle]])
    t.say(msg("settings", timezone=t.row.timezone), rows)


def tidy_button(t: Turn, value: str) -> None:
    """Tidy chat on or off (see flows/questions/tidy.py)."""
    if value not in {"on", "off"}:
        t.stale()
        return
    tidy.set_on(t.tx, t.person.id, value == "on")
    t.say(msg("tidy_now", on=value == "on"))
    t.resume()


def timezone_button(t: Turn, value: str) -> None:
    if value == "keep":
        t.out.toast = msg("timezone_kept", timezone=t.row.timezone)
        t.resume()
    elif value == "list":
        settings(t)
    elif value == "other":
        t.conv.pending = {"kind": "timezone"}
        t.say(msg("timezone_ask"))
    elif (index := number(value, 3)) is not None and index < len(wording().timezones):
        set_timezone(t, wording().timezones[index])
    else:
        t.stale()


def typed_timezone(t: Turn, text: str) -> None:
    zone = find_timezone(text)
    if zone is None:
        t.say(msg("timezone_unknown"))
        return
    t.conv.pending = None
    set_timezone(t, zone)


def set_timezone(t: Turn, zone: str) -> None:
    t.tx.set_timezone(t.person.id, zone)
    t.row = dataclasses.replace(t.row, timezone=zone)
    for changed in t.desk.hooks("timezone_changed"):
        changed(t)
    t.out.toast = zone
    t.say(msg("timezone_set", timezone=zone))
    t.resume()


@lru_cache(maxsize=1)
def zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def find_timezone(text: str) -> str | None:
    """'europe/dublin', 'Europe/Dublin' or 'Dublin' → 'Europe/Dublin'."""
    wanted = "_".join(text.strip().split()).lower()
    if not wanted:
        return None
    names = zone_names()
    if wanted in names:
        return names[wanted]
    matches = sorted(n for k, n in names.items() if k.rsplit("/", 1)[-1] == wanted and "/" in n)
    return matches[0] if matches else None
