"""The database: opened, checked and migrated once; every unit of work goes through `Store.run`.

One connection, one writer at a time: `Store.run` runs a whole unit of work (the engine's
load → decide → write) as one transaction, in one call on the database's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from flows.kernel.crypto import Cipher, KeyProblem, Keyring, load_or_create_master_key
from flows.store.rows import iso, now_utc
from flows.store.unit import SENDABLE, Unit, legacy_outbox_aad, outbox_aad

log = logging.getLogger(__name__)

DB_NAME = "coreflect.db"
SCRUB_FIRST_RETRY = 0.05  # seconds; doubling up to SCRUB_MAX_RETRY while a reader holds the WAL
SCRUB_MAX_RETRY = 5.0
SCRUB_WARN_AFTER = 60.0
OUTBOX_ROUND_BYTES = 64 * 1024 * 1024  # at most this much claimed from the outbox at once


T = TypeVar("T")


class StartupProblem(Exception):
    """Start-up cannot go on safely; the message says why, for the person running the bot."""


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """While the database and its -wal and -shm files may be created: only we may read them."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def check_private(data_dir: Path) -> None:
    """Refuse a data directory, database, -wal or -shm file other users could read or change:
    the columns not encrypted (who is linked with whom, when) are in them as plain text."""
    for path, fix in (
        (data_dir, "chmod 700"),
        *((data_dir / f"{DB_NAME}{suffix}", "chmod 600") for suffix in ("", "-wal", "-shm")),
    ):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            raise StartupProblem(
                f"{path} can be read or changed by other users (mode {mode:04o}). Make it "
                f"private to the user CoReflect runs as: {fix} {path}"
            )


def _inbox_aad(update_id: int, person_id: int) -> bytes:
    return b"inbox:%d:%d" % (update_id, person_id)


def _sender(raw: bytes) -> int | None:
    """Whose update this is (message, button press, edit…): its `from` id, if any."""
    try:
        update = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(update, dict):
        return None
    for value in update.values():
        sender = value.get("from") if isinstance(value, dict) else None
        if isinstance(sender, dict) and type(sender.get("id")) is int:
            return int(sender["id"])
    return None


