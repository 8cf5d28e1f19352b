"""Plain SQL over aiosqlite, behind named functions. The only module that talks to the database.

One connection, one writer at a time: `Store.run` runs a whole unit of work (the engine's
load → decide → write) as one transaction, in one call on the database's own thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from flows.crypto import Cipher, KeyProblem, Keyring, load_or_create_master_key

log = logging.getLogger(__name__)

DB_NAME = "coreflect.db"
T = TypeVar("T")


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class StartupProblem(Exception):
    """Start-up cannot go on safely; the message says why, for the person running the bot."""


@dataclass(slots=True)
class Conversation:
    """Where a person is. Stored after every input, so a restart resumes at the same question."""

    person_id: int
    flow: str | None = None
    step: str | None = None
    entry_id: int | None = None
    turn: int = 0
    history: list[str] = field(default_factory=list)
    pending: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: int
    timezone: str
    welcomed: bool
    cipher: Cipher
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    flow: str
    status: str
    episode_id: int
    created_at: datetime
    flagged: bool = False
    updated_at: datetime | None = None


_ENTRY_COLUMNS = "id, flow, status, episode_id, created_at, flagged, updated_at"


def _entry_row(r: Sequence[Any]) -> EntryRow:
    return EntryRow(
        r[0],
        r[1],
        r[2],
        r[3],
        datetime.fromisoformat(r[4]),
        bool(r[5]),
        datetime.fromisoformat(r[6]),
    )


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) for every numbered migration shipped in the `migrations` package, in order."""
    folder = resources.files("migrations")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name, folder.joinpath(name).read_text(encoding="utf-8")) for name in names]


