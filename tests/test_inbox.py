"""The consumer: a batch from the inbox, several people interleaved, each person's order kept."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from bot.inbox import InboxRunner
from tests.drivers import Chat, Harness, plain
from tests.offline import Person


async def test_interleaved_people_each_keep_their_order(bot: Harness) -> None:
    people = [Person(3000 + n, f"P{n}") for n in range(5)]
    updates = []
    for person in people:
        updates.append(person.text("/prepare"))
    for k in range(4):
        for person in people:
            updates.append(person.text(f"{person.first_name} answer {k}"))
    await bot.service.store.inbox_add([(u["update_id"], json.dumps(u).encode()) for u in updates])
    runner = InboxRunner(bot.app, bot.service)
    await runner.process_batch(await bot.service.store.inbox_unhandled(limit=100))

    for person in people:
        asked = [plain(t) for t in Chat(bot, person).sent_texts() if "Question" in t]
        assert [q.split("\n")[0] for q in asked] == [
            "Question 1 of 6",
            "Question 2 of 6 · with colleagues",
            "Question 2 of 6 · with the people you support",
            "Question 3 of 6 · with colleagues",
            "Question 3 of 6 · with the people you support",
        ]
    with sqlite3.connect(bot.service.store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 5 * 4
        assert db.execute("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM inbox WHERE payload IS NOT NULL").fetchone()[0] == 0
    await bot.service.store.flush_sent()
    with sqlite3.connect(bot.service.store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


async def test_a_failing_update_is_marked_and_does_not_block_the_rest(bot: Harness) -> None:
    alex, sam = Person(3100, "Alex"), Person(3101, "Sam")
    broken = {"update_id": 10**9, "message": {"this is": "not a message"}}
    updates = [alex.text("/prepare"), broken, sam.text("/prepare"), alex.text("fine")]
    await bot.service.store.inbox_add([(u["update_id"], json.dumps(u).encode()) for u in updates])
    runner = InboxRunner(bot.app, bot.service)
    await runner.process_batch(await bot.service.store.inbox_unhandled(limit=100))
    assert await bot.service.store.inbox_unhandled() == []  # marked: never retried for ever
    assert any("Question 2 of 6" in t for t in Chat(bot, alex).sent_texts())
    assert any("Question 1 of 6" in t for t in Chat(bot, sam).sent_texts())


async def _store(bot: Harness, updates: list[dict[str, Any]]) -> None:
    await bot.service.store.inbox_add([(u["update_id"], json.dumps(u).encode()) for u in updates])


def _unhandled(bot: Harness) -> int:
    with sqlite3.connect(bot.service.store.path) as db:
        return int(db.execute("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL").fetchone()[0])


async def test_a_stuck_chat_holds_up_nobody_else(bot: Harness) -> None:
    """One chat's update is stuck (waiting on Telegram, say); other people's updates, stored
    before and after it, are all handled meanwhile: no batch waits for its slowest chain."""
    alex, sam = Person(3200, "Alex"), Person(3201, "Sam")
    runner = InboxRunner(bot.app, bot.service)
    release = asyncio.Event()
    handle = runner.handle_row

    async def slow_for_alex(update_id: int, data: dict[str, Any]) -> None:
        if data.get("message", {}).get("chat", {}).get("id") == alex.user_id:
            await release.wait()
        await handle(update_id, data)

    runner.handle_row = slow_for_alex  # type: ignore[method-assign]
    await _store(bot, [alex.text("/help"), sam.text("/help")])
    consumer = asyncio.create_task(runner._consume())
    sam_chat = Chat(bot, sam)
    for _ in range(500):
        if _unhandled(bot) == 1:
            break
        await asyncio.sleep(0.01)
    await _store(bot, [sam.text("/prepare"), alex.text("/prepare")])  # a later batch
    runner.wake()
    for _ in range(500):
        if any("Question 1 of 6" in t for t in sam_chat.sent_texts()):
            break
        await asyncio.sleep(0.01)
    assert any("Question 1 of 6" in t for t in sam_chat.sent_texts()), sam_chat.sent_texts()
    assert Chat(bot, alex).sent_texts() == []  # still stuck, and its order kept
    release.set()
    alex_chat = Chat(bot, alex)
    for _ in range(500):
        if any("Question 1 of 6" in t for t in alex_chat.sent_texts()):
            break
        await asyncio.sleep(0.01)
    assert any("Question 1 of 6" in t for t in alex_chat.sent_texts())
    runner.stop()
    await asyncio.wait_for(consumer, 5)


async def test_a_flood_is_paced_kept_and_answered_with_one_kind_line(bot: Harness) -> None:
    flooder, other = Person(3300, "Flo"), Person(3301, "Oz")
    runner = InboxRunner(bot.app, bot.service, input_rate=(3, 0.3))
    await _store(bot, [flooder.text("/help") for _ in range(8)] + [other.text("/help")])
    await runner.process_batch(await bot.service.store.inbox_unhandled(limit=100))
    assert _unhandled(bot) == 0  # every message handled, none dropped
    said = [plain(t) for t in Chat(bot, flooder).sent_texts()]
    assert said.count("I'm catching up – everything you send is kept.") == 1
    assert "catching up" not in " ".join(Chat(bot, other).sent_texts())


async def test_the_minute_sweep_leaves_reminders_to_a_run_already_sending(bot: Harness) -> None:
    """10,000 reminders take minutes at Telegram's pace: the sweep's other upkeep (ending
    expired shares, leaving stray groups) does not wait behind them."""
    runner = InboxRunner(bot.app, bot.service)
    alarm = bot.app.bot_data.alarm
    runs: list[str] = []

    async def run_due() -> int:
        runs.append("run")
        return 0

    alarm.run_due = run_due
    await runner._sweep(None)
    assert runs == ["run"]  # nothing sending: the sweep looks for anything due
    async with alarm._lock:  # a run is sending
        await runner._sweep(None)
    assert runs == ["run"]  # left to it