def _checkpoint(conn: sqlite3.Connection) -> int:
    """PRAGMA wal_checkpoint(TRUNCATE) without waiting on readers; its `busy` (0: truncated)."""
    (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute("PRAGMA busy_timeout=0")
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
    return int(busy)


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) for every numbered migration shipped in the `migrations` package, in order."""
    folder = resources.files("migrations")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name, folder.joinpath(name).read_text(encoding="utf-8")) for name in names]


class Store:
    """The database: opened, checked and migrated once; every unit of work goes through `run`."""

    def __init__(self, db: aiosqlite.Connection, keyring: Keyring, path: Path) -> None:
        self.db = db
        self.keys = keyring
        self.path = path
        self._sent: list[int] = []  # outbox rows Telegram has; removed with the next commit
        self._queue: list[tuple[Callable[[Unit], Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.marked: set[int] = set()  # update ids a unit of work marked handled, for the consumer
        self.clock: Callable[[], datetime] = now_utc  # every timestamp written comes from here
        self.default_timezone = "Europe/London"  # a new person's, until they choose
        # Outbox rows being sent right now (by the handler that queued them, the nudger or a
        # flush), so two senders never both pick up the same row. Only touched on the
        # database thread inside units of work, and by `sending_done`.
        self.inflight: set[int] = set()
        self._scrubbing: asyncio.Task[None] | None = None  # see `scrub`

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, data_dir: Path, key_env: str | None = None, synchronous: str = "FULL"
    ) -> Store:
        """Open (or create) the database, migrate it, and check the key opens it."""
        path = data_dir / DB_NAME
        with private_files():
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            check_private(data_dir)
            if not path.exists():
                # SQLite gives the -wal and -shm files the database file's mode.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            db = await aiosqlite.connect(path, isolation_level=None)
        try:
            if not callable(getattr(db, "_execute", None)):
                raise StartupProblem(
                    "This aiosqlite has no Connection._execute; pin aiosqlite<0.23."
                )
            with private_files():
                await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={_pragma_word(synchronous)}")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA secure_delete=ON")
            with private_files():
                await migrate(db)
            check_private(data_dir)
            check = await _setting(db, "key_check")
            holds_data = check is not None or await _has_people(db)
            try:
                master = load_or_create_master_key(data_dir, key_env, may_create=not holds_data)
            except KeyProblem as exc:
                raise StartupProblem(str(exc)) from exc
            keyring = Keyring(master)
            if check is None:
                if holds_data:
                    raise StartupProblem(
                        f"The database {path} holds data but no key check; refusing to guess."
                    )
                await db.execute(
                    "INSERT INTO settings (key, value) VALUES ('key_check', ?)",
                    (keyring.key_check(),),
                )
            elif not keyring.verify(check):
                raise StartupProblem(
                    f"The key does not open the database {path}. Set COREFLECT_KEY or restore "
                    f"{data_dir / 'master.key'} to the key it was made with; nothing was changed."
                )
            await _bind_outbox_rows(db, keyring)
        except BaseException:
            await db.close()
            raise
        return cls(db, keyring, path)

    async def close(self) -> None:
        await self.flush_sent()
        if self._scrubbing is not None and not self._scrubbing.done():
            self._scrubbing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scrubbing
            if not await self.checkpoint():
                log.warning("closing with deleted words still in coreflect.db-wal (a reader)")
        await self.db.close()

    # ---- units of work -------------------------------------------------------------------

    async def run(self, work: Callable[[Unit], T]) -> T:
        """Run `work` as a unit of work: all of it committed, or none of it, before returning.

        Units queue up and run on the database's own thread, one round trip and one commit for
        all those waiting (group commit): each in its own savepoint, so one failing rolls back
        only itself. With nothing else waiting, a unit runs at once, alone.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        result: T = await future
        return result

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                sent, self._sent = self._sent, []
                works = [work for work, _ in batch]
                try:
                    # One round trip for the whole group. aiosqlite has no public call for this;
                    # `_execute` is the primitive all its methods use (pinned: aiosqlite<0.23).
                    outcomes = await self.db._execute(  # type: ignore[no-untyped-call]
                        _run_group,
                        self.db._conn,
                        Unit(
                            self.db._conn,
                            self.keys,
                            self.clock,
                            self.inflight,
                            self.default_timezone,
                        ),
                        works,
                        sent,
                    )
                except BaseException as exc:  # the commit itself failed: nothing was saved
                    self._sent = sent + self._sent
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(_settable(exc))
                    continue
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(_settable(value))
        finally:
            self._drainer = None

    def mark_sent(self, ids: list[int]) -> None:
        """Telegram has these replies; their rows go with the next commit (or `flush_sent`).

        If the process dies first, they are sent once more after the restart: a repeat, never a
        loss. That window is one commit wide: the consumer flushes whenever the inbox is empty.
        """
        self._sent.extend(ids)

    async def checkpoint(self) -> bool:
        """Fold the WAL into the database and truncate it, so deleted pages leave no copy behind.

        False if it could not: a reader (a backup under way) still holds an older snapshot, which
        the WAL's frames belong to. It does not wait for one (that would hold up every unit of
        work for the busy timeout); `scrub` tries again."""
        busy = await self.db._execute(_checkpoint, self.db._conn)  # type: ignore[no-untyped-call]
        return not busy

    async def scrub(self) -> None:
        """Words were deleted: leave no copy of them in coreflect.db-wal. At once if no reader
        holds an older snapshot, else again and again in the background until none does."""
        if await self.checkpoint():
            return
        if self._scrubbing is None or self._scrubbing.done():
            self._scrubbing = asyncio.create_task(self._scrub_later(), name="scrub")

    async def _scrub_later(self) -> None:
        delay, waited, warned = SCRUB_FIRST_RETRY, 0.0, False
        while True:
            await asyncio.sleep(delay)
            waited += delay
            if await self.checkpoint():
                if warned:
                    log.warning("deleted words are gone from the WAL now")
                return
            if waited >= SCRUB_WARN_AFTER and not warned:
                warned = True
                log.warning(
                    "a reader (a backup?) has kept the WAL from being truncated for %d s; "
                    "deleted words stay in coreflect.db-wal until it lets go",
                    int(waited),
                )
            delay = min(delay * 2, SCRUB_MAX_RETRY)

    async def scrubbed(self) -> None:
        """Until the scrub in the background (if any) has succeeded; for tests and shutdown."""
        if self._scrubbing is not None:
            await self._scrubbing

    async def flush_sent(self) -> None:
        if self._sent:
            await self.run(lambda tx: None)

    # ---- inbox ---------------------------------------------------------------------------

    async def inbox_add(self, updates: list[tuple[int, bytes]]) -> None:
        """Store a batch of raw updates (deduplicated on update_id) and commit. One from a
        person we know is sealed with their data key; anything else with the master key."""
        stamp = iso(self.clock())

        def add(tx: Unit) -> None:
            rows: list[tuple[int, bytes, str, int | None]] = []
            for uid, raw in updates:
                person = _sender(raw)
                cipher = tx.cipher_of(person) if person is not None else None
                if person is None or cipher is None:
                    rows.append((uid, self.keys.master.seal(raw, b"inbox:%d" % uid), stamp, None))
                else:
                    rows.append((uid, cipher.seal(raw, _inbox_aad(uid, person)), stamp, person))
            tx.conn.executemany(
                "INSERT OR IGNORE INTO inbox (update_id, payload, received_at, sealed_for)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

        await self.run(add)

    async def inbox_next_offset(self) -> int | None:
        row = await self.run(lambda tx: tx.one("SELECT MAX(update_id) FROM inbox"))
        return None if row is None or row[0] is None else int(row[0]) + 1

    async def inbox_unhandled(
        self, limit: int = 100, skip: set[int] | frozenset[int] = frozenset()
    ) -> list[tuple[int, bytes]]:
        """The oldest updates not yet handled, opened, leaving out those in `skip` (already in
        the consumer's hands). One sealed for someone whose key is gone (they used /forget
        while it waited) can't be, and there is nothing of theirs left to act on: it is marked
        handled and left out."""

        def take(tx: Unit) -> list[tuple[int, bytes, int | None, Cipher | None]]:
            rows: list[tuple[int, bytes, int | None]] = []
            cursor = tx.conn.execute(
                "SELECT update_id, payload, sealed_for FROM inbox WHERE handled_at IS NULL"
                " ORDER BY update_id LIMIT ?",
                (limit + len(skip),),
            )
            try:
                for u, p, w in cursor:
                    if u not in skip:
                        rows.append((u, p, w))
                        if len(rows) == limit:
                            break
            finally:
                cursor.close()
            return [(u, p, w, None if w is None else tx.cipher_of(w)) for u, p, w in rows]

        opened: list[tuple[int, bytes]] = []
        for uid, payload, person, cipher in await self.run(take):
            if person is None:
                opened.append((uid, self.keys.master.open(payload, b"inbox:%d" % uid)))
                continue
            try:
                if cipher is None:
                    raise KeyProblem("their key is gone")
                opened.append((uid, cipher.open(payload, _inbox_aad(uid, person))))
            except KeyProblem:
                log.info("update %d dropped: its sender's key is gone", uid)
                await self.inbox_mark_handled(uid)
        return opened

    async def inbox_mark_handled(self, update_id: int) -> None:
        await self.run(lambda tx: tx.inbox_mark_handled(update_id))

    async def inbox_prune(self, keep: timedelta = timedelta(days=7)) -> int:
        """Forget handled updates older than a week, keeping the newest row for the offset.
        At start-up and hourly while running (see Engine.sweep); returns how many went."""
        cutoff = iso(self.clock() - keep)
        return await self.run(
            lambda tx: (
                tx.conn.execute(
                    "DELETE FROM inbox WHERE handled_at IS NOT NULL AND handled_at < ?"
                    " AND update_id < (SELECT MAX(update_id) FROM inbox)",
                    (cutoff,),
                ).rowcount
            )
        )

    # ---- outbox --------------------------------------------------------------------------

    async def outbox_pending(self, limit: int = 100) -> list[tuple[int, int, bytes]]:
        """(id, chat_id, payload) of replies saved but not yet sent, oldest first. One sealed
        for someone whose key is gone (they used /forget while it waited) carries words that
        no longer exist: it is deleted, not sent."""

        def claim(tx: Unit) -> list[tuple[int, int, bytes, int | None, Cipher | None]]:
            # Inside the unit, so no other sender can claim the same rows in between. A sender on
            # the event loop marks a row sent (`mark_sent`) before it stops being in flight
            # (`sending_done`), so reading `inflight` first, then `_sent`, never misses a row
            # that is in neither for the moment between (reading them the other way round can,
            # while a handler finishes on the loop: the row would be sent twice).
            skip = set(self.inflight)
            skip |= set(self._sent)
            mine: list[tuple[int, int, bytes, int | None]] = []
            held = 0  # bytes claimed: a few shared recordings (up to ~27 MB each) fill a round
            cursor = tx.conn.execute(
                f"SELECT id, chat_id, payload, sealed_for FROM outbox WHERE {SENDABLE} ORDER BY id",
                (iso(self.clock()),),
            )
            try:
                for i, c, p, w in cursor:
                    if i not in skip:
                        mine.append((i, c, p, w))
                        held += len(p)
                        if len(mine) == limit or held >= OUTBOX_ROUND_BYTES:
                            break
            finally:
                cursor.close()
            self.inflight.update(i for i, _, _, _ in mine)
            return [(i, c, p, w, None if w is None else tx.cipher_of(w)) for i, c, p, w in mine]

        opened: list[tuple[int, int, bytes]] = []
        gone: list[int] = []
        for i, c, p, person, cipher in await self.run(claim):
            if person is None:
                opened.append((i, c, self.keys.master.open(p, outbox_aad(c, i))))
                continue
            try:
                if cipher is None:
                    raise KeyProblem("their key is gone")
                opened.append((i, c, cipher.open(p, outbox_aad(c, i))))
            except KeyProblem:
                gone.append(i)
        if gone:
            log.info("%d waiting message(s) dropped: their words' owner is forgotten", len(gone))
            await self.run(
                lambda tx: tx.conn.executemany(
                    "DELETE FROM outbox WHERE id = ?", [(i,) for i in gone]
                )
            )
            self.sending_done(gone)
        return opened

    def sending_done(self, ids: Iterable[int]) -> None:
        """These rows are no longer being sent: sent (see `mark_sent`), or left for a retry."""
        self.inflight.difference_update(ids)


def _run_group(
    conn: sqlite3.Connection, tx: Unit, works: list[Callable[[Unit], Any]], sent: list[int]
) -> list[tuple[bool, Any]]:
    """On the database thread: every waiting unit in one transaction, each in a savepoint."""
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        if sent:
            conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in sent])
        for work in works:
            conn.execute("SAVEPOINT unit")
            try:
                outcomes.append((True, work(tx)))
            except Exception as exc:
                conn.execute("ROLLBACK TO unit")
                outcomes.append((False, exc))
            conn.execute("RELEASE unit")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _settable(exc: BaseException) -> BaseException:
    """An asyncio future refuses StopIteration (TypeError), which would end the drainer and leave
    every unit of its group waiting for ever: it is passed on wrapped, as PEP 479 does."""
    if isinstance(exc, StopIteration):
        wrapped = RuntimeError("a unit of work raised StopIteration")
        wrapped.__cause__ = exc
        return wrapped
    return exc