class Tx:
    """The named queries, run synchronously inside one transaction on the database's own thread.

    `Store.run` hands a `Tx` to a function and runs the whole function as a single call on
    aiosqlite's connection thread: one thread round trip per unit of work instead of one per
    statement (each round trip costs far more than the SQL itself; see bench/flows.py).
    """

    def __init__(self, conn: sqlite3.Connection, keys: Keyring) -> None:
        self.conn = conn
        self.keys = keys

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        # fetchall, not fetchone: it runs the statement to the end (an INSERT … RETURNING left
        # half-stepped would block the next savepoint).
        rows = self.conn.execute(sql, args).fetchall()
        return rows[0] if rows else None

    # ---- people --------------------------------------------------------------------------

    def person(self, person_id: int, default_timezone: str) -> PersonRow:
        """The person, created on first contact with a fresh data key."""
        row = self._one(
            "SELECT timezone, welcomed, wrapped_key, created_at FROM people WHERE id = ?",
            (person_id,),
        )
        if row is None:
            wrapped = self.keys.new_wrapped_key(person_id)
            created = now_utc()
            self.conn.execute(
                "INSERT INTO people (id, wrapped_key, timezone, created_at) VALUES (?, ?, ?, ?)",
                (person_id, wrapped, default_timezone, iso(created)),
            )
            cipher = self.keys.person(person_id, wrapped)
            return PersonRow(person_id, default_timezone, False, cipher, created)
        timezone, welcomed, wrapped, created_at = row
        cipher = self.keys.person(person_id, wrapped)
        return PersonRow(
            person_id, timezone, bool(welcomed), cipher, datetime.fromisoformat(created_at)
        )

    def set_timezone(self, person_id: int, timezone: str) -> None:
        self.conn.execute("UPDATE people SET timezone = ? WHERE id = ?", (timezone, person_id))

    def set_welcomed(self, person_id: int) -> None:
        self.conn.execute("UPDATE people SET welcomed = 1 WHERE id = ?", (person_id,))

    # ---- conversations -------------------------------------------------------------------

    def conversation(self, person_id: int) -> Conversation:
        row = self._one(
            "SELECT flow, step, entry_id, turn, history, pending FROM conversations"
            " WHERE person_id = ?",
            (person_id,),
        )
        if row is None:
            return Conversation(person_id)
        flow, step, entry_id, turn, history, pending = row
        return Conversation(
            person_id,
            flow,
            step,
            entry_id,
            turn,
            json.loads(history),
            json.loads(pending) if pending else None,
        )

    def save_conversation(self, conv: Conversation) -> None:
        self.conn.execute(
            "INSERT INTO conversations (person_id, flow, step, entry_id, turn, history, pending,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (person_id) DO UPDATE SET"
            " flow = excluded.flow, step = excluded.step, entry_id = excluded.entry_id,"
            " turn = excluded.turn, history = excluded.history, pending = excluded.pending,"
            " updated_at = excluded.updated_at",
            (
                conv.person_id,
                conv.flow,
                conv.step,
                conv.entry_id,
                conv.turn,
                json.dumps(conv.history),
                json.dumps(conv.pending) if conv.pending is not None else None,
                iso(now_utc()),
            ),
        )

    # ---- entries and answers -------------------------------------------------------------

    def create_entry(self, person_id: int, flow: str, episode_id: int | None) -> int:
        """A new entry; without an episode it starts its own (episode_id = its own id)."""
        stamp = iso(now_utc())
        row = self._one(
            "INSERT INTO entries (person_id, flow, status, episode_id, created_at, updated_at)"
            " VALUES (?, ?, 'in_progress', COALESCE(?, 0), ?, ?) RETURNING id",
            (person_id, flow, episode_id, stamp, stamp),
        )
        entry_id = int(row[0])
        if episode_id is None:
            self.conn.execute("UPDATE entries SET episode_id = id WHERE id = ?", (entry_id,))
        return entry_id

    def set_entry_status(self, entry_id: int, status: str) -> None:
        self.conn.execute(
            "UPDATE entries SET status = ?, updated_at = ? WHERE id = ?",
            (status, iso(now_utc()), entry_id),
        )

    def set_entry_episode(self, entry_id: int, episode_id: int) -> None:
        self.conn.execute("UPDATE entries SET episode_id = ? WHERE id = ?", (episode_id, entry_id))

    def delete_entry(self, entry_id: int) -> None:
        self.conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))

    def entries(
        self,
        person_id: int,
        *,
        limit: int,
        flows: Iterable[str] | None = None,
        since: datetime | None = None,
        statuses: tuple[str, ...] = ("saved", "draft"),
        episode_id: int | None = None,
        flagged: bool = False,
        offset: int = 0,
    ) -> list[EntryRow]:
        """A person's entries, newest first."""
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE person_id = ?"
        args: list[Any] = [person_id]
        sql += f" AND status IN ({','.join('?' * len(statuses))})"
        args.extend(statuses)
        if flows is not None:
            names = list(flows)
            sql += f" AND flow IN ({','.join('?' * len(names))})"
            args.extend(names)
        if since is not None:
            sql += " AND created_at >= ?"
            args.append(iso(since))
        if episode_id is not None:
            sql += " AND episode_id = ?"
            args.append(episode_id)
        if flagged:
            sql += " AND flagged = 1"
        sql += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        args.extend([limit, offset])
        return [_entry_row(r) for r in self.conn.execute(sql, args).fetchall()]

    def entry(self, person_id: int, entry_id: int) -> EntryRow | None:
        r = self._one(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id = ? AND person_id = ?",
            (entry_id, person_id),
        )
        return None if r is None else _entry_row(r)

    def search(
        self, cipher: Cipher, person_id: int, test: Callable[[str], bool], start: int, count: int
    ) -> list[int]:
        """Ids of saved or draft entries whose searchable text passes `test`, newest first,
        skipping `start` matches and stopping at `count` more. Decrypted one at a time, in
        this person's thread of work only; a search that fills its page stops early."""
        rows = self.conn.execute(
            "SELECT id, search_text FROM entries INDEXED BY entries_newest_first"
            " WHERE person_id = ? AND status IN ('saved', 'draft')"
            " ORDER BY created_at DESC, id DESC",
            (person_id,),
        ).fetchall()
        found: list[int] = []
        open_ = cipher.open
        for entry_id, blob in rows:
            if blob and test(open_(blob, b"search:%d" % entry_id).decode("utf-8")):
                if start:
                    start -= 1
                    continue
                found.append(entry_id)
                if len(found) == count:
                    break
        return found

    def set_search_text(self, cipher: Cipher, entry_id: int, text: str) -> None:
        sealed = cipher.seal(text.encode("utf-8"), b"search:%d" % entry_id)
        self.conn.execute("UPDATE entries SET search_text = ? WHERE id = ?", (sealed, entry_id))

    def set_flag(self, entry_id: int, flagged: bool) -> None:
        self.conn.execute("UPDATE entries SET flagged = ? WHERE id = ?", (int(flagged), entry_id))

    def offer_support_once(self, entry_id: int) -> bool:
        """True the first time for this entry (and records it), False after."""
        cur = self.conn.execute(
            "UPDATE entries SET support_offered = 1 WHERE id = ? AND support_offered = 0",
            (entry_id,),
        )
        return cur.rowcount == 1

    def remember_message(self, person_id: int, message_id: int, entry_id: int, step: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO answer_messages (person_id, message_id, entry_id, step)"
            " VALUES (?, ?, ?, ?)",
            (person_id, message_id, entry_id, step),
        )

    def answer_for_message(self, person_id: int, message_id: int) -> tuple[int, str] | None:
        row = self._one(
            "SELECT entry_id, step FROM answer_messages WHERE person_id = ? AND message_id = ?",
            (person_id, message_id),
        )
        return None if row is None else (int(row[0]), str(row[1]))

    def answer_times(self, entry_id: int) -> dict[str, datetime]:
        rows = self.conn.execute(
            "SELECT step, answered_at FROM answers WHERE entry_id = ?", (entry_id,)
        ).fetchall()
        return {step: datetime.fromisoformat(at) for step, at in rows}

    def count_entries(self, person_id: int) -> int:
        row = self._one("SELECT COUNT(*) FROM entries WHERE person_id = ?", (person_id,))
        return int(row[0])

    def forget_person(self, person_id: int) -> None:
        """Every row of the person goes (their data key with them); replies waiting to them too."""
        self.conn.execute("DELETE FROM outbox WHERE chat_id = ?", (person_id,))
        self.conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
        self.keys.forget(person_id)

    def put_answer(self, cipher: Cipher, entry_id: int, step: str, value: str) -> None:
        """Encrypt and save one answer (replacing an earlier one for the same step)."""
        stamp = iso(now_utc())
        sealed = cipher.seal(value.encode("utf-8"), _answer_aad(entry_id, step))
        self.conn.execute(
            "INSERT INTO answers (entry_id, step, value, answered_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (entry_id, step) DO UPDATE SET value = excluded.value,"
            " answered_at = excluded.answered_at",
            (entry_id, step, sealed, stamp),
        )
        self.conn.execute("UPDATE entries SET updated_at = ? WHERE id = ?", (stamp, entry_id))

    def delete_answer(self, entry_id: int, step: str) -> None:
        self.conn.execute("DELETE FROM answers WHERE entry_id = ? AND step = ?", (entry_id, step))

    def answers(self, cipher: Cipher, entry_id: int) -> dict[str, str]:
        """Decrypted answers of one entry, keyed by step."""
        rows = self.conn.execute(
            "SELECT step, value FROM answers WHERE entry_id = ?", (entry_id,)
        ).fetchall()
        return {
            step: cipher.open(value, _answer_aad(entry_id, step)).decode("utf-8")
            for step, value in rows
        }

    # ---- inbox and outbox ----------------------------------------------------------------

    def inbox_mark_handled(self, update_id: int) -> None:
        """Mark handled and drop the payload: the row stays only to recognise a repeat."""
        self.conn.execute(
            "UPDATE inbox SET handled_at = ?, payload = NULL"
            " WHERE update_id = ? AND handled_at IS NULL",
            (iso(now_utc()), update_id),
        )

    def outbox_add(self, chat_id: int, payloads: list[bytes]) -> list[int]:
        """Queue replies in this transaction; returns their ids in order."""
        stamp = iso(now_utc())
        ids: list[int] = []
        for payload in payloads:
            sealed = self.keys.master.seal(payload, b"outbox:%d" % chat_id)
            row = self._one(
                "INSERT INTO outbox (chat_id, payload, created_at) VALUES (?, ?, ?) RETURNING id",
                (chat_id, sealed, stamp),
            )
            ids.append(int(row[0]))
        return ids


