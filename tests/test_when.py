"""Wall-clock times: what people type, daylight saving, quiet hours, repeating sessions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from flows.kernel import when

LONDON = "Europe/London"
NOW = datetime(2026, 12, 2, 16, 30)  # Wednesday 2 December 2026, 16:30 local


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Tue 14:00", datetime(2026, 12, 8, 14, 0)),
        ("tuesday 2pm", datetime(2026, 12, 8, 14, 0)),
        ("Wed 17:00", datetime(2026, 12, 2, 17, 0)),  # later today
        ("Wed 16:00", datetime(2026, 12, 9, 16, 0)),  # already gone today: next week
        ("1 Dec 14:00", datetime(2026, 12, 1, 14, 0)),  # yesterday: the caller says it's past
        ("1 Jan 14:00", datetime(2027, 1, 1, 14, 0)),  # comes round next year
        ("Dec 25 2 pm", datetime(2026, 12, 25, 14, 0)),
        ("Friday 4th December 10.30", datetime(2026, 12, 4, 10, 30)),
        ("2026-12-01 14:00", datetime(2026, 12, 1, 14, 0)),
        ("3/12 9am", datetime(2026, 12, 3, 9, 0)),
        ("03/12/2026 09:15", datetime(2026, 12, 3, 9, 15)),
        ("tomorrow 9", datetime(2026, 12, 3, 9, 0)),
        ("today 18:00", datetime(2026, 12, 2, 18, 0)),
        ("sept 3 14:00", datetime(2027, 9, 3, 14, 0)),
    ],
)
def test_parse_when_reads_what_people_type(typed: str, expected: datetime) -> None:
    assert when.parse_when(typed, NOW) == expected


@pytest.mark.parametrize(
    "typed",
    ["", "banana", "Tue", "14:00", "31 Feb 10:00", "Tue 25:00", "13pm Tue", "2026-13-01 10:00"],
)
def test_parse_when_refuses_what_it_cannot_read(typed: str) -> None:
    assert when.parse_when(typed, NOW) is None


def test_parse_time_forms() -> None:
    assert when.parse_time("2:30 pm") == time(14, 30)
    assert when.parse_time("2:30pm") == time(14, 30)
    assert when.parse_time("12am") == time(0, 0)
    assert when.parse_time("12pm") == time(12, 0)
    assert when.parse_time("0930") is None
    assert when.parse_hhmm("7.05") == "07:05"


def test_spring_gap_moves_to_the_first_minute_that_exists() -> None:
    # 29 March 2026: clocks go from 01:00 GMT to 02:00 BST; 01:30 never happens.
    moment = when.to_utc(datetime(2026, 3, 29, 1, 30), LONDON)
    assert moment == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert when.to_local(moment, LONDON) == datetime(2026, 3, 29, 2, 0)


def test_autumn_time_that_happens_twice_is_the_first() -> None:
    # 25 October 2026: 01:30 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT).
    assert when.to_utc(datetime(2026, 10, 25, 1, 30), LONDON) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_weekly_nine_oclock_stays_nine_oclock_across_both_changes() -> None:
    after = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    seen = []
    for _ in range(40):  # March to December: both changes
        after = when.next_weekly(after, LONDON, 0, "09:00")
        seen.append(after)
    assert all(when.to_local(m, LONDON).time() == time(9, 0) for m in seen)
    assert all(when.to_local(m, LONDON).weekday() == 0 for m in seen)
    hours = {m.hour for m in seen}
    assert hours == {8, 9}  # 08:00 UTC in summer, 09:00 UTC in winter
    assert len(set(seen)) == 40  # once a week, never twice


def test_weekly_in_the_gap_fires_once_at_the_next_valid_minute() -> None:
    # A Sunday 01:30 reminder on the morning the clocks go forward.
    moment = when.next_weekly(datetime(2026, 3, 28, 12, 0, tzinfo=UTC), LONDON, 6, "01:30")
    assert when.to_local(moment, LONDON) == datetime(2026, 3, 29, 2, 0)
    following = when.next_weekly(moment, LONDON, 6, "01:30")
    assert when.to_local(following, LONDON) == datetime(2026, 4, 5, 1, 30)


def test_weekly_in_the_autumn_fold_fires_once() -> None:
    first = when.next_weekly(datetime(2026, 10, 24, 12, 0, tzinfo=UTC), LONDON, 6, "01:30")
    following = when.next_weekly(first, LONDON, 6, "01:30")
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert when.to_local(following, LONDON) == datetime(2026, 11, 1, 1, 30)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 12, 2, 20, 59), datetime(2026, 12, 2, 20, 59)),
        (datetime(2026, 12, 2, 21, 0), datetime(2026, 12, 3, 8, 0)),
        (datetime(2026, 12, 2, 23, 30), datetime(2026, 12, 3, 8, 0)),
        (datetime(2026, 12, 3, 3, 0), datetime(2026, 12, 3, 8, 0)),
        (datetime(2026, 12, 3, 8, 0), datetime(2026, 12, 3, 8, 0)),
    ],
)
def test_out_of_quiet_hours(local: datetime, expected: datetime) -> None:
    moment = when.to_utc(local, LONDON)
    moved = when.out_of_quiet(moment, LONDON, "21:00", "08:00")
    assert when.to_local(moved, LONDON) == expected


def test_no_quiet_hours_when_start_equals_end() -> None:
    moment = when.to_utc(datetime(2026, 12, 2, 23, 0), LONDON)
    assert when.out_of_quiet(moment, LONDON, "00:00", "00:00") == moment


def test_daytime_quiet_hours() -> None:
    assert when.in_quiet(datetime(2026, 1, 1, 13, 0), "12:00", "14:00")
    assert not when.in_quiet(datetime(2026, 1, 1, 14, 0), "12:00", "14:00")


def test_monthly_keeps_the_day_or_takes_the_last() -> None:
    start = datetime(2026, 1, 31, 10, 0)
    assert when.repeat(start, "1m", 1) == datetime(2026, 2, 28, 10, 0)
    assert when.repeat(start, "1m", 2) == datetime(2026, 3, 31, 10, 0)
    assert when.repeat(start, "1m", 13) == datetime(2027, 2, 28, 10, 0)
    assert when.repeat(start, "2w", 1) == datetime(2026, 2, 14, 10, 0)
    assert when.add_months(date(2028, 1, 29), 1) == date(2028, 2, 29)