def _pragma_word(value: str) -> str:
    word = value.strip().upper()
    if word not in {"FULL", "NORMAL", "EXTRA"}:
        raise StartupProblem(f"COREFLECT_SYNCHRONOUS must be FULL, NORMAL or EXTRA, not {value!r}.")
    return word


async def _bind_outbox_rows(db: aiosqlite.Connection, keyring: Keyring) -> None:
    """Once: re-seal replies still waiting from before outbox rows were bound to their row."""
    if await _setting(db, "outbox_bound") is not None:
        return
    for row_id, chat_id, payload in await db.execute_fetchall(
        "SELECT id, chat_id, payload FROM outbox"
    ):
        try:
            plain = keyring.master.open(payload, legacy_outbox_aad(chat_id))
        except KeyProblem:
            continue  # already bound (a start cut short), or unreadable either way
        bound = keyring.master.seal(plain, outbox_aad(chat_id, row_id))
        await db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (bound, row_id))
    await db.execute("INSERT INTO settings (key, value) VALUES ('outbox_bound', x'31')")


async def _setting(db: aiosqlite.Connection, key: str) -> bytes | None:
    async with db.execute("SELECT value FROM settings WHERE key = ?", (key,)) as cur:
        row = await cur.fetchone()
    return None if row is None else bytes(row[0])


async def _has_people(db: aiosqlite.Connection) -> bool:
    async with db.execute("SELECT EXISTS (SELECT 1 FROM people)") as cur:
        row = await cur.fetchone()
    return bool(row and row[0])


async def migrate(db: aiosqlite.Connection) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction; return those applied."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    async with db.execute("SELECT name FROM schema_migrations") as cur:
        done = {row[0] for row in await cur.fetchall()}
    applied: list[str] = []
    for name, sql in migration_files():
        if name in done:
            continue
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (name, iso(now_utc())),
            )
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
        log.info("applied migration %s", name)
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement knows where each ends)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise StartupProblem("A migration ends with an incomplete statement.")
    return statements
