"""`coreflect backup` while the bot runs: a consistent, still encrypted copy; `coreflect restore`
refuses a running bot's database, a damaged file and a key that does not open it."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.backup import BackupProblem, backup, restore, running_lock
from flows.store.core import Store
from tests.drivers import Chat, Harness, make_config
from tests.fakeapi import FakeBotAPI
from tests.offline import Person
from tests.running import ROOT, TOKEN, start_bot, stop

CANARY = "BACKUP-CANARY-words-only-the-writer-knows"


async def write_entries(bot: Harness, n: int, who: int = 5001) -> None:
    chat = Chat(bot, Person(who, "Ash"))
    for k in range(n):
        await chat.send(f"{CANARY} {k}")


async def readable_entries(data_dir: Path, key: str | None = None) -> int:
    store = await Store.open(data_dir, key)
    try:
        with sqlite3.connect(data_dir / "coreflect.db") as db:
            return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        await store.close()


async def test_backup_while_writing_is_consistent_and_encrypted(
    bot: Harness, tmp_path: Path
) -> None:
    await write_entries(bot, 50)
    target = tmp_path / "backups" / "one.db"
    writing = asyncio.create_task(write_entries(bot, 100, who=5002))
    await asyncio.sleep(0.05)
    report = await asyncio.to_thread(backup, bot.config, target)
    await writing
    assert "integrity check ok" in report and "useless without the master key" in report
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    raw = target.read_bytes()
    assert CANARY.encode() not in raw and b"Ash" not in raw  # still encrypted
    with sqlite3.connect(target) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        # One transaction's view: every entry it has is whole (its answer is there too).
        assert (
            db.execute(
                "SELECT COUNT(*) FROM entries e WHERE NOT EXISTS"
                " (SELECT 1 FROM answers a WHERE a.entry_id = e.id)"
            ).fetchone()[0]
            == 0
        )
    assert 50 <= copied <= 150
    with pytest.raises(BackupProblem, match="already exists"):
        backup(bot.config, target)

    # Restored into a fresh directory with the key, it opens and reads.
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o700)
    shutil.copy(bot.config.data_dir / "master.key", fresh / "master.key")
    os.chmod(fresh / "master.key", 0o600)
    config = make_config(fresh)
    assert "the key opens it" in restore(config, target)
    assert await readable_entries(fresh) == copied


async def test_restore_refuses_a_running_bot_a_wrong_key_and_a_damaged_file(
    bot: Harness, tmp_path: Path
) -> None:
    await write_entries(bot, 5)
    target = tmp_path / "b.db"
    backup(bot.config, target)
    other = make_config(tmp_path / "other", key=base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(BackupProblem, match="key does not open"):
        restore(other, target)
    assert not (tmp_path / "other" / "coreflect.db").exists()
    with running_lock(bot.config.data_dir), pytest.raises(BackupProblem, match="already running"):
        restore(bot.config, target)
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(target.read_bytes()[:4096] + b"\0" * 8192)
    with pytest.raises(BackupProblem):
        restore(other, damaged)
    # Restoring over an existing database keeps the old one beside it.
    await bot.service.store.close()
    report = restore(bot.config, target)
    assert "kept as" in report
    assert list(bot.config.data_dir.glob("coreflect.db.before-restore-*"))
    bot.service.store = await Store.open(bot.config.data_dir)  # for the fixture's teardown


def test_backup_command_while_the_bot_runs_and_restore_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    person = Person(5101, "Kit")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "COREFLECT_"))}
    env["COREFLECT_DATA_DIR"] = str(data_dir)
    with FakeBotAPI(TOKEN) as fake:
        bot = start_bot(fake, data_dir)
        try:
            for k in range(20):
                fake.push(person.text(f"{CANARY} {k}"))
            assert fake.wait_for(lambda c: sum(x.method == "sendMessage" for x in c) >= 20, 30)
            done = subprocess.run(
                [sys.executable, "-m", "bot", "backup", str(tmp_path / "live.db")],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            assert "integrity check ok" in done.stdout
            refused = subprocess.run(
                [sys.executable, "-m", "bot", "restore", str(tmp_path / "live.db")],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert refused.returncode == 1 and "already running" in refused.stderr
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(10) == 0
        finally:
            stop(bot)
    with sqlite3.connect(tmp_path / "live.db") as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 20
    assert CANARY.encode() not in (tmp_path / "live.db").read_bytes()
