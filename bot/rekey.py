"""`coreflect rotate-key`: a new master key, with every person's data key re-wrapped under it.

Everything a person wrote is sealed with their own data key; the master key only wraps those
keys (and seals the few things that belong to no one yet: an update from someone new waiting in
the inbox, a reply of catalogue wording waiting in the outbox, the key check). So rotating it
re-seals a few hundred bytes a person, in one transaction: either all of it is under the new
key, or (a crash, a refusal) none of it is and the old key still opens everything.

The bot must be stopped: this holds `coreflect.lock` throughout. The new key is written to
`master.key.new` (0600, synced) before the transaction; once that commits, `master.key` is
renamed `master.key.retired-<UTC time>` and the new file takes its place. A crash in between
leaves both files: running `rotate-key` again sees which one opens the database and finishes.
With COREFLECT_KEY there is no key file to replace: the new key is left in `master.key.new` for
you to move into your secret store.

Backups made before the rotation still need the old (retired) key: keep it with them, apart
from the server, or destroy it along with them. The log's keyed hashes of ids change with the key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.backup import DB_NAME, BackupProblem, _fsync_dir, running_lock
from bot.config import Config
from flows.kernel.crypto import KEY_BYTES, KeyProblem, Keyring
from flows.store.core import StartupProblem, Store
from flows.store.unit import outbox_aad

KEY_FILE = "master.key"
PENDING = "master.key.new"


def rotate_key(config: Config) -> str:
    """Re-wrap everything under a new master key; return a report. Raises BackupProblem."""
    data_dir = config.data_dir
    if not (data_dir / DB_NAME).exists():
        raise BackupProblem(f"There is no database in {data_dir}; there is no key to rotate.")
    with running_lock(data_dir):
        finished = _finish_interrupted(config)
        if finished:
            return finished
        try:
            old = asyncio.run(_current_keys(config))
        except StartupProblem as exc:
            raise BackupProblem(f"{exc} Nothing was changed.") from exc
        new_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        pending = data_dir / PENDING
        pending.unlink(missing_ok=True)
        _write_key(pending, new_key)
        try:
            counts = _rewrap(data_dir / DB_NAME, old, Keyring(new_key))
        except KeyProblem as exc:
            pending.unlink(missing_ok=True)
            raise BackupProblem(
                "A value in the database does not open with the current key; nothing was changed."
            ) from exc
        except BaseException:
            pending.unlink(missing_ok=True)  # the database is as it was: the old key opens it
            raise
        return _swap_files(config, counts)


async def _current_keys(config: Config) -> Keyring:
    """Opening checks the key opens the database and its files are private, and migrates."""
    store = await Store.open(config.data_dir, config.key)
    try:
        return store.keys
    finally:
        await store.close()


def _rewrap(path: Path, old: Keyring, new: Keyring) -> str:
    """In one transaction: every master-sealed value opened with the old key, sealed with the
    new; then the WAL truncated, so no page of the old wrapping is left in it."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=30)) as db:
        db.execute("PRAGMA secure_delete=ON")
        db.execute("BEGIN IMMEDIATE")
        try:
            people = db.execute("SELECT id, wrapped_key FROM people").fetchall()
            for person_id, wrapped in people:
                aad = b"person:%d" % person_id
                data_key = old.master.open(wrapped, aad)
                db.execute(
                    "UPDATE people SET wrapped_key = ? WHERE id = ?",
                    (new.master.seal(data_key, aad), person_id),
                )
            inbox = db.execute(
                "SELECT update_id, payload FROM inbox"
                " WHERE sealed_for IS NULL AND payload IS NOT NULL"
            ).fetchall()
            for uid, payload in inbox:
                _reseal(db, "inbox", "update_id", uid, payload, b"inbox:%d" % uid, old, new)
            outbox = db.execute(
                "SELECT id, chat_id, payload FROM outbox WHERE sealed_for IS NULL"
            ).fetchall()
            for row_id, chat_id, payload in outbox:
                aad = outbox_aad(chat_id, row_id)
                _reseal(db, "outbox", "id", row_id, payload, aad, old, new)
            db.execute("UPDATE settings SET value = ? WHERE key = 'key_check'", (new.key_check(),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # Committed: from here on only the new key opens the database, so nothing may fail.
        try:
            db.execute("PRAGMA busy_timeout = 1000")  # a reader is not waited for long
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error:
            busy = 1
    counts = f"{len(people):,} people's keys, {len(inbox) + len(outbox):,} waiting messages"
    if busy:  # a reader (a backup under way) holds an older snapshot; closing truncates later
        counts += "; old wrappings stay in coreflect.db-wal until the bot next starts and stops"
    return counts


def _reseal(
    db: sqlite3.Connection,
    table: str,
    id_column: str,
    row_id: int,
    payload: bytes,
    aad: bytes,
    old: Keyring,
    new: Keyring,
) -> None:
    sealed = new.master.seal(old.master.open(payload, aad), aad)
    db.execute(f"UPDATE {table} SET payload = ? WHERE {id_column} = ?", (sealed, row_id))


def _swap_files(config: Config, counts: str) -> str:
    data_dir = config.data_dir
    pending, current = data_dir / PENDING, data_dir / KEY_FILE
    if config.key is not None:
        return (
            f"Rotated the master key ({counts}). COREFLECT_KEY is set, so the new key is in "
            f"{pending}: put its contents in COREFLECT_KEY, then delete that file. The old "
            "key no longer opens the database; keep it only as long as backups made with it."
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    retired = data_dir / f"{KEY_FILE}.retired-{stamp}"
    if current.exists():
        os.replace(current, retired)
    os.replace(pending, current)
    _fsync_dir(data_dir)
    return (
        f"Rotated the master key ({counts}); {current} holds the new one. The old key, which "
        f"no longer opens the database, is in {retired}: backups made before now need it "
        "(restore --key-file). Keep it with them, away from this server, or delete it."
    )


def _finish_interrupted(config: Config) -> str | None:
    """A rotation cut short after its commit left the new key in master.key.new: finish it.
    One cut short before its commit left a new key nothing uses: remove it."""
    pending = config.data_dir / PENDING
    if not pending.exists():
        return None
    with contextlib.closing(
        sqlite3.connect(f"file:{config.data_dir / DB_NAME}?mode=ro", uri=True)
    ) as db:
        row = db.execute("SELECT value FROM settings WHERE key = 'key_check'").fetchone()
    try:
        key = base64.b64decode(pending.read_bytes().strip(), validate=True)
        opens = row is not None and len(key) == KEY_BYTES and Keyring(key).verify(bytes(row[0]))
    except ValueError:
        opens = False
    if not opens:
        pending.unlink()
        return None
    if config.key is not None:
        return _swap_files(config, "already done")
    return _swap_files(config, "finishing a rotation that was cut short")


def _write_key(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(key) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(path.parent)
