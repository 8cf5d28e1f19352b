"""Nudges are never lost and never doubled: restarts around the send, 429s, a stalled loop.

The documented window: a nudge is moved into the outbox (claimed) and marked sent in one
transaction; its outbox row is removed with the commit after Telegram accepts it. Die between
claim and send: it is sent after the restart, once. Die between Telegram accepting it and that
commit: it arrives twice. Nothing else repeats, and nothing is lost.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telegram.ext import Application

from bot.app import open_service
from bot.delivery import deliver, flush_outbox
from bot.telegram_bot import build_application
from flows.app import App
from flows.features.sessions import db as sessions_db
from tests.drivers import Chat, Clock, Harness, make_config
from tests.offline import Person, RecordingRequest
from tests.test_nudges import REMINDER, move_to, set_session

START = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)
ALEX = Person(user_id=1001, first_name="Alex")


async def open_bot(data_dir: Path, clock: Clock | None = None) -> Harness:
    config = make_config(data_dir)
    service = await open_service(config)
    if clock is not None:
        service.store.clock = clock
    request = RecordingRequest()
    app = build_application(config, service, request=request)
    await app.initialize()
    return Harness(app, request, service, config)


async def crash(bot: Harness) -> None:
    """As SIGKILL would: nothing more reaches the database (sent rows are not committed)."""
    await bot.service.store.db.close()
    await bot.app.shutdown()
    bot.request.assert_valid()


async def restart(data_dir: Path, clock: Clock) -> Harness:
    """What start-up does: send whatever waits in the outbox, then catch up on due nudges."""
    bot = await open_bot(data_dir, clock)
    await flush_outbox(bot.app.bot, bot.service)
    await bot.app.bot_data.alarm.run_due()
    return bot


async def close(bot: Harness) -> None:
    await bot.app.shutdown()
    await bot.service.store.close()
    bot.request.assert_valid()


def reminders(bot: Harness) -> int:
    return sum(
        1
        for c in bot.request.calls
        if c.method == "sendMessage" and str(c.params["text"]).startswith(REMINDER)
    )


async def planned(tmp_path: Path) -> tuple[Harness, Clock]:
    clock = Clock()
    clock.now = START
    bot = await open_bot(tmp_path / "data", clock)
    await set_session(Chat(bot, ALEX), "Fri 14:00")
    move_to(clock, "2026-12-03 14:00")
    return bot, clock


async def test_die_between_claim_and_send_then_it_arrives_once(tmp_path: Path) -> None:
    bot, clock = await planned(tmp_path)
    claimed = await bot.service.due()
    assert len(claimed) == 1
    await crash(bot)
    assert reminders(bot) == 0

    again = await restart(tmp_path / "data", clock)
    assert reminders(again) == 1
    await close(again)
    third = await restart(tmp_path / "data", clock)
    assert reminders(third) == 0
    await close(third)


async def test_die_between_send_and_mark_then_it_arrives_twice_at_most(tmp_path: Path) -> None:
    bot, clock = await planned(tmp_path)
    claimed = await bot.service.due()
    await deliver(bot.app.bot, bot.service, claimed)
    assert reminders(bot) == 1
    await crash(bot)  # Telegram has it; the commit removing its outbox row never happened

    again = await restart(tmp_path / "data", clock)
    assert reminders(again) == 1  # the one documented repeat
    await close(again)  # a clean stop commits the removal
    third = await restart(tmp_path / "data", clock)
    assert reminders(third) == 0
    await close(third)


async def test_a_claimed_nudge_no_longer_useful_after_the_restart_is_withheld(
    tmp_path: Path,
) -> None:
    bot, clock = await planned(tmp_path)
    await bot.service.due()
    await crash(bot)
    move_to(clock, "2026-12-04 15:00")  # down until after the session started
    again = await restart(tmp_path / "data", clock)
    assert reminders(again) == 0
    state = await again.service.store.run(
        lambda tx: tx.conn.execute("SELECT state, reason FROM nudges ORDER BY due_at").fetchall()
    )
    assert state == [("dropped", "too late to be useful")] * 2
    await close(again)


async def test_429s_are_waited_out_and_every_nudge_arrives_once(bot: Harness, clock: Clock) -> None:
    clock.now = START
    people = [Chat(bot, Person(user_id=1100 + n, first_name=f"P{n}")) for n in range(4)]
    for chat in people:
        await set_session(chat, "Fri 14:00")
    nudger = bot.app.bot_data.alarm
    move_to(clock, "2026-12-03 13:59")
    assert await nudger.run_due() == 0  # none early
    move_to(clock, "2026-12-03 14:00")
    bot.request.too_many = 3  # "retry after 1 s", three times
    assert await nudger.run_due() == 4
    assert len(bot.request.refused) == 3
    assert [_seen(c) for c in people] == [1, 1, 1, 1]


async def test_429s_beyond_the_limiters_retries_wait_in_the_outbox(
    bot: Harness, clock: Clock
) -> None:
    clock.now = START
    chat = Chat(bot, ALEX)
    await set_session(chat, "Fri 14:00")
    nudger = bot.app.bot_data.alarm
    move_to(clock, "2026-12-03 14:00")
    bot.request.too_many = 5  # the first try and all three retries are refused
    await nudger.run_due()
    assert _seen(chat) == 0 and len(bot.request.refused) == 4
    assert nudger.armed_for == clock.now + timedelta(seconds=15)  # the alarm's retry
    await nudger.run_due()  # what that retry does
    assert _seen(chat) == 1 and len(bot.request.refused) == 5
    await nudger.run_due()
    assert _seen(chat) == 1


def _seen(chat: Chat) -> int:
    return sum(1 for text in chat.read() if text.startswith(REMINDER))


async def test_a_five_second_stall_around_the_due_time_still_delivers(data_dir: Path) -> None:
    """With APScheduler's default one-second misfire grace, this nudge would be skipped."""
    bot = await open_bot(data_dir)  # the real clock, and the real JobQueue running
    app: Application[Any, Any, Any, Any, Any, Any] = bot.app
    service: App = bot.service
    await app.start()
    try:
        await Chat(bot, ALEX).send("/start")
        due = datetime.now(UTC) + timedelta(seconds=1)
        await service.store.run(
            lambda tx: sessions_db.nudge_plan(
                tx, ALEX.user_id, "weekly", "w:stall", due, due + timedelta(hours=1)
            )
        )
        await app.bot_data.alarm.rearm()
        time.sleep(5)  # the event loop is stuck across the due time
        for _ in range(50):
            await asyncio.sleep(0.1)
            if any("weekly reflection time" in t for t in Chat(bot, ALEX).read()):
                break
        assert [t for t in Chat(bot, ALEX).read() if "weekly reflection time" in t]
    finally:
        await app.stop()
        await close(bot)


async def test_replies_left_by_a_failed_press_answer_go_with_the_next_flush(
    bot: Harness, clock: Clock
) -> None:
    """Answering a press fails (the network blips): the replies saved with it are not stuck
    as "being sent" for ever; the next flush sends them, once."""
    clock.now = START
    chat = Chat(bot, ALEX)
    await chat.send("/reminders")
    bot.request.fail_methods = {"answerCallbackQuery"}
    before = len(chat.sent())
    await chat.press("Weekly reflection: off")  # its reply: "Which day…?"
    assert not any("Which day" in t for t in chat.read()[before:])
    bot.request.fail_methods = set()
    await flush_outbox(bot.app.bot, bot.service)
    assert [t for t in chat.read()[before:] if "Which day" in t] != []
    await flush_outbox(bot.app.bot, bot.service)
    assert sum("Which day" in t for t in chat.read()) == 1
