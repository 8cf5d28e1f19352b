"""The consumer: a batch from the inbox, several people interleaved, each person's order kept."""

from __future__ import annotations

import json
import sqlite3

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
