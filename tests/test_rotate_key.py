"""`coreflect rotate-key`: every person's data key re-wrapped under a new master key, and every
master-sealed row re-sealed, in one transaction; afterwards the old key opens nothing in the
data directory, everything still reads with the new one, and old backups need the old key."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sqlite3
import stat
from pathlib import Path

import pytest

from bot import rekey
from bot.backup import BackupProblem, backup, restore, running_lock
from bot.config import Config
from bot.rekey import rotate_key
from flows.store.core import StartupProblem, Store
from tests.drivers import Chat, make_config, running
from tests.offline import Person

CANARY = "ROTATE-CANARY words kept through a new key"


async def write(config: Config) -> None:
    """A journal entry, an update from someone new and a reply of catalogue wording waiting:
    the things sealed with a person's key, and the things sealed with the master key."""
    async with running(config) as bot:
        chat = Chat(bot, Person(6001, "Ash"))
        await chat.send("/journal")
        await chat.send(CANARY)
        await chat.send("/done")
        store = bot.service.store
        await store.inbox_add([(990, b'{"update_id": 990, "note": "from nobody we know"}')])
        await store.run(lambda tx: tx.outbox_add(6001, [b'{"html": "waiting"}']))


def wrapped_keys(data_dir: Path) -> list[bytes]:
    with contextlib.closing(sqlite3.connect(data_dir / "coreflect.db")) as db:
        return [bytes(r[0]) for r in db.execute("SELECT wrapped_key FROM people")]


async def test_rotation_rewraps_everything_and_the_old_key_opens_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = make_config(data_dir)
    await write(config)
    before = tmp_path / "backups" / "before.db"
    backup(config, before)
    old_key = (data_dir / "master.key").read_bytes()
    old_wrapped = wrapped_keys(data_dir)
    assert old_wrapped

    report = await asyncio.to_thread(rotate_key, config)

    assert "Rotated the master key (1 people's keys, 2 waiting messages)" in report
    new_key = (data_dir / "master.key").read_bytes()
    assert new_key != old_key and stat.S_IMODE((data_dir / "master.key").stat().st_mode) == 0o600
    (retired,) = data_dir.glob("master.key.retired-*")
    assert retired.read_bytes() == old_key and not (data_dir / "master.key.new").exists()
    # The old key opens nothing: not the database, and no old wrapping is left in any file.
    with pytest.raises(StartupProblem, match="does not open"):
        await Store.open(data_dir, old_key.decode().strip())
    for path in data_dir.iterdir():
        if path.name.startswith("coreflect.db"):
            raw = path.read_bytes()
            assert not [w for w in old_wrapped if w in raw], path.name
    # Everything still reads with the new key: the journal, the inbox and the outbox.
    async with running(config) as bot:
        replies = await Chat(bot, Person(6001, "Ash")).send("/entries")
        assert any(CANARY[:20] in r for r in replies), replies
        store = bot.service.store
        assert [u for u, _ in await store.inbox_unhandled()] == [990]
        assert [p for _, _, p in await store.outbox_pending()] == [b'{"html": "waiting"}']
    # A backup from before needs the old key, and the new one does not open it.
    fresh = make_config(tmp_path / "fresh")
    (tmp_path / "fresh").mkdir(mode=0o700)
    (tmp_path / "fresh" / "master.key").write_bytes(new_key)
    (tmp_path / "fresh" / "master.key").chmod(0o600)
    with pytest.raises(BackupProblem, match="does not open"):
        restore(fresh, before)
    assert "the key opens it" in restore(fresh, before, key_file=retired)


async def test_a_rotation_cut_short_changes_nothing_or_is_finished_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    config = make_config(data_dir)
    await write(config)
    old_key = (data_dir / "master.key").read_bytes()

    def crash(*args: object) -> str:
        raise OSError("power cut")

    # Before the commit: nothing changed, no new key left behind.
    with monkeypatch.context() as patch:
        patch.setattr(rekey, "_rewrap", crash)
        with pytest.raises(OSError):
            await asyncio.to_thread(rotate_key, config)
    assert (data_dir / "master.key").read_bytes() == old_key
    assert not (data_dir / "master.key.new").exists()
    await (await Store.open(data_dir)).close()

    # After the commit, before the files were swapped: the next run finishes it.
    with monkeypatch.context() as patch:
        patch.setattr(rekey, "_swap_files", crash)
        with pytest.raises(OSError):
            await asyncio.to_thread(rotate_key, config)
    pending = (data_dir / "master.key.new").read_bytes()
    with pytest.raises(StartupProblem, match="does not open"):
        await Store.open(data_dir)
    assert "cut short" in await asyncio.to_thread(rotate_key, config)
    assert (data_dir / "master.key").read_bytes() == pending
    async with running(config) as bot:
        replies = await Chat(bot, Person(6001, "Ash")).send("/entries")
        assert any(CANARY[:20] in r for r in replies), replies


async def test_rotation_refuses_a_running_bot_and_a_wrong_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = make_config(data_dir)
    await write(config)
    with running_lock(data_dir), pytest.raises(BackupProblem, match="already running"):
        rotate_key(config)
    wrong = base64.b64encode(b"k" * 32).decode()
    with pytest.raises(BackupProblem, match="Nothing was changed"):
        await asyncio.to_thread(rotate_key, make_config(data_dir, key=wrong))
    assert not (data_dir / "master.key.new").exists()


async def test_a_backup_reading_during_the_rotation_only_delays_the_wal_truncation(
    tmp_path: Path,
) -> None:
    """The commit stands (only the new key opens the database) even if the WAL cannot be
    truncated at once because a reader holds an older snapshot."""
    data_dir = tmp_path / "data"
    config = make_config(data_dir)
    await write(config)
    with contextlib.closing(sqlite3.connect(data_dir / "coreflect.db")) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM people").fetchone()
        report = await asyncio.to_thread(rotate_key, config)
    assert "old wrappings stay in coreflect.db-wal" in report
    assert not (data_dir / "master.key.new").exists()
    async with running(config) as bot:
        replies = await Chat(bot, Person(6001, "Ash")).send("/entries")
        assert any(CANARY[:20] in r for r in replies), replies
