"""What deletion leaves: after Delete (or a withdrawal, an expiry, an unlink) the WAL is folded
away and truncated, so a deleted entry's ciphertext is in no file of the data directory; a reader
holding an older snapshot (a backup under way) only delays that; the handled inbox is pruned
while the bot runs, not only at start-up."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from flows.kernel.crypto import KeyProblem
from tests.drivers import Chat, Harness


def blobs(bot: Harness, entry_id: int) -> list[bytes]:
    """Every ciphertext stored for one entry: its answers and its search text."""
    with sqlite3.connect(bot.service.store.path) as db:
        found = [
            v for (v,) in db.execute("SELECT value FROM answers WHERE entry_id = ?", (entry_id,))
        ]
        found += [
            v for (v,) in db.execute("SELECT search_text FROM entries WHERE id = ?", (entry_id,))
        ]
    db.close()
    assert found and all(isinstance(b, bytes) and len(b) > 28 for b in found)
    return found


def files_holding(data_dir: Path, secrets: list[bytes]) -> list[str]:
    return sorted(
        {
            path.name
            for path in data_dir.rglob("*")
            if path.is_file()
            for secret in secrets
            if secret in path.read_bytes()
        }
    )


async def delete_newest(chat: Chat) -> None:
    await chat.send("/entries")
    await chat.press(chat.buttons()[0])
    await chat.press("Delete")
    await chat.press("Yes, delete it")


async def write_and_find(chat: Chat, bot: Harness, words: str) -> list[bytes]:
    await chat.send(words)
    with sqlite3.connect(bot.service.store.path) as db:
        (entry_id,) = db.execute("SELECT MAX(id) FROM entries").fetchone()
    db.close()
    return blobs(bot, entry_id)


async def test_a_deleted_entry_leaves_no_ciphertext_in_any_file(
    chat: Chat, bot: Harness, data_dir: Path
) -> None:
    await chat.send("Something I'll keep")
    secrets = await write_and_find(chat, bot, "Something I'll regret writing down")
    assert files_holding(data_dir, secrets)  # somewhere on disk while it exists
    await delete_newest(chat)
    assert "deleted" in chat.read()[-1].lower()
    assert files_holding(data_dir, secrets) == []
    assert (data_dir / "coreflect.db-wal").stat().st_size == 0


async def test_a_reader_holding_a_snapshot_only_delays_it(
    chat: Chat, bot: Harness, data_dir: Path
) -> None:
    secrets = await write_and_find(chat, bot, "Words a backup was reading when I deleted them")
    reader = sqlite3.connect(bot.service.store.path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM entries").fetchone()  # holds this snapshot
        await delete_newest(chat)
        assert not await bot.service.store.checkpoint()  # it can't while the reader is there
        assert "coreflect.db-wal" in files_holding(data_dir, secrets)
        reader.execute("COMMIT")
    finally:
        reader.close()
    await bot.service.store.scrubbed()  # tried again until the reader let go
    assert files_holding(data_dir, secrets) == []
    assert (data_dir / "coreflect.db-wal").stat().st_size == 0


async def test_withdrawing_and_unlinking_fold_the_wal_away(
    bot: Harness, linked: tuple[Chat, Chat], data_dir: Path
) -> None:
    worker, supervisor = linked
    await worker.send("Shared, then taken back")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    await worker.press("Share with Sam")
    with sqlite3.connect(bot.service.store.path) as db:
        stored = [b for (b,) in db.execute("SELECT body FROM share_bodies")]
    db.close()
    assert stored and files_holding(data_dir, stored)
    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert files_holding(data_dir, stored) == []
    assert (data_dir / "coreflect.db-wal").stat().st_size == 0
    await worker.send("A note after")
    await supervisor.send("/supervisor")
    await supervisor.press("Unlink Alex")
    await supervisor.press("Unlink")
    assert (data_dir / "coreflect.db-wal").stat().st_size == 0


async def test_the_handled_inbox_is_pruned_while_running(bot: Harness) -> None:
    store = bot.service.store
    await store.inbox_add([(1, b"{}"), (2, b"{}"), (3, b"{}")])
    for update_id in (1, 2, 3):
        await store.inbox_mark_handled(update_id)
    await store.db.execute("UPDATE inbox SET handled_at = '2020-01-01T00:00:00+00:00'")
    await bot.service.sweep()
    async with store.db.execute("SELECT update_id FROM inbox") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [(3,)]  # the newest, for the offset


async def test_a_known_persons_waiting_update_is_sealed_with_their_key(
    chat: Chat, bot: Harness
) -> None:
    """So /forget's key destruction reaches it in WAL remnants and backups; and an update
    still waiting when its sender's key is gone is dropped, not an error."""
    store = bot.service.store
    await chat.send("/start")
    update = json.dumps(chat.person.text("words waiting in the inbox")).encode()
    stranger = json.dumps({"update_id": 99, "message": {"from": {"id": 5555}}}).encode()
    await store.inbox_add([(50, update), (99, stranger)])
    async with store.db.execute("SELECT update_id, payload, sealed_for FROM inbox") as cursor:
        rows = {uid: (payload, who) for uid, payload, who in await cursor.fetchall()}
    assert rows[50][1] == chat.person.user_id and rows[99][1] is None  # unknown: master key
    with pytest.raises(KeyProblem):
        store.keys.master.open(rows[50][0], b"inbox:50")
    assert await store.inbox_unhandled() == [(50, update), (99, stranger)]
    await store.db.execute("DELETE FROM people WHERE id = ?", (chat.person.user_id,))
    assert await store.inbox_unhandled() == [(99, stranger)]
    async with store.db.execute(
        "SELECT handled_at IS NOT NULL FROM inbox WHERE update_id = 50"
    ) as c:
        assert [tuple(r) for r in await c.fetchall()] == [(1,)]
