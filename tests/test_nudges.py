"""Supervision sessions and nudges, as people use them, with a clock the test moves by hand.

Nudges are sent by `Alarm.run_due` (what the JobQueue alarm and the minute sweep call); here the
test calls it after moving the clock, so every due time can be checked to the minute.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.drivers import Chat, Clock, Harness, link
from tests.offline import Person

START = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)  # Wed 2 Dec 2026, 16:30 in London (GMT)
REMINDER = "Your supervision is"


@pytest.fixture
def at(clock: Clock) -> Clock:
    clock.now = START
    return clock


def rows(bot: Harness, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.config.data_dir / "coreflect.db") as db:
        return db.execute(sql, args).fetchall()


async def due(bot: Harness) -> int:
    nudger = bot.app.bot_data.alarm
    return int(await nudger.run_due())


def reminders_seen(chat: Chat) -> list[str]:
    return [text for text in chat.read() if text.startswith(REMINDER)]


async def set_session(chat: Chat, typed: str, repeat: str = "Just this once") -> list[str]:
    await chat.send("/supervision")
    await chat.press("Set my next session")
    replies = await chat.send(typed)
    assert "Does it repeat?" in replies[-1], replies
    return await chat.press(repeat)


async def weekly(chat: Chat, day: str = "Mon", at: str = "09:00") -> list[str]:
    """Turn on the weekly reflection reminder from /reminders, with its buttons."""
    await chat.send("/reminders")
    await chat.press("Weekly reflection: off")
    await chat.press(day)
    return await chat.press(at)


def move_to(clock: Clock, local: str) -> None:
    """Move the clock to a London wall-clock time ("2026-12-03 14:00"; GMT in winter)."""
    from flows.kernel.when import to_utc

    clock.now = to_utc(datetime.strptime(local, "%Y-%m-%d %H:%M"), "Europe/London")


# ---- setting a session and being reminded ----------------------------------------------------


async def test_typed_session_is_reminded_a_day_and_an_hour_before(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    replies = await set_session(worker, "Fri 14:00")
    assert "Saved: supervision on Fri 4 Dec at 14:00." in replies[-1]
    assert "remind you 1 day and 1 hour before" in replies[-1]
    assert rows(bot, "SELECT due_at FROM nudges WHERE state = 'pending' ORDER BY due_at") == [
        ("2026-12-03T14:00:00.000000+00:00",),
        ("2026-12-04T13:00:00.000000+00:00",),
    ]
    assert bot.app.bot_data.alarm.armed_for == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)

    move_to(at, "2026-12-03 13:59")
    assert await due(bot) == 0
    move_to(at, "2026-12-03 14:00")
    assert await due(bot) == 1
    (first,) = reminders_seen(worker)
    assert first.startswith("Your supervision is tomorrow at 14:00.")
    assert worker.buttons() == ["Get ready", "Snooze 2 h", "Not this time"]
    assert await due(bot) == 0  # once
    move_to(at, "2026-12-04 13:00")
    assert await due(bot) == 1
    assert reminders_seen(worker)[-1].startswith("Your supervision is today at 14:00.")
    assert worker.buttons() == ["Get ready", "Not this time"]  # no snoozing past the start
    move_to(at, "2026-12-04 14:00")
    await due(bot)
    assert rows(bot, "SELECT state FROM sessions") == [("held",)]
    assert len(reminders_seen(worker)) == 2
    assert bot.app.bot_data.alarm.armed_for is None  # nothing else is planned


async def test_snooze_and_not_this_time(worker: Chat, bot: Harness, at: Clock) -> None:
    await set_session(worker, "Fri 14:00")
    move_to(at, "2026-12-03 14:00")
    await due(bot)
    await worker.press("Snooze 2 h")
    assert "I'll remind you again at 16:00" in worker.toasts()[-1]
    move_to(at, "2026-12-03 15:59")
    assert await due(bot) == 0
    move_to(at, "2026-12-03 16:00")
    assert await due(bot) == 1
    assert reminders_seen(worker)[-1].startswith("Your supervision is tomorrow at 14:00.")
    await worker.press("Not this time")
    assert "No more reminders for this one" in worker.toasts()[-1]
    move_to(at, "2026-12-04 13:30")
    assert await due(bot) == 0  # the hour-before one went with "Not this time"
    assert len(reminders_seen(worker)) == 2


async def test_get_ready_shows_the_steps_and_the_pack_and_files_what_else(
    worker: Chat, supervisor: Chat, bot: Harness, at: Clock
) -> None:
    await set_session(worker, "Fri 14:00")
    move_to(at, "2026-12-03 14:00")
    await due(bot)
    replies = await worker.press("Get ready")
    assert "Getting ready for supervision" in replies[0]
    assert "Nothing is marked to bring yet" in replies[0]
    assert replies[-1].startswith("Anything else you'd like to bring? Write it here and I'll")
    replies = await worker.send("How to say no to extra shifts")
    assert replies[-1].startswith(
        "Added to your supervision pack. You're ready. Your pack has 1 entry"
    )
    assert rows(bot, "SELECT flow, status, flagged FROM entries") == [("journal", "saved", 1)]

    # With a supervisor and a step agreed last time: Done / Still working on it.
    await link(worker, supervisor)
    await supervisor.send("/supervisees")
    await supervisor.press("Alex")
    await supervisor.press("Write down a step we agreed")
    await supervisor.send("Ask the team lead about reflective practice time")
    await worker.press("Yes, that's what we agreed")
    move_to(at, "2026-12-04 13:00")
    await due(bot)
    assert "Agreed last time" in reminders_seen(worker)[-1]
    replies = await worker.press("Get ready")
    assert "Ask the team lead about reflective practice time" in replies[0]
    assert "How to say no to extra shifts" not in replies[0]  # first words are not shown here
    assert worker.keyboard()[1][0][0] == "Nothing else"
    await worker.press_under("Getting ready", "Still working on it")
    assert worker.toasts()[-1] == "Still on your list. That's fine."
    await worker.press_under("Getting ready", "Done: Ask the team lead about")
    assert worker.toasts()[-1] == "Marked done. Well done."
    assert rows(bot, "SELECT state FROM agreed_steps") == [("done",)]
    replies = await worker.press("Nothing else")
    assert "You're ready. Your pack has 1 entry: you can share it with Sam" in replies[-1]
    assert worker.buttons() == ["Look over my pack"]
    replies = await worker.press("Look over my pack")
    assert "How to say no to extra shifts" in "\n".join(replies)
    assert "Share with Sam" in worker.buttons()


async def test_a_prepare_now_button_already_in_a_chat_gets_ready_too(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await set_session(worker, "Fri 14:00")
    move_to(at, "2026-12-03 14:00")
    await due(bot)
    (nudge_id,) = rows(bot, "SELECT id FROM nudges WHERE state = 'sent'")[0]
    replies = await worker.press_data(f"N:{nudge_id}:prep")  # "Prepare now", as it was sent
    assert "Getting ready for supervision" in replies[0]
    assert "Anything else you'd like to bring?" in replies[-1]


async def test_a_pack_already_shared_is_acknowledged_not_nagged(
    bot: Harness, at: Clock, linked: tuple[Chat, Chat]
) -> None:
    worker, _ = linked
    await worker.send("Something to bring")
    await worker.send("/entries")
    await worker.press(worker.buttons()[0])
    await worker.press("Bring to supervision")
    await worker.send("/share")
    await worker.press("Supervision pack (1)")
    await worker.press("Share with Sam")
    await set_session(worker, "Fri 14:00")
    move_to(at, "2026-12-03 14:00")
    await due(bot)
    text = reminders_seen(worker)[-1]
    assert "already shared your supervision pack with Sam" in text
    assert worker.sent()[-1].params.get("reply_markup") is None


async def test_day_and_time_buttons_and_kind_refusals(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await worker.send("/supervision")
    await worker.press("Set my next session")
    assert worker.buttons()[:3] == ["Wed 2 Dec", "Thu 3 Dec", "Fri 4 Dec"]
    assert len(worker.buttons()) == 8  # a week, and "Later »"
    await worker.press("Later »")
    assert worker.buttons()[0] == "Wed 9 Dec" and worker.buttons()[-1] == "« Sooner"
    await worker.press("« Sooner")
    replies = await worker.send("next blue moon")
    assert "couldn't read that" in replies[-1]
    replies = await worker.send("2026-12-01 10:00")
    assert "already gone" in replies[0]
    await worker.press("Tue 8 Dec")
    assert worker.buttons()[0] == "09:00"
    replies = await worker.send("half past")
    assert "couldn't read that time" in replies[-1]
    await worker.press("15:00")
    replies = await worker.press("Every 2 weeks")
    assert "Saved: supervision on Tue 8 Dec at 15:00, every 2 weeks." in replies[-1]
    menu = (await worker.send("/supervision"))[-1]
    assert "on Tue 8 Dec at 15:00 (every 2 weeks)" in menu


# ---- moving, cancelling, repeating --------------------------------------------------------------


async def test_moved_session_takes_its_reminders_with_it(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await set_session(worker, "Fri 14:00")
    await worker.send("/supervision")
    await worker.press("Move Fri 4 Dec 14:00")
    replies = await worker.send("Mon 10:00")
    assert "Moved: supervision on Mon 7 Dec at 10:00." in replies[-1]
    pending = rows(bot, "SELECT due_at FROM nudges WHERE state = 'pending' ORDER BY due_at")
    assert pending == [
        ("2026-12-06T10:00:00.000000+00:00",),
        ("2026-12-07T09:00:00.000000+00:00",),
    ]
    move_to(at, "2026-12-04 13:30")
    assert await due(bot) == 0  # nothing for the old time
    move_to(at, "2026-12-06 10:00")
    assert await due(bot) == 1
    assert reminders_seen(worker)[-1].startswith("Your supervision is tomorrow at 10:00.")


async def test_cancelled_session_sends_nothing(worker: Chat, bot: Harness, at: Clock) -> None:
    await set_session(worker, "Fri 14:00")
    await worker.send("/supervision")
    await worker.press("Cancel")
    await worker.press("Cancel it")
    assert "Cancelled: supervision on Fri 4 Dec at 14:00." in worker.read()[-1]
    assert rows(bot, "SELECT COUNT(*) FROM nudges WHERE state = 'pending'") == [(0,)]
    move_to(at, "2026-12-05 09:00")
    assert await due(bot) == 0
    assert reminders_seen(worker) == []


async def test_repeating_session_keeps_its_local_time_across_the_clocks_going_forward(
    worker: Chat, bot: Harness, clock: Clock
) -> None:
    move_to(clock, "2026-03-16 12:00")  # Monday, two weeks before British Summer Time
    await set_session(worker, "Tue 14:00", "Every week")
    starts = []
    for _ in range(4):
        (start,) = rows(bot, "SELECT starts_at FROM sessions WHERE state = 'planned'")
        starts.append(start[0])
        clock.now = datetime.fromisoformat(start[0]) + timedelta(minutes=1)
        await due(bot)
    assert starts == [
        "2026-03-17T14:00:00.000000+00:00",
        "2026-03-24T14:00:00.000000+00:00",
        "2026-03-31T13:00:00.000000+00:00",  # 14:00 BST
        "2026-04-07T13:00:00.000000+00:00",
    ]
    assert len(reminders_seen(worker)) == 0  # the clock jumped past every reminder's use
    assert rows(bot, "SELECT COUNT(*) FROM nudges WHERE state = 'dropped'") == [(8,)]


async def test_cancel_one_of_a_series_keeps_the_rhythm(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await set_session(worker, "Fri 14:00", "Every 2 weeks")
    await worker.send("/supervision")
    await worker.press("Cancel")
    assert worker.buttons() == ["Cancel just this one", "Cancel all of them", "Keep it"]
    await worker.press("Cancel just this one")
    assert rows(bot, "SELECT local_start, state FROM sessions ORDER BY id") == [
        ("2026-12-04T14:00", "cancelled"),
        ("2026-12-18T14:00", "planned"),
    ]
    await worker.send("/supervision")
    await worker.press("Cancel")
    await worker.press("Cancel all of them")
    assert rows(bot, "SELECT COUNT(*) FROM sessions WHERE state = 'planned'") == [(0,)]


# ---- supervisor and worker both see sessions ----------------------------------------------------


async def test_supervisor_sets_a_session_for_a_supervisee(
    bot: Harness, at: Clock, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await supervisor.send("/supervision")
    await supervisor.press("Alex: sessions and more")  # Alex's own screen
    await supervisor.press("Set a session for Alex")
    await supervisor.send("Thu 10:00")
    replies = await supervisor.press("Every month")
    assert "Saved: Alex's supervision tomorrow at 10:00, every month." in replies[-1]
    assert "Sam has set your next supervision: tomorrow at 10:00, every month." in worker.read()[-1]
    assert "set by Sam" in (await worker.send("/supervision"))[-1]
    assert "Alex" in (await supervisor.send("/supervision"))[-1]

    # Worker moves it: the supervisor is told.
    await worker.send("/supervision")
    await worker.press("Move Thu 3 Dec 10:00")
    await worker.send("Thu 11:00")
    assert "Alex has moved their supervision to tomorrow at 11:00." in supervisor.read()[-1]

    # Each is reminded by their own settings; Sam's says whether Alex has shared anything.
    move_to(at, "2026-12-03 10:00")
    await due(bot)
    assert reminders_seen(worker) and not reminders_seen(supervisor)
    assert supervisor.read()[-1].startswith("Your supervision with Alex is today at 11:00")
    assert "Alex hasn't shared anything for it yet" in supervisor.read()[-1]
    assert supervisor.buttons() == ["Alex: sessions and more", "Not this time"]

    # Someone else pressing the session's buttons finds nothing.
    stranger = Chat(bot, Person(user_id=3003, first_name="Jo"))
    (session_id,) = rows(bot, "SELECT id FROM sessions WHERE state = 'planned'")[0]
    await stranger.press_data(f"u:{session_id}:cancel")
    await stranger.press_data(f"u:new:{worker.person.user_id}")
    assert all(t.startswith("I couldn't find that") for t in stranger.toasts()[-2:])
    assert rows(bot, "SELECT COUNT(*) FROM sessions WHERE state = 'planned'") == [(1,)]


# ---- after a quick check: one invitation to reflect ---------------------------------------------


async def quick_check(chat: Chat) -> None:
    await chat.send("/moment")
    await chat.press("Skip")
    for label in ["A colleague", "A brief outline", "To offer hope or ideas", "Yes", "Yes", "Yes"]:
        await chat.press(label)


async def test_reflection_invitation_four_hours_later_and_linked(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    move_to(at, "2026-12-02 10:00")
    await quick_check(worker)
    move_to(at, "2026-12-02 13:59")
    assert await due(bot) == 0
    move_to(at, "2026-12-02 14:00")
    assert await due(bot) == 1
    assert "would you like to reflect on how it went?" in worker.read()[-1]
    await worker.press("Reflect now")
    assert rows(bot, "SELECT flow, episode_id FROM entries ORDER BY id") == [
        ("in_the_moment", 1),
        ("reflection", 1),  # the same sharing episode
    ]


async def test_reflection_invitation_waits_for_the_end_of_quiet_hours(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    move_to(at, "2026-12-02 19:00")
    await quick_check(worker)
    move_to(at, "2026-12-02 23:00")
    assert await due(bot) == 0
    move_to(at, "2026-12-03 08:00")
    assert await due(bot) == 1


async def test_no_invitation_once_they_have_reflected(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await quick_check(worker)
    await worker.send("/reflect")  # not joined to the check's episode: it still counts
    await worker.send("It went fine")
    await worker.send("They asked more")
    for _ in range(2):
        await worker.send("/skip")
    await worker.press("Maybe later")
    move_to(at, "2026-12-03 08:00")
    assert await due(bot) == 0
    assert rows(bot, "SELECT reason FROM nudges") == [("already reflected",)]


# ---- /reminders: weekly, quiet hours, pause, time zone ------------------------------------------


async def test_weekly_reminder_is_opt_in_and_weekly(worker: Chat, bot: Harness, at: Clock) -> None:
    text = (await worker.send("/reminders"))[-1]
    assert "Weekly reflection: off" in text and "Quiet hours: 21:00–08:00" in text
    assert rows(bot, "SELECT COUNT(*) FROM nudges") == [(0,)]
    await worker.press("Weekly reflection: off")
    await worker.press("Mon")
    replies = await worker.press("09:00")
    assert "Weekly reflection: Mon at 09:00" in replies[-1]
    move_to(at, "2026-12-07 09:00")
    assert await due(bot) == 1
    assert "weekly reflection time" in worker.read()[-1]
    assert worker.buttons() == ["Reflect now", "Write in my journal", "Not this week"]
    assert rows(bot, "SELECT due_at FROM nudges WHERE state = 'pending'") == [
        ("2026-12-14T09:00:00.000000+00:00",)
    ]
    await worker.press("Write in my journal")
    assert rows(bot, "SELECT flow FROM entries") == [("journal",)]


async def test_settings_buttons_cycle_and_are_shown_at_once(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await worker.send("/reminders")
    await worker.press("First reminder: 1 day before")
    assert "First reminder: 2 days before" in worker.buttons()
    await worker.press("First reminder: 2 days before")
    await worker.press("First reminder: 12 hours before")
    await worker.press("Second reminder: 1 hour before")
    await worker.press("Quiet hours: 21:00–08:00")
    await worker.press("After a check: 4 hours later")
    text = worker.edits()[-1]
    assert "Before supervision: 2 hours before" in text
    assert "Quiet hours: 22:00–07:00" in text
    assert "an invitation to reflect, 2 hours later" in text
    assert rows(
        bot, "SELECT first_before, second_before, reflect_after FROM reminder_settings"
    ) == [(0, 120, 120)]
    replies = await set_session(worker, "Fri 14:00")
    assert "remind you 2 hours before" in replies[-1]


async def test_pause_drops_what_falls_due_and_resume_plans_again(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await weekly(worker, "Wed", "18:00")
    await set_session(worker, "Fri 14:00")
    await worker.send("/reminders")
    await worker.press("Pause everything")
    await worker.press("Until a date…")
    replies = await worker.send("yesterday")
    assert "still to come" in replies[-1]
    replies = await worker.send("4 Dec")
    assert "Paused until Fri 4 Dec" in replies[-1]
    # The weekly one today at 18:00 and the session's day-before one fall in the pause.
    move_to(at, "2026-12-03 14:00")
    assert await due(bot) == 0
    assert reminders_seen(worker) == [] and "weekly" not in " ".join(worker.read()[-3:])
    assert sorted(r for (r,) in rows(bot, "SELECT reason FROM nudges WHERE state = 'dropped'")) == [
        "paused"
    ]
    # Next week's weekly one is planned after the pause.
    assert ("2026-12-09T18:00:00.000000+00:00",) in rows(
        bot, "SELECT due_at FROM nudges WHERE kind = 'weekly' AND state = 'pending'"
    )
    move_to(at, "2026-12-04 13:00")  # the pause is over: the hour-before one arrives
    assert await due(bot) == 1
    await worker.send("/reminders")
    await worker.press("Pause everything")
    await worker.press("1 week")
    await worker.send("/reminders")
    await worker.press("Resume now")
    assert "Reminders are back on" in worker.toasts()[-1]
    assert rows(bot, "SELECT paused_until FROM reminder_settings") == [(None,)]


async def test_time_zone_change_moves_schedules_with_it(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await weekly(worker)
    await set_session(worker, "Fri 14:00")
    await worker.send("/settings")
    await worker.press("Europe/Paris")
    assert rows(bot, "SELECT local_start, starts_at FROM sessions") == [
        ("2026-12-04T14:00", "2026-12-04T13:00:00.000000+00:00")  # 14:00 in Paris
    ]
    pending = rows(bot, "SELECT kind, due_at FROM nudges WHERE state = 'pending' ORDER BY due_at")
    assert pending == [
        ("session", "2026-12-03T13:00:00.000000+00:00"),
        ("session", "2026-12-04T12:00:00.000000+00:00"),
        ("weekly", "2026-12-07T08:00:00.000000+00:00"),  # 09:00 in Paris
    ]
    assert rows(bot, "SELECT COUNT(*) FROM nudges WHERE state = 'cancelled'") == [(2,)]


# ---- down time, stale and forged buttons, forgetting ---------------------------------------------


async def test_nudges_missed_while_down_are_sent_if_still_useful(
    worker: Chat, bot: Harness, at: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    await set_session(worker, "Fri 14:00")
    await quick_check(worker)  # invites reflection at 20:30, quiet hours: 08:00 Thursday
    move_to(at, "2026-12-04 12:00")  # down since Wednesday
    with caplog.at_level(logging.INFO, logger="flows.features.sessions.reminders"):
        assert await due(bot) == 1
    # The day-before reminder is late but still useful, and says what is true now; the
    # hour-before one would follow within the hour, so it goes; the invitation is too late.
    assert reminders_seen(worker) == [
        "Your supervision is today at 14:00.\nIf it would help, you could take a few minutes"
        " to think about what you'd like to bring."
    ]
    assert not any("reflect on how it went" in t for t in worker.read())
    assert "too late to be useful" in caplog.text
    assert "Alex" not in caplog.text
    move_to(at, "2026-12-04 13:00")
    assert await due(bot) == 0
    assert rows(bot, "SELECT kind, state, reason FROM nudges ORDER BY due_at") == [
        ("reflect", "dropped", "too late to be useful"),
        ("session", "sent", ""),
        ("session", "cancelled", "just reminded"),
    ]


async def test_forged_and_old_nudge_buttons(worker: Chat, bot: Harness, at: Clock) -> None:
    await set_session(worker, "Fri 14:00")
    move_to(at, "2026-12-03 14:00")
    await due(bot)
    (nudge_id,) = rows(bot, "SELECT id FROM nudges WHERE state = 'sent'")[0]
    other = Chat(bot, Person(user_id=3003, first_name="Jo"))
    await other.press_data(f"N:{nudge_id}:snooze")
    assert other.toasts()[-1].startswith("I couldn't find that")
    move_to(at, "2026-12-04 14:30")
    await due(bot)
    await worker.press_data(f"N:{nudge_id}:snooze")
    assert "already started" in worker.toasts()[-1]


async def test_forget_erases_sessions_and_nudges(worker: Chat, bot: Harness, at: Clock) -> None:
    await set_session(worker, "Fri 14:00", "Every week")
    await weekly(worker)
    await worker.send("/forget")
    await worker.press("Erase everything")
    await worker.press(worker.buttons()[0])
    for table in ("sessions", "nudges", "reminder_settings"):
        assert rows(bot, f"SELECT COUNT(*) FROM {table}") == [(0,)]
    assert bot.app.bot_data.alarm.armed_for is None or await due(bot) == 0


def test_every_nudge_wording_is_in_prompts() -> None:
    from flows.features import sessions

    for module in Path(sessions.__file__).parent.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        assert not re.search(r"t\.say\(\"", source), "wording belongs in prompts/messages.yaml"


async def test_two_reminders_due_together_arrive_as_one(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await set_session(worker, "Fri 14:00")
    move_to(at, "2026-12-04 13:30")  # down through both
    assert await due(bot) == 1
    assert len(reminders_seen(worker)) == 1


async def test_export_holds_sessions_nudges_and_settings(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    import json

    from flows.kernel.export import document, to_json

    await set_session(worker, "Fri 14:00", "Every 2 weeks")
    await weekly(worker)
    await worker.send("/export")
    calls = [c for c in bot.request.calls if c.method == "sendDocument"]
    files = {c.params["document"].filename: c.params["document"].content for c in calls}
    data = json.loads(next(v for k, v in files.items() if k.endswith(".json")))
    md = next(v for k, v in files.items() if k.endswith(".md")).decode()
    kinds = [(i["kind"], i.get("about")) for i in data["schedules"]]
    assert kinds == [
        ("session", None),
        ("nudge", "session"),
        ("nudge", "session"),
        ("nudge", "weekly"),
        ("reminders", None),
    ]
    session = data["schedules"][0]
    assert session == {
        "kind": "session",
        "id": session["id"],
        "starts_at": "2026-12-04T14:00:00.000000Z",
        "local_start": "2026-12-04T14:00",
        "every": "2w",
        "state": "planned",
        "set_by": 1001,
    }
    assert data["schedules"][-1]["weekly_day"] == 0
    assert "## Supervision sessions and reminders" in md
    assert "- Supervision on Fri 4 Dec 2026, 14:00 · every 2 weeks" in md
    assert "weekly: Monday at 09:00" in md
    # The hand-written JSON is exactly what the standard encoder writes.
    from flows.kernel.export import ExportPerson

    person = ExportPerson(1, "Europe/London", START)
    items = data["schedules"]
    expected = json.dumps(
        document(person, [], START, schedules=items), ensure_ascii=False, indent=2
    )
    assert to_json(person, [], START, schedules=items).decode() == expected + "\n"


async def test_weekly_nine_oclock_across_the_clocks_going_back(
    worker: Chat, bot: Harness, clock: Clock
) -> None:
    move_to(clock, "2026-10-12 12:00")
    await weekly(worker)
    sent_at = []
    for _ in range(3):
        (due_at,) = rows(bot, "SELECT due_at FROM nudges WHERE state = 'pending'")[0]
        clock.now = datetime.fromisoformat(due_at)
        assert await due(bot) == 1
        sent_at.append(due_at)
    assert sent_at == [
        "2026-10-19T08:00:00.000000+00:00",  # 09:00 BST
        "2026-10-26T09:00:00.000000+00:00",  # 09:00 GMT, the day after the change
        "2026-11-02T09:00:00.000000+00:00",
    ]


async def test_session_reminders_come_in_quiet_hours_others_wait(
    worker: Chat, bot: Harness, at: Clock
) -> None:
    await set_session(worker, "Thu 08:30")  # its hour-before reminder is at 07:30, in quiet hours
    move_to(at, "2026-12-02 18:00")
    await quick_check(worker)  # its invitation would be at 22:00, in quiet hours
    move_to(at, "2026-12-03 07:30")
    assert await due(bot) == 1
    assert reminders_seen(worker)[-1].startswith("Your supervision is today at 08:30.")
    assert not any("reflect on how it went" in t for t in worker.read())
    move_to(at, "2026-12-03 08:00")
    assert await due(bot) == 1  # the invitation, at the end of quiet hours
