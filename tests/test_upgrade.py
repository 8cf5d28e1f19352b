"""What an upgrade must not break: messages already waiting in the outbox, written in the shape an
earlier CoReflect saved them in, and buttons already sitting in people's chats."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bot.delivery import flush_outbox
from flows.store.core import migration_files
from flows.store.unit import Unit, outbox_aad
from tests.drivers import Chat, Harness

# Every button prefix CoReflect has ever put in a chat. A button pressed days later must still
# reach its owner, so none of these may ever be dropped or given to another feature.
PREFIXES_IN_CHATS = {
    # question sets, journal, account, progress
    "a", "c", "s", "i", "id", "v", "l", "o", "x", "e", "z", "f", "pg", "nt",
    # supervision
    "g", "j", "n", "h", "w", "d", "y", "m", "q", "r", "k", "p",
    # sessions and reminders
    "u", "N", "M", "b",
    # team learning
    "t",
}  # fmt: skip


def test_every_button_prefix_ever_sent_still_has_its_owner(bot: Harness) -> None:
    desk = bot.service.desk
    assert set(desk.buttons) | set(desk.turn_buttons) >= PREFIXES_IN_CHATS


async def test_buttons_saved_in_chats_before_the_upgrade_still_work(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    """Pressed as they were written (prefix, ids, values), not as the code writes them now."""
    worker, supervisor = linked
    await worker.send("Something I wrote before the upgrade")
    (entry_id,) = await bot.service.store.run(
        lambda tx: [e.id for e in tx.entries(worker.chat_id, limit=1)]
    )
    opened = await worker.press_data(f"o:{entry_id}")
    assert "Something I wrote before the upgrade" in opened[0]
    await worker.press_data(f"x:{entry_id}:flag")
    assert worker.toasts()[-1] == "Marked to bring to supervision"
    assert "nothing to show yet" in (await worker.press_data("pg:4"))[0]
    assert (
        "When is your next supervision?" in (await worker.press_data(f"u:new:{worker.chat_id}"))[0]
    )
    assert "Nothing has been shared with you yet" in (await supervisor.press_data("y:0"))[0]
    assert "isn't available any more" in (await worker.press_data("t:s"))[0]


async def test_replies_waiting_in_the_old_shape_are_still_sent(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    """A summary queued before the upgrade named its share as `"share": id` in the payload."""
    worker, supervisor = linked
    await worker.send("Waiting out an upgrade")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    bot.request.fail_chats = {supervisor.chat_id}  # Telegram unreachable: it waits in the outbox
    await worker.press("Share with Sam")
    bot.request.fail_chats = set()
    keys = bot.service.store.keys

    def to_old_shape(tx: Unit) -> int:
        (row_id, chat, payload, owner), *_ = tx.conn.execute(
            "SELECT id, chat_id, payload, sealed_for FROM outbox WHERE guard_kind = 'share'"
        ).fetchall()
        cipher = tx.cipher_of(owner)
        assert cipher is not None
        data = json.loads(cipher.open(payload, outbox_aad(chat, row_id)))
        kind, share_id = data.pop("guard")
        assert kind == "share"
        data["share"] = share_id
        # Then, waiting replies were sealed with the master key (sealed_for NULL).
        old = keys.master.seal(json.dumps(data).encode(), outbox_aad(chat, row_id))
        tx.conn.execute(
            "UPDATE outbox SET payload = ?, sealed_for = NULL WHERE id = ?", (old, row_id)
        )
        return int(share_id)

    share_id = await bot.service.store.run(to_old_shape)
    await flush_outbox(bot.app.bot, bot.service)
    summaries = [c for c in supervisor.sent() if "Waiting out an upgrade" in str(c.params["text"])]
    assert len(summaries) == 1 and summaries[0].params["protect_content"] is True
    kept = await bot.service.store.run(
        lambda tx: tx.conn.execute(
            "SELECT COUNT(*) FROM share_messages WHERE share_id = ?", (share_id,)
        ).fetchone()[0]
    )
    assert kept == 1  # its message id is kept, so a withdrawal can still delete it


def test_the_outbox_migration_carries_waiting_rows_over(tmp_path: Path) -> None:
    """Rows queued under the old columns (share_id, nudge_id) keep their guard."""
    db = sqlite3.connect(tmp_path / "old.db")
    files = migration_files()
    for name, sql in files:
        if name.startswith("007"):
            break
        db.executescript(sql)
    db.execute(
        "INSERT INTO outbox (chat_id, payload, created_at, share_id) VALUES (1, x'00', 'now', 7)"
    )
    db.execute(
        "INSERT INTO outbox (chat_id, payload, created_at, nudge_id) VALUES (1, x'00', 'now', 9)"
    )
    db.execute("INSERT INTO outbox (chat_id, payload, created_at) VALUES (1, x'00', 'now')")
    db.executescript(dict(files)["007_outbox_guard.sql"])
    rows = db.execute("SELECT guard_kind, guard_id FROM outbox ORDER BY id").fetchall()
    assert rows == [("share", 7), ("nudge", 9), (None, None)]