class Store:
    """The database: opened, checked and migrated once; every unit of work goes through `run`."""

    def __init__(self, db: aiosqlite.Connection, keyring: Keyring, path: Path) -> None:
        self.db = db
        self.keys = keyring
        self.path = path
        self._sent: list[int] = []  # outbox rows Telegram has; removed with the next commit
        self._queue: list[tuple[Callable[[Tx], Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.marked: set[int] = set()  # update ids a unit of work marked handled, for the consumer

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, data_dir: Path, key_env: str | None = None, synchronous: str = "FULL"
    ) -> Store:
        """Open (or create) the database, migrate it, and check the key opens it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / DB_NAME
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            if not callable(getattr(db, "_execute", None)):
                raise StartupProblem(
                    "This aiosqlite has no Connection._execute; pin aiosqlite<0.23."
                )
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={_pragma_word(synchronous)}")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA secure_delete=ON")
            await migrate(db)
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
        except BaseException:
            await db.close()
            raise
        return cls(db, keyring, path)

    async def close(self) -> None:
        await self.flush_sent()
        await self.db.close()

    # ---- units of work -------------------------------------------------------------------

    async def run(self, work: Callable[[Tx], T]) -> T:
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
                        _run_group, self.db._conn, self.keys, works, sent
                    )
                except BaseException as exc:  # the commit itself failed: nothing was saved
                    self._sent = sent + self._sent
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._drainer = None

    def mark_sent(self, ids: list[int]) -> None:
        """Telegram has these replies; their rows go with the next commit (or `flush_sent`).

        If the process dies first, they are sent once more after the restart: a repeat, never a
        loss. That window is one commit wide: the consumer flushes whenever the inbox is empty.
        """
        self._sent.extend(ids)

    async def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it, so deleted pages leave no copy behind."""
        await self.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def flush_sent(self) -> None:
        if self._sent:
            await self.run(lambda tx: None)

    # ---- inbox ---------------------------------------------------------------------------

    async def inbox_add(self, updates: list[tuple[int, bytes]]) -> None:
        """Store a batch of raw updates (deduplicated on update_id) and commit."""
        stamp = iso(now_utc())
        rows = [(uid, self.keys.master.seal(raw, b"inbox:%d" % uid), stamp) for uid, raw in updates]
        await self.run(
            lambda tx: tx.conn.executemany(
                "INSERT OR IGNORE INTO inbox (update_id, payload, received_at) VALUES (?, ?, ?)",
                rows,
            )
        )

    async def inbox_next_offset(self) -> int | None:
        row = await self.run(lambda tx: tx._one("SELECT MAX(update_id) FROM inbox"))
        return None if row is None or row[0] is None else int(row[0]) + 1

    async def inbox_unhandled(self, limit: int = 100) -> list[tuple[int, bytes]]:
        rows = await self.run(
            lambda tx: tx.conn.execute(
                "SELECT update_id, payload FROM inbox WHERE handled_at IS NULL"
                " ORDER BY update_id LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [(uid, self.keys.master.open(p, b"inbox:%d" % uid)) for uid, p in rows]

    async def inbox_mark_handled(self, update_id: int) -> None:
        await self.run(lambda tx: tx.inbox_mark_handled(update_id))

    async def inbox_prune(self, keep: timedelta = timedelta(days=7)) -> None:
        """Forget handled updates older than a week, keeping the newest row for the offset."""
        cutoff = iso(now_utc() - keep)
        await self.run(
            lambda tx: tx.conn.execute(
                "DELETE FROM inbox WHERE handled_at IS NOT NULL AND handled_at < ?"
                " AND update_id < (SELECT MAX(update_id) FROM inbox)",
                (cutoff,),
            )
        )

    # ---- outbox --------------------------------------------------------------------------

    async def outbox_pending(self, limit: int = 100) -> list[tuple[int, int, bytes]]:
        """(id, chat_id, payload) of replies saved but not yet sent, oldest first."""
        skip = set(self._sent)
        rows = await self.run(
            lambda tx: tx.conn.execute(
                "SELECT id, chat_id, payload FROM outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        )
        return [
            (i, c, self.keys.master.open(p, b"outbox:%d" % c)) for i, c, p in rows if i not in skip
        ]


def _run_group(
    conn: sqlite3.Connection, keys: Keyring, works: list[Callable[[Tx], Any]], sent: list[int]
) -> list[tuple[bool, Any]]:
    """On the database thread: every waiting unit in one transaction, each in a savepoint."""
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        if sent:
            conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in sent])
        tx = Tx(conn, keys)
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


def _answer_aad(entry_id: int, step: str) -> bytes:
    return f"answer:{entry_id}:{step}".encode()


def _pragma_word(value: str) -> str:
    word = value.strip().upper()
    if word not in {"FULL", "NORMAL", "EXTRA"}:
        raise StartupProblem(f"COREFLECT_SYNCHRONOUS must be FULL, NORMAL or EXTRA, not {value!r}.")
    return word


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
