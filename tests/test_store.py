"""The store: migrations, encryption at rest, and refusing to start with the wrong key."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_service
from flows.kernel.model import Input, Person
from flows.store.core import StartupProblem, Store, migrate, migration_files
from flows.store.unit import Unit, legacy_outbox_aad, outbox_aad
from tests.drivers import Chat, Harness, make_config


async def test_migrations_apply_on_a_blank_database_and_are_idempotent(tmp_path: Path) -> None:
    import aiosqlite

    async with aiosqlite.connect(tmp_path / "blank.db", isolation_level=None) as db:
        first = await migrate(db)
        second = await migrate(db)
        async with db.execute("SELECT name FROM schema_migrations ORDER BY name") as cur:
            recorded = [row[0] for row in await cur.fetchall()]
        async with db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
            tables = {row[0] for row in await cur.fetchall()}
    assert first == [name for name, _ in migration_files()] and first
    assert second == []
    assert recorded == first
    assert {"people", "conversations", "entries", "answers", "inbox"} <= tables


async def pragma(store: Store, name: str) -> Any:
    async with store.db.execute(f"PRAGMA {name}") as cur:
        row = await cur.fetchone()
    assert row is not None, name
    return row[0]


async def test_store_pragmas(tmp_path: Path) -> None:
    store = await Store.open(tmp_path, synchronous="FULL")
    try:
        assert await pragma(store, "journal_mode") == "wal"
        assert await pragma(store, "foreign_keys") == 1
        assert await pragma(store, "synchronous") == 2  # FULL
    finally:
        await store.close()


async def test_key_file_is_private_and_reused(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    await store.close()
    key_file = tmp_path / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    before = key_file.read_bytes()
    store = await Store.open(tmp_path)
    await store.close()
    assert key_file.read_bytes() == before


async def _one_answer(data_dir: Path, key: str | None = None) -> None:
    service = await open_service(make_config(data_dir, key=key))
    person = Person(7)
    await service.handle(person, Input.from_text("/prepare"))
    await service.handle(person, Input.from_text("something private"))
    await service.store.close()


async def test_missing_key_with_data_refuses_and_changes_nothing(tmp_path: Path) -> None:
    await _one_answer(tmp_path)
    (tmp_path / "master.key").unlink()
    db_before = (tmp_path / "coreflect.db").read_bytes()
    with pytest.raises(StartupProblem, match="holds data but no key"):
        await Store.open(tmp_path)
    assert not (tmp_path / "master.key").exists()  # no new key made over old data
    assert (tmp_path / "coreflect.db").read_bytes() == db_before


async def test_wrong_key_refuses(tmp_path: Path) -> None:
    await _one_answer(tmp_path)
    wrong = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(StartupProblem, match="does not open"):
        await Store.open(tmp_path, key_env=wrong)
    with pytest.raises(StartupProblem, match="32 bytes"):
        await Store.open(tmp_path, key_env=base64.b64encode(b"short").decode())


async def test_key_from_environment(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    await _one_answer(tmp_path, key=key)
    assert not (tmp_path / "master.key").exists()
    store = await Store.open(tmp_path, key_env=key)
    await store.close()


async def test_canary_is_in_no_file_of_the_data_directory(chat: Chat, data_dir: Path) -> None:
    canary = "CANARY-7f3a-the-words-only-I-know"
    await chat.send("/prepare")
    await chat.send(canary)
    await chat.send(f"also {canary} here")
    await chat.send("/cancel")
    await chat.press("Keep as a draft")
    await chat.send(f"a note: {canary}")
    # While running (WAL not yet checkpointed) and after closing, in every file.
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert canary.encode() not in content, path.name
            assert canary.encode("utf-16-le") not in content, path.name


async def test_answers_are_bound_to_their_row(chat: Chat, bot: Harness) -> None:
    """Swapping two encrypted answers between rows makes them unreadable, not misattributed."""
    await chat.send("/prepare")
    await chat.send("first")
    await chat.send("second")
    path = bot.service.store.path
    with sqlite3.connect(path) as db:
        (other,) = db.execute(
            "SELECT value FROM answers WHERE step = 'comfortable_colleagues'"
        ).fetchone()
        db.execute("UPDATE answers SET value = ? WHERE step = 'experiences'", (other,))

    def read(tx: Unit) -> dict[str, str]:
        row = tx.person(chat.person.user_id, "Europe/London")
        return tx.answers(row.cipher, 1)

    with pytest.raises(Exception, match="could not be decrypted"):
        await bot.service.store.run(read)


async def inbox_rows(store: Store) -> list[tuple[Any, ...]]:
    async with store.db.execute("SELECT update_id, payload IS NULL FROM inbox") as cur:
        return [tuple(row) for row in await cur.fetchall()]


async def test_inbox_keeps_what_is_unhandled_and_prunes_old_handled_rows(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        await store.inbox_add([(1, b'{"update_id": 1}'), (2, b"{}"), (3, b"{}"), (3, b"again")])
        assert [uid for uid, _ in await store.inbox_unhandled()] == [1, 2, 3]
        await store.inbox_mark_handled(1)
        await store.inbox_mark_handled(2)
        await store.db.execute(
            "UPDATE inbox SET handled_at = '2020-01-01T00:00:00+00:00' WHERE handled_at IS NOT NULL"
        )
        await store.inbox_prune()
        assert await inbox_rows(store) == [(3, False)]  # unhandled: kept, payload and all
        await store.inbox_mark_handled(3)
        await store.db.execute("UPDATE inbox SET handled_at = '2020-01-01T00:00:00+00:00'")
        await store.inbox_prune()
        assert await inbox_rows(store) == [(3, True)]  # the newest stays, for the offset
        assert await store.inbox_next_offset() == 4
    finally:
        await store.close()


async def test_a_unit_raising_stopiteration_fails_alone_and_no_caller_waits_for_ever(
    tmp_path: Path,
) -> None:
    """An asyncio future refuses StopIteration, so a unit raising it used to end the drainer
    with a TypeError and leave every unit of its group commit waiting for ever."""
    import asyncio

    store = await Store.open(tmp_path, synchronous="NORMAL")
    try:

        def stops(tx: Unit) -> None:
            next(iter([]))

        # Queued together, so they run in one group commit: the failing unit and one beside it.
        failed, fine = await asyncio.wait_for(
            asyncio.gather(store.run(stops), store.run(lambda tx: 42), return_exceptions=True),
            timeout=30,
        )
        assert isinstance(failed, RuntimeError)
        assert isinstance(failed.__cause__, StopIteration)
        assert fine == 42
        assert await store.run(lambda tx: "still running") == "still running"
    finally:
        await store.close()


async def test_outbox_payloads_are_bound_to_their_row(tmp_path: Path) -> None:
    """A reply waiting in the outbox opens only in its own row: moved to another row of the
    same chat (say, to have one message sent twice or in place of another), it opens nowhere."""
    store = await Store.open(tmp_path)
    try:
        ids = await store.run(lambda tx: tx.outbox_add(7, [b'{"html": "one"}', b'{"html": "two"}']))
        store.sending_done(ids)
        assert [p for _, _, p in await store.outbox_pending()] == [
            b'{"html": "one"}',
            b'{"html": "two"}',
        ]
        store.sending_done(ids)
        await store.db.execute(
            "UPDATE outbox SET payload = (SELECT payload FROM outbox WHERE id = ?) WHERE id = ?",
            (ids[0], ids[1]),
        )
        with pytest.raises(Exception, match="could not be decrypted"):
            await store.outbox_pending()
    finally:
        await store.close()


async def test_replies_waiting_from_before_rows_were_bound_are_resealed(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    keys = store.keys
    legacy = keys.master.seal(b'{"html": "waiting"}', legacy_outbox_aad(7))
    await store.db.execute(
        "INSERT INTO outbox (id, chat_id, payload, created_at) VALUES (5, 7, ?, 'now')", (legacy,)
    )
    await store.db.execute("DELETE FROM settings WHERE key = 'outbox_bound'")
    await store.close()
    store = await Store.open(tmp_path)  # an upgrade: re-sealed for its row, once
    try:
        assert await store.outbox_pending() == [(5, 7, b'{"html": "waiting"}')]
        async with store.db.execute("SELECT payload FROM outbox") as cursor:
            ((payload,),) = await cursor.fetchall()
        assert keys.master.open(payload, outbox_aad(7, 5)) == b'{"html": "waiting"}'
    finally:
        await store.close()
