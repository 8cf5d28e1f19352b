"""Wall-clock times people type and read, and the UTC moments the database keeps.

Pure functions over `zoneinfo`: a time that falls in the spring gap moves to the first minute
that exists; an autumn time that happens twice means the first of the two, so it fires once.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
EVERY = ("1w", "2w", "4w", "1m")


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_utc(local: datetime, tz: str) -> datetime:
    """The UTC moment of a naive local wall-clock time in `tz`.

    In a gap (clocks go forward) the time does not exist: the first minute after it is used.
    Twice over (clocks go back): the first of the two (fold=0).
    """
    z = zone(tz)
    candidate = local.replace(tzinfo=z, fold=0)
    for _ in range(24 * 60):
        moment = candidate.astimezone(UTC)
        if moment.astimezone(z).replace(tzinfo=None) == candidate.replace(tzinfo=None):
            return moment
        candidate += timedelta(minutes=1)  # naive arithmetic on the wall clock
        candidate = candidate.replace(second=0, microsecond=0)
    return local.replace(tzinfo=z).astimezone(UTC)  # pragma: no cover - no zone has such a gap


def to_local(moment: datetime, tz: str) -> datetime:
    """A UTC moment as naive wall-clock time in `tz`."""
    return moment.astimezone(zone(tz)).replace(tzinfo=None)


def hhmm(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


def in_quiet(local: datetime, start: str, end: str) -> bool:
    """Whether a wall-clock time falls in quiet hours (start == end: no quiet hours)."""
    s, e, t = hhmm(start), hhmm(end), local.time()
    if s == e:
        return False
    if s < e:
        return s <= t < e
    return t >= s or t < e


def out_of_quiet(moment: datetime, tz: str, start: str, end: str) -> datetime:
    """The moment itself, or the end of the quiet hours it falls in (the next `end`)."""
    local = to_local(moment, tz)
    if not in_quiet(local, start, end):
        return moment
    wake = datetime.combine(local.date(), hhmm(end))
    if wake <= local:
        wake += timedelta(days=1)
    return to_utc(wake, tz)


def next_weekly(after: datetime, tz: str, weekday: int, at: str) -> datetime:
    """The first `weekday` at `at` local time strictly after the UTC moment `after`."""
    local = to_local(after, tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    for _ in range(3):
        moment = to_utc(datetime.combine(day, hhmm(at)), tz)
        if moment > after:
            return moment
        day += timedelta(days=7)
    raise AssertionError("unreachable")  # pragma: no cover


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, or that month's last day if it is shorter."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def repeat(start: datetime, every: str, n: int) -> datetime:
    """The n-th local start of a repeating series that began at `start` (naive, local)."""
    if every == "1m":
        return datetime.combine(add_months(start.date(), n), start.time())
    weeks = int(every[:-1])
    return start + timedelta(weeks=weeks * n)


# ---- reading what people type ------------------------------------------------------------

_TIME = re.compile(
    r"(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?$", re.IGNORECASE
)
_ISO = re.compile(r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})$")
_SLASH = re.compile(r"(?P<d>\d{1,2})[/.](?P<mo>\d{1,2})(?:[/.](?P<y>\d{2,4}))?$")


def parse_time(text: str) -> time | None:
    """ "14:00", "14.30", "2pm", "2:30 pm", "9" (taken as 09:00)."""
    match = _TIME.match(text.strip())
    if not match:
        return None
    hours, minutes = int(match["h"]), int(match["m"] or 0)
    ampm = (match["ampm"] or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if ampm == "pm" else 0)
    if hours > 23 or minutes > 59:
        return None
    return time(hours, minutes)


def _named(word: str, names: tuple[str, ...]) -> int | None:
    """The index of the name `word` abbreviates ("tue", "sept", "december"), if any."""
    word = word.lower().rstrip(".")
    if len(word) < 3:
        return None
    return next((i for i, name in enumerate(names) if name.startswith(word)), None)


def _month(word: str) -> int | None:
    found = _named(word, MONTH_NAMES)
    return None if found is None else found + 1


def _weekday(word: str) -> int | None:
    return _named(word, WEEKDAY_NAMES)


def parse_day(words: list[str], today: date) -> date | None:
    """ "Tue", "tomorrow", "1 Dec", "Dec 1", "1st December 2026", "2026-12-01", "1/12/2026"."""
    if not words:
        return None
    text = " ".join(words).lower().replace(",", " ")
    tokens = [t for t in text.split() if t not in {"on", "the", "next", "this", "of", "at"}]
    if not tokens:
        return None
    if tokens == ["today"]:
        return today
    if tokens == ["tomorrow"]:
        return today + timedelta(days=1)
    if len(tokens) == 1 and (weekday := _weekday(tokens[0])) is not None:
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    if len(tokens) == 1 and (m := _ISO.match(tokens[0])):
        return _date(int(m["y"]), int(m["mo"]), int(m["d"]))
    if len(tokens) == 1 and (m := _SLASH.match(tokens[0])):
        year = int(m["y"]) if m["y"] else None
        if year is not None and year < 100:
            year += 2000
        return _dated(today, int(m["d"]), int(m["mo"]), year)
    # Day and month in words, either order, optional weekday and year.
    if tokens and _weekday(tokens[0]) is not None and len(tokens) > 1:
        tokens = tokens[1:]
    day_number = month = year_number = None
    for token in tokens:
        digits = re.sub(r"(st|nd|rd|th)$", "", token)
        if digits.isdigit() and len(digits) == 4:
            year_number = int(digits)
        elif digits.isdigit() and day_number is None:
            day_number = int(digits)
        elif (found := _month(token)) is not None and month is None:
            month = found
        else:
            return None
    if day_number is None or month is None:
        return None
    return _dated(today, day_number, month, year_number)


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _dated(today: date, day: int, month: int, year: int | None) -> date | None:
    """A day and month without a year means the next time it comes round; a day in the last
    week stays this year (most likely a slip, which the caller then says is past)."""
    if year is not None:
        return _date(year, month, day)
    found = _date(today.year, month, day)
    if found is not None and found < today - timedelta(days=7):
        found = _date(today.year + 1, month, day)
    return found


def parse_when(text: str, now_local: datetime) -> datetime | None:
    """A typed day and time as a naive local datetime, or None if it can't be read.

    A weekday alone means the next one (today, if the time is still to come today).
    """
    words = text.replace(",", " ").split()
    if len(words) >= 2 and words[-1].lower() in {"am", "pm", "a.m.", "p.m."}:
        words = [*words[:-2], words[-2] + words[-1]]
    if not words:
        return None
    at = parse_time(words[-1])
    if at is None:
        return None
    day = parse_day(words[:-1], now_local.date())
    if day is None:
        return None
    moment = datetime.combine(day, at)
    weekday_only = len(words) == 2 and _weekday(words[0]) is not None
    if weekday_only and moment <= now_local:
        moment += timedelta(days=7)
    return moment


def parse_hhmm(text: str) -> str | None:
    at = parse_time(text)
    return None if at is None else at.strftime("%H:%M")


def iso_local(local: datetime) -> str:
    return local.strftime("%Y-%m-%dT%H:%M")


def from_iso_local(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M")
