"""The unit of work: the queries on the tables every feature shares (people, conversations,
journal entries and answers, inbox, outbox), run synchronously inside one transaction on the
database's own thread. Each feature keeps the queries for its own tables in its `db` module.

`Store.run` hands a `Unit` to a function and runs the whole function as a single call on
aiosqlite's connection thread: one thread round trip per unit of work instead of one per
statement (each round trip costs far more than the SQL itself; see bench/flows.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from flows.kernel.crypto import Cipher, Keyring
from flows.kernel.model import Voice
from flows.store.rows import Conversation, EntryRow, PersonRow, at, iso, now_utc

_ENTRY_COLUMNS = (
    "id, flow, status, episode_id, created_at, flagged, updated_at, proctor, superseded_at"
)


def entry_row(r: sqlite3.Row) -> EntryRow:
    return EntryRow(
        id=r["id"],
        flow=r["flow"],
        status=r["status"],
        episode_id=r["episode_id"],
        created_at=datetime.fromisoformat(r["created_at"]),
        flagged=bool(r["flagged"]),
        updated_at=datetime.fromisoformat(r["updated_at"]),
        proctor=r["proctor"],
        superseded_at=at(r["superseded_at"]),
    )


class Unit:
    """One transaction's worth of queries on the shared tables (see the module docstring)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        keys: Keyring,
        clock: Callable[[], datetime] = now_utc,
        inflight: set[int] | None = None,
        default_timezone: str = "Europe/London",
    ) -> None:
        self.default_timezone = default_timezone  # a new person's, until they choose
        self.conn = conn
        self.keys = keys
        self.clock = clock  # the Store's clock: tests move it on to reach expiries
        # Outbox rows someone is about to send: no one else may pick them up meanwhile.
        self.inflight: set[int] = set() if inflight is None else inflight

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        # fetchall, not fetchone: it runs the statement to the end (an INSERT … RETURNING left
        # half-stepped would block the next savepoint).
        rows = self.conn.execute(sql, args).fetchall()
        return rows[0] if rows else None

    def named(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows read by column name (row["created_at"]) rather than by position."""
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(sql, args).fetchall()

    def named_one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self.named(sql, args)
        return rows[0] if rows else None

    def person(self, person_id: int, default_timezone: str | None = None) -> PersonRow:
        """The person, created on first contact with a fresh data key."""
        default_timezone = default_timezone or self.default_timezone
        row = self.one(
            "SELECT timezone, welcomed, wrapped_key, created_at, name FROM people WHERE id = ?",
            (person_id,),
        )
        if row is None:
            wrapped = self.keys.new_wrapped_key(person_id)
            created = self.clock()
            self.conn.execute(
                "INSERT INTO people (id, wrapped_key, timezone, created_at) VALUES (?, ?, ?, ?)",
                (person_id, wrapped, default_timezone, iso(created)),
            )
            cipher = self.keys.person(person_id, wrapped)
            return PersonRow(person_id, default_timezone, False, cipher, created)
        timezone, welcomed, wrapped, created_at, name = row
        cipher = self.keys.person(person_id, wrapped)
        return PersonRow(
            person_id,
            timezone,
            bool(welcomed),
            cipher,
            datetime.fromisoformat(created_at),
            cipher.open(name, b"name:%d" % person_id).decode("utf-8") if name else "",
        )

    def set_name(self, cipher: Cipher, person_id: int, name: str) -> None:
        sealed = cipher.seal(name.encode("utf-8"), b"name:%d" % person_id)
        self.conn.execute("UPDATE people SET name = ? WHERE id = ?", (sealed, person_id))

    def name_of(self, person_id: int) -> str:
        """Someone else's first name (for a linked person), or '' if we never had one."""
        row = self.one("SELECT wrapped_key, name FROM people WHERE id = ?", (person_id,))
        if row is None or row[1] is None:
            return ""
        cipher = self.keys.person(person_id, row[0])
        return cipher.open(row[1], b"name:%d" % person_id).decode("utf-8")

    def cipher_of(self, person_id: int) -> Cipher | None:
        row = self.one("SELECT wrapped_key FROM people WHERE id = ?", (person_id,))
        return None if row is None else self.keys.person(person_id, row[0])

    def timezone_of(self, person_id: int, default: str | None = None) -> str:
        row = self.one("SELECT timezone FROM people WHERE id = ?", (person_id,))
        return (default or self.default_timezone) if row is None else str(row[0])

    def set_timezone(self, person_id: int, timezone: str) -> None:
        self.conn.execute("UPDATE people SET timezone = ? WHERE id = ?", (timezone, person_id))

    def set_welcomed(self, person_id: int) -> None:
        self.conn.execute("UPDATE people SET welcomed = 1 WHERE id = ?", (person_id,))

    def conversation(self, person_id: int) -> Conversation:
        row = self.one(
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
                iso(self.clock()),
            ),
        )

    def create_entry(self, person_id: int, flow: str, episode_id: int | None) -> int:
        """A new entry; without an episode it starts its own (episode_id = its own id)."""
        stamp = iso(self.clock())
        row = self.one(
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
            (status, iso(self.clock()), entry_id),
        )

    def set_superseded(self, entry_id: int) -> None:
        """An earlier version of a plan: kept, but no longer the one shown or shared."""
        self.conn.execute(
            "UPDATE entries SET superseded_at = ? WHERE id = ?", (iso(self.clock()), entry_id)
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
        flagged_since: datetime | None = None,
        offset: int = 0,
        versions: bool = False,
    ) -> list[EntryRow]:
        """A person's entries, newest first; earlier versions of a plan only with `versions`."""
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE person_id = ?"
        args: list[Any] = [person_id]
        if not versions:
            sql += " AND superseded_at IS NULL"
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
        if flagged_since is not None:
            sql += " AND COALESCE(flagged_at, created_at) > ?"
            args.append(iso(flagged_since))
        sql += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        args.extend([limit, offset])
        return [entry_row(r) for r in self.named(sql, args)]

    def entry(self, person_id: int, entry_id: int) -> EntryRow | None:
        r = self.named_one(
            f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id = ? AND person_id = ?",
            (entry_id, person_id),
        )
        return None if r is None else entry_row(r)

    def search(
        self, cipher: Cipher, person_id: int, test: Callable[[str], bool], start: int, count: int
    ) -> list[int]:
        """Ids of saved or draft entries whose searchable text passes `test`, newest first,
        skipping `start` matches and stopping at `count` more. Decrypted one at a time, in
        this person's thread of work only; a search that fills its page stops early."""
        rows = self.conn.execute(
            "SELECT id, search_text FROM entries INDEXED BY entries_newest_first"
            " WHERE person_id = ? AND status IN ('saved', 'draft') AND superseded_at IS NULL"
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
        self.conn.execute(
            "UPDATE entries SET flagged = ?, flagged_at = ? WHERE id = ?",
            (int(flagged), iso(self.clock()) if flagged else None, entry_id),
        )

    def set_proctor(self, entry_id: int, section: str | None) -> None:
        self.conn.execute("UPDATE entries SET proctor = ? WHERE id = ?", (section, entry_id))

    def offer_support(self, entry_id: int, level: int) -> bool:
        """True the first time support at this level (1 gentle, 2 urgent) is due for this entry,
        and records it; False once it (or the urgent level) has been offered."""
        cur = self.conn.execute(
            "UPDATE entries SET support_offered = ? WHERE id = ? AND support_offered < ?",
            (level, entry_id, level),
        )
        return cur.rowcount == 1

    def remember_message(self, person_id: int, message_id: int, entry_id: int, step: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO answer_messages (person_id, message_id, entry_id, step)"
            " VALUES (?, ?, ?, ?)",
            (person_id, message_id, entry_id, step),
        )

    def answer_for_message(self, person_id: int, message_id: int) -> tuple[int, str] | None:
        row = self.one(
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
        row = self.one("SELECT COUNT(*) FROM entries WHERE person_id = ?", (person_id,))
        return int(row[0])

    def outbox_drop(self, kind: str, ids: Iterable[int]) -> None:
        """Messages vouched for by these (kind, id) guards will not be sent after all."""
        self.conn.executemany(
            "DELETE FROM outbox WHERE guard_kind = ? AND guard_id = ?", [(kind, i) for i in ids]
        )

    def forget_person(self, person_id: int) -> None:
        """Every row of the person goes (their data key with them); replies waiting to them too."""
        self.conn.execute("DELETE FROM outbox WHERE chat_id = ?", (person_id,))
        self.conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
        self.keys.forget(person_id)

    def put_answer(self, cipher: Cipher, entry_id: int, step: str, value: str) -> None:
        """Encrypt and save one answer (replacing an earlier one for the same step)."""
        stamp = iso(self.clock())
        sealed = cipher.seal(value.encode("utf-8"), _answer_aad(entry_id, step))
        self.conn.execute(
            "INSERT INTO answers (entry_id, step, value, answered_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (entry_id, step) DO UPDATE SET value = excluded.value,"
            " answered_at = excluded.answered_at, warning = NULL",
            (entry_id, step, sealed, stamp),
        )
        self.conn.execute("UPDATE entries SET updated_at = ? WHERE id = ?", (stamp, entry_id))

    def open_warning(self, entry_id: int, step: str, number: int) -> None:
        """An identifying-detail warning about this answer is waiting for Keep or Rewrite."""
        self.conn.execute(
            "UPDATE answers SET warning = ? WHERE entry_id = ? AND step = ?",
            (number, entry_id, step),
        )

    def warned_step(self, entry_id: int, number: int) -> str | None:
        """The answer warning `number` is about, while that warning is still open."""
        row = self.one(
            "SELECT step FROM answers WHERE entry_id = ? AND warning = ?", (entry_id, number)
        )
        return None if row is None else str(row[0])

    def settle_warning(self, entry_id: int, step: str) -> None:
        self.conn.execute(
            "UPDATE answers SET warning = NULL WHERE entry_id = ? AND step = ?", (entry_id, step)
        )

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

    def voice_notes(self, cipher: Cipher, entry_id: int) -> dict[str, Voice]:
        """An entry's voice notes, opened, keyed by the step they answer (journal/voice.py
        seals them; /export reads them too)."""
        rows = self.conn.execute(
            "SELECT step, audio, duration, size, mime FROM voice_notes WHERE entry_id = ?",
            (entry_id,),
        ).fetchall()
        return {
            step: Voice(cipher.open(audio, voice_aad(entry_id, step)), duration, size, mime)
            for step, audio, duration, size, mime in rows
        }

    def inbox_mark_handled(self, update_id: int) -> None:
        """Mark handled and drop the payload: the row stays only to recognise a repeat."""
        self.conn.execute(
            "UPDATE inbox SET handled_at = ?, payload = NULL"
            " WHERE update_id = ? AND handled_at IS NULL",
            (iso(self.clock()), update_id),
        )

    def outbox_add(
        self,
        chat_id: int,
        payloads: list[bytes],
        guard: tuple[str, int] | None = None,
        sealed_for: int | None = None,
        not_before: datetime | None = None,
    ) -> list[int]:
        """Queue replies in this transaction; returns their ids in order. `guard`: the
        (kind, id) that vouches for them, so its feature can take them back out. `sealed_for`:
        the person whose words they carry; sealed with that person's data key (the master
        key if they have none any more, or for catalogue wording). `not_before`: they wait
        until then (the end of the recipient's quiet hours; see `SENDABLE`)."""
        stamp = iso(self.clock())
        cipher = None if sealed_for is None else self.cipher_of(sealed_for)
        owner = None if cipher is None else sealed_for
        ids: list[int] = []
        for payload in payloads:
            row = self.one(
                "INSERT INTO outbox (chat_id, payload, created_at, guard_kind, guard_id,"
                " sealed_for, not_before) VALUES (?, x'', ?, ?, ?, ?, ?) RETURNING id",
                (
                    chat_id,
                    stamp,
                    *(guard or (None, None)),
                    owner,
                    None if not_before is None else iso(not_before),
                ),
            )
            row_id = int(row[0])
            # Sealed for this row: moved to another row (or chat), it opens nowhere.
            sealed = (cipher or self.keys.master).seal(payload, outbox_aad(chat_id, row_id))
            self.conn.execute("UPDATE outbox SET payload = ? WHERE id = ?", (sealed, row_id))
            ids.append(row_id)
        if not_before is None:
            self.inflight.update(ids)  # whoever queued them sends them (or a restart does)
        return ids

    def outbox_next_wait(self) -> datetime | None:
        """The earliest moment a waiting outbox row may be sent (see `SENDABLE`)."""
        row = self.one("SELECT MIN(not_before) FROM outbox WHERE not_before IS NOT NULL")
        return None if row is None or row[0] is None else datetime.fromisoformat(row[0])


# The one place an outbox row's earliest send time is honoured: a row is sendable once its
# `not_before` (the end of the recipient's quiet hours) has passed, or if it has none. Every
# query that claims rows to send uses it, with the current time (ISO, UTC) as its parameter.
SENDABLE = "(not_before IS NULL OR not_before <= ?)"


def outbox_aad(chat_id: int, row_id: int) -> bytes:
    """An outbox payload's associated data: its chat and its row."""
    return b"outbox:%d:%d" % (chat_id, row_id)


def legacy_outbox_aad(chat_id: int) -> bytes:
    """Before rows were bound (the chat only): read once at start-up, to re-seal (see Store)."""
    return b"outbox:%d" % chat_id


def voice_aad(entry_id: int, step: str) -> bytes:
    return f"voice:{entry_id}:{step}".encode()


def _answer_aad(entry_id: int, step: str) -> bytes:
    return f"answer:{entry_id}:{step}".encode()
