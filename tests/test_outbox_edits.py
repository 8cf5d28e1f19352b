"""A button's new text ("Shared with Sam") is saved with the press, like every reply, so a crash
(here: the network failing) after the share was committed cannot leave the person unsure."""

from __future__ import annotations

import sqlite3

from bot.delivery import flush_outbox
from tests.drivers import Harness, linked_pair


async def test_the_confirmation_edit_waits_in_the_outbox_until_sent(bot: Harness) -> None:
    worker, _ = await linked_pair(bot)
    await worker.send("a note worth sharing")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    bot.request.fail_chats.add(worker.chat_id)  # the edit cannot go out: as if we died here
    await worker.press("Share with Sam")
    assert not any("Shared with Sam" in e for e in worker.edits())
    with sqlite3.connect(bot.service.store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM shares").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] >= 1
    bot.request.fail_chats.clear()
    await flush_outbox(bot.app.bot, bot.service)  # what the next start does first
    assert "Shared with Sam" in worker.edits()[-1]
    await bot.service.store.flush_sent()
    with sqlite3.connect(bot.service.store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
