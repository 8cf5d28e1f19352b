"""`coreflect backup PATH` and `coreflect restore PATH`.

A backup is SQLite's online backup of the database, taken in one step inside one read
transaction, so it is a consistent copy even while the bot runs (in WAL mode a reader never
blocks the bot's writes). It is as encrypted as the database: every word anyone wrote is sealed
with their own data key, wrapped by the master key, and the master key is never in the backup.
Without the key a backup is useless, to a thief and to you alike.

Restoring refuses to touch the database of a bot that is running (it holds `coreflect.lock`),
refuses a backup that fails `PRAGMA integrity_check`, and refuses one the configured key does
not open. The database it replaces is kept beside it, renamed, never deleted.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Config
from flows.kernel.crypto import KEY_BYTES, KeyProblem, Keyring, load_or_create_master_key

DB_NAME = "coreflect.db"
LOCK_NAME = "coreflect.lock"


class BackupProblem(Exception):
    """Why a backup or restore was refused; the message says what to do."""


@contextlib.contextmanager
def running_lock(data_dir: Path) -> Iterator[None]:
    """Held while a bot (or the console) uses `data_dir`: one process per database."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BackupProblem(
                f"CoReflect is already running with the data directory {data_dir}; "
                "stop it first (only one may use a database at a time)."
            ) from exc
        yield
    finally:
        os.close(fd)


def is_running(data_dir: Path) -> bool:
    try:
        with running_lock(data_dir):
            return False
    except BackupProblem:
        return True


def backup(config: Config, target: Path) -> str:
    """Copy the live database to `target` (which must not exist); return a one-line report."""
    source = config.data_dir / DB_NAME
    if not source.exists():
        raise BackupProblem(f"There is no database at {source} to back up.")
    if target.exists():
        raise BackupProblem(f"{target} already exists; choose a new name (nothing was written).")
    if target.resolve().parent == config.data_dir.resolve():
        raise BackupProblem("Put backups outside the data directory (and away from the key).")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        src = sqlite3.connect(source, timeout=30)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            src.close()
            dst.close()
        counts = _check(partial)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        _fsync_dir(target.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    took = time.monotonic() - started
    size = target.stat().st_size / 1e6
    return (
        f"Backed up {source} to {target} in {took:.2f} s ({size:.1f} MB; {counts}); "
        "integrity check ok. It is encrypted and useless without the master key, which is not "
        "in it: keep the key safe, and apart from this file."
    )


def restore(config: Config, backup_file: Path, key_file: Path | None = None) -> str:
    """Put `backup_file` in place as the database, keeping whatever was there beside it."""
    if not backup_file.is_file():
        raise BackupProblem(f"There is no backup at {backup_file}.")
    data_dir = config.data_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with running_lock(data_dir):
        counts = _check(backup_file)
        key = _key(config, key_file)
        with contextlib.closing(sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT value FROM settings WHERE key = 'key_check'").fetchone()
        if row is None:
            raise BackupProblem(f"{backup_file} has no key check; it is not a CoReflect backup.")
        if not Keyring(key).verify(bytes(row[0])):
            raise BackupProblem(
                f"The key does not open {backup_file}; nothing was changed. Use the key that "
                "was in use when the backup was made (COREFLECT_KEY, or master.key)."
            )
        live = data_dir / DB_NAME
        kept = ""
        if live.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = data_dir / f"{DB_NAME}.before-restore-{stamp}"
            for suffix in ("", "-wal", "-shm"):
                old = live.with_name(live.name + suffix)
                if old.exists():
                    os.replace(old, aside.with_name(aside.name + suffix))
            kept = f" The database it replaced is kept as {aside}."
        partial = live.with_name(live.name + ".partial")
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, open(backup_file, "rb") as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, live)
        _fsync_dir(data_dir)
    return f"Restored {backup_file} into {live} ({counts}); the key opens it.{kept}"


def _key(config: Config, key_file: Path | None) -> bytes:
    try:
        if key_file is not None:
            raw = key_file.read_bytes().strip()
            try:
                key = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BackupProblem(f"The key file {key_file} is not valid base64.") from exc
            if len(key) != KEY_BYTES:
                raise BackupProblem(f"The key file {key_file} must hold {KEY_BYTES} bytes.")
            return key
        return load_or_create_master_key(config.data_dir, config.key, may_create=False)
    except KeyProblem as exc:
        raise BackupProblem(
            f"{exc} (restore needs the key the backup was made with: COREFLECT_KEY, "
            f"{config.data_dir / 'master.key'}, or --key-file)"
        ) from exc


def _check(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            result = db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BackupProblem(f"{path} is not a readable SQLite database ({exc}).") from exc
        if result != [("ok",)]:
            raise BackupProblem(f"{path} fails its integrity check: {result[:3]}")
        people = db.execute("SELECT COUNT(*) FROM people").fetchone()[0]
        entries = db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
    return f"{people:,} people, {entries:,} entries"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
