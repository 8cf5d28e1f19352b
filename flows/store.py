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
    name: str = ""  # their Telegram first name, as last seen: shown to people they link with


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    flow: str
    status: str
    episode_id: int
    created_at: datetime
    flagged: bool = False
    updated_at: datetime | None = None
    proctor: str | None = None  # the supervision pack section the worker chose, if they did


_ENTRY_COLUMNS = "id, flow, status, episode_id, created_at, flagged, updated_at, proctor"


def _entry_row(r: Sequence[Any]) -> EntryRow:
    return EntryRow(
        r[0],
        r[1],
        r[2],
        r[3],
        datetime.fromisoformat(r[4]),
        bool(r[5]),
        datetime.fromisoformat(r[6]),
        r[7],
    )


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True, slots=True)
class InviteRow:
    id: int
    worker_id: int
    created_at: datetime
    expires_at: datetime
    supervisor_id: int | None
    closed: bool


@dataclass(frozen=True, slots=True)
class LinkRow:
    id: int
    worker_id: int
    supervisor_id: int
    created_at: datetime
    active: bool

    def has(self, person_id: int) -> bool:
        return person_id in {self.worker_id, self.supervisor_id}

    def other(self, person_id: int) -> int:
        return self.supervisor_id if person_id == self.worker_id else self.worker_id


@dataclass(frozen=True, slots=True)
class ShareRow:
    id: int
    link_id: int
    worker_id: int
    supervisor_id: int
    kind: str
    subject: int | None
    answers: list[tuple[int, str]]
    created_at: datetime
    expires_at: datetime | None
    ended: str | None  # None while live; 'withdrawn' or 'expired' once over
    ended_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.ended is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    worker_id: int
    set_by: int
    local_start: datetime  # naive wall-clock time in the worker's zone
    starts_at: datetime  # UTC
    every: str | None  # '1w', '2w', '4w', '1m'; None: just this once
    series_start: datetime | None  # naive local start of the series' first session
    state: str  # 'planned', 'held', 'cancelled'


_SESSION_COLUMNS = "id, worker_id, set_by, local_start, starts_at, every, series_start, state"


def _session_row(r: Sequence[Any]) -> SessionRow:
    return SessionRow(
        r[0],
        r[1],
        r[2],
        datetime.strptime(r[3], "%Y-%m-%dT%H:%M"),
        datetime.fromisoformat(r[4]),
        r[5],
        datetime.strptime(r[6], "%Y-%m-%dT%H:%M") if r[6] else None,
        r[7],
    )


@dataclass(frozen=True, slots=True)
class NudgeRow:
    id: int
    person_id: int
    kind: str  # 'session', 'snooze', 'reflect', 'weekly'
    key: str
    session_id: int | None
    entry_id: int | None
    base_at: datetime | None
    due_at: datetime
    useful_until: datetime
    state: str  # 'pending', 'sent', 'dropped', 'cancelled'


_NUDGE_COLUMNS = (
    "id, person_id, kind, key, session_id, entry_id, base_at, due_at, useful_until, state"
)


def _nudge_row(r: Sequence[Any]) -> NudgeRow:
    return NudgeRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        _when(r[6]),
        datetime.fromisoformat(r[7]),
        datetime.fromisoformat(r[8]),
        r[9],
    )


@dataclass(frozen=True, slots=True)
class ReminderSettings:
    """What a person chose; minutes of 0 mean off, times are local "HH:MM"."""

    first_before: int = 1440
    second_before: int = 60
    reflect_after: int = 240
    weekly_day: int | None = None  # 0 Monday … 6 Sunday; None: off
    weekly_time: str = "09:00"
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    paused_until: datetime | None = None  # UTC


_REMINDER_COLUMNS = (
    "first_before, second_before, reflect_after, weekly_day, weekly_time, quiet_start,"
    " quiet_end, paused_until"
)


@dataclass(frozen=True, slots=True)
class RoundPart:
    person_id: int
    entry_id: int | None
    finished: bool
    reveal: bool | None


@dataclass(frozen=True, slots=True)
class RoundRow:
    id: int
    link_id: int
    started_by: int
    created_at: datetime
    outcome: str | None  # None while open
    parts: dict[int, RoundPart]


@dataclass(frozen=True, slots=True)
class TeamGroupRow:
    """A team group a supervisor registered: where consented learning may be posted."""

    id: int
    chat_id: int  # negative: a Telegram group or supergroup
    supervisor_id: int
    title: str
    created_at: datetime
    live: bool
    ended: str | None = None  # 'unregistered' or 'removed' (the bot left or was removed)


@dataclass(frozen=True, slots=True)
class TeamPostRow:
    """A proposal to post learning in a team group, and how it stands (its latest event)."""

    id: int
    group_id: int
    link_id: int
    worker_id: int
    supervisor_id: int
    proposed_by: int
    share_id: int | None
    entry_id: int | None
    created_at: datetime
    state: str  # the latest event: asked, edited, consented, declined, posted, not_posted, …
    mode: str | None  # anonymous or named, once consented
    version: int  # how many times the text was edited: a consent is for one version
    at: datetime  # when the latest event happened

    @property
    def open(self) -> bool:
        """Waiting for the worker's yes (or, when the worker asked, the supervisor's press)."""
        return self.state in {"asked", "edited"} or (
            self.state == "consented" and self.proposed_by == self.worker_id
        )

    @property
    def posted(self) -> bool:
        return self.state == "posted"


@dataclass(frozen=True, slots=True)
class TeamDraft:
    """The words of a proposal: the supervisor's framing line and the worker's learning."""

    framing: str
    learning: str


_SHARE_COLUMNS = (
    "s.id, s.link_id, s.worker_id, s.supervisor_id, s.kind, s.subject, s.answers, s.created_at,"
    " s.expires_at, e.event, e.at"
)
_SHARE_FROM = "shares s LEFT JOIN share_events e ON e.share_id = s.id"


def _share_row(r: Sequence[Any]) -> ShareRow:
    return ShareRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        [(int(e), str(k)) for e, k in json.loads(r[6])],
        datetime.fromisoformat(r[7]),
        _when(r[8]),
        r[9],
        _when(r[10]),
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

    def __init__(
        self,
        conn: sqlite3.Connection,
        keys: Keyring,
        clock: Callable[[], datetime] = now_utc,
        inflight: set[int] | None = None,
    ) -> None:
        self.conn = conn
        self.keys = keys
        self.clock = clock  # the Store's clock: tests move it on to reach expiries
        # Outbox rows someone is about to send: no one else may pick them up meanwhile.
        self.inflight: set[int] = set() if inflight is None else inflight

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        # fetchall, not fetchone: it runs the statement to the end (an INSERT … RETURNING left
        # half-stepped would block the next savepoint).
        rows = self.conn.execute(sql, args).fetchall()
        return rows[0] if rows else None

    # ---- people --------------------------------------------------------------------------

    def person(self, person_id: int, default_timezone: str) -> PersonRow:
        """The person, created on first contact with a fresh data key."""
        row = self._one(
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
        row = self._one("SELECT wrapped_key, name FROM people WHERE id = ?", (person_id,))
        if row is None or row[1] is None:
            return ""
        cipher = self.keys.person(person_id, row[0])
        return cipher.open(row[1], b"name:%d" % person_id).decode("utf-8")

    def cipher_of(self, person_id: int) -> Cipher | None:
        row = self._one("SELECT wrapped_key FROM people WHERE id = ?", (person_id,))
        return None if row is None else self.keys.person(person_id, row[0])

    def timezone_of(self, person_id: int, default: str = "Europe/London") -> str:
        row = self._one("SELECT timezone FROM people WHERE id = ?", (person_id,))
        return default if row is None else str(row[0])

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
                iso(self.clock()),
            ),
        )

    # ---- entries and answers -------------------------------------------------------------

    def create_entry(self, person_id: int, flow: str, episode_id: int | None) -> int:
        """A new entry; without an episode it starts its own (episode_id = its own id)."""
        stamp = iso(self.clock())
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
            (status, iso(self.clock()), entry_id),
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
        if flagged_since is not None:
            sql += " AND COALESCE(flagged_at, created_at) > ?"
            args.append(iso(flagged_since))
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
        self.conn.execute(
            "UPDATE entries SET flagged = ?, flagged_at = ? WHERE id = ?",
            (int(flagged), iso(self.clock()) if flagged else None, entry_id),
        )

    def set_proctor(self, entry_id: int, section: str | None) -> None:
        self.conn.execute("UPDATE entries SET proctor = ? WHERE id = ?", (section, entry_id))

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
        stamp = iso(self.clock())
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
            (iso(self.clock()), update_id),
        )

    def outbox_add(
        self,
        chat_id: int,
        payloads: list[bytes],
        share_id: int | None = None,
        nudge_id: int | None = None,
    ) -> list[int]:
        """Queue replies in this transaction; returns their ids in order."""
        stamp = iso(self.clock())
        ids: list[int] = []
        for payload in payloads:
            sealed = self.keys.master.seal(payload, b"outbox:%d" % chat_id)
            row = self._one(
                "INSERT INTO outbox (chat_id, payload, created_at, share_id, nudge_id)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (chat_id, sealed, stamp, share_id, nudge_id),
            )
            ids.append(int(row[0]))
        self.inflight.update(ids)  # whoever queued them sends them (or a restart does)
        return ids

    # ---- invites and links ---------------------------------------------------------------

    def invite_create(self, worker_id: int, code_hash: bytes, now: datetime, ttl: timedelta) -> int:
        """A new invite; any earlier one still open is closed, so only the newest code works."""
        self.conn.execute(
            "UPDATE invites SET closed_at = ? WHERE worker_id = ? AND closed_at IS NULL",
            (iso(now), worker_id),
        )
        row = self._one(
            "INSERT INTO invites (worker_id, code_hash, created_at, expires_at)"
            " VALUES (?, ?, ?, ?) RETURNING id",
            (worker_id, code_hash, iso(now), iso(now + ttl)),
        )
        return int(row[0])

    def _invite(self, where: str, arg: Any) -> InviteRow | None:
        r = self._one(
            "SELECT id, worker_id, created_at, expires_at, supervisor_id, closed_at FROM invites"
            f" WHERE {where}",
            (arg,),
        )
        if r is None:
            return None
        return InviteRow(
            r[0],
            r[1],
            datetime.fromisoformat(r[2]),
            datetime.fromisoformat(r[3]),
            r[4],
            r[5] is not None,
        )

    def invite_by_hash(self, code_hash: bytes) -> InviteRow | None:
        return self._invite("code_hash = ?", code_hash)

    def invite(self, invite_id: int) -> InviteRow | None:
        return self._invite("id = ?", invite_id)

    def invite_claim(self, invite_id: int, supervisor_id: int, now: datetime) -> bool:
        """The supervisor's side confirmed; only the first to confirm gets it (single use)."""
        cur = self.conn.execute(
            "UPDATE invites SET supervisor_id = ?, claimed_at = ?"
            " WHERE id = ? AND supervisor_id IS NULL AND closed_at IS NULL",
            (supervisor_id, iso(now), invite_id),
        )
        return cur.rowcount == 1

    def invite_close(self, invite_id: int, now: datetime) -> None:
        self.conn.execute(
            "UPDATE invites SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
            (iso(now), invite_id),
        )

    def wrong_codes_since(self, person_id: int, since: datetime) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM link_attempts WHERE person_id = ? AND at > ?",
            (person_id, iso(since)),
        )
        return int(row[0])

    def wrong_code(self, person_id: int, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO link_attempts (person_id, at) VALUES (?, ?)", (person_id, iso(now))
        )

    def prune_wrong_codes(self, before: datetime) -> None:
        self.conn.execute("DELETE FROM link_attempts WHERE at <= ?", (iso(before),))

    def link_create(self, worker_id: int, supervisor_id: int, now: datetime) -> int:
        row = self._one(
            "INSERT INTO links (worker_id, supervisor_id, created_at) VALUES (?, ?, ?)"
            " RETURNING id",
            (worker_id, supervisor_id, iso(now)),
        )
        return int(row[0])

    def _links(self, where: str, args: Sequence[Any]) -> list[LinkRow]:
        rows = self.conn.execute(
            "SELECT id, worker_id, supervisor_id, created_at, ended_at FROM links"
            f" WHERE {where} ORDER BY created_at, id",
            args,
        ).fetchall()
        return [LinkRow(r[0], r[1], r[2], datetime.fromisoformat(r[3]), r[4] is None) for r in rows]

    def link(self, link_id: int) -> LinkRow | None:
        found = self._links("id = ?", (link_id,))
        return found[0] if found else None

    def supervisor_link(self, worker_id: int) -> LinkRow | None:
        """The worker's one active link to a supervisor, if any."""
        found = self._links("worker_id = ? AND ended_at IS NULL", (worker_id,))
        return found[0] if found else None

    def supervisee_links(self, supervisor_id: int) -> list[LinkRow]:
        return self._links("supervisor_id = ? AND ended_at IS NULL", (supervisor_id,))

    def link_end(self, link_id: int, by: int, now: datetime) -> None:
        self.conn.execute(
            "UPDATE links SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL",
            (iso(now), by, link_id),
        )

    # ---- shares (append-only log) --------------------------------------------------------

    def share_create(
        self,
        link: LinkRow,
        kind: str,
        subject: int | None,
        answers: list[tuple[int, str]],
        now: datetime,
        expires_at: datetime | None,
        cipher: Cipher,
        body: list[str],
    ) -> int:
        row = self._one(
            "INSERT INTO shares (link_id, worker_id, supervisor_id, kind, subject, answers,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                link.id,
                link.worker_id,
                link.supervisor_id,
                kind,
                subject,
                json.dumps(answers),
                iso(now),
                None if expires_at is None else iso(expires_at),
            ),
        )
        share_id = int(row[0])
        sealed = cipher.seal(json.dumps(body).encode("utf-8"), b"share:%d" % share_id)
        self.conn.execute(
            "INSERT INTO share_bodies (share_id, body) VALUES (?, ?)", (share_id, sealed)
        )
        return share_id

    def share(self, share_id: int) -> ShareRow | None:
        r = self._one(f"SELECT {_SHARE_COLUMNS} FROM {_SHARE_FROM} WHERE s.id = ?", (share_id,))
        return None if r is None else _share_row(r)

    def share_sendable(self, share_id: int, now: datetime) -> bool:
        """Neither withdrawn nor expired, over a link that is still active."""
        share = self.share(share_id)
        link = self.link(share.link_id) if share else None
        return share is not None and share.live(now) and link is not None and link.active

    def share_body(self, cipher: Cipher, share_id: int) -> list[str] | None:
        row = self._one("SELECT body FROM share_bodies WHERE share_id = ?", (share_id,))
        if row is None:
            return None
        body: list[str] = json.loads(cipher.open(row[0], b"share:%d" % share_id))
        return body

    def shares_by_worker(self, worker_id: int, limit: int, offset: int) -> list[ShareRow]:
        rows = self.conn.execute(
            f"SELECT {_SHARE_COLUMNS} FROM {_SHARE_FROM} WHERE s.worker_id = ?"
            " ORDER BY s.created_at DESC, s.id DESC LIMIT ? OFFSET ?",
            (worker_id, limit, offset),
        ).fetchall()
        return [_share_row(r) for r in rows]

    def shares_for_supervisor(
        self, supervisor_id: int, now: datetime, limit: int, offset: int
    ) -> list[ShareRow]:
        """Live summaries over links still active, newest first."""
        rows = self.conn.execute(
            f"SELECT {_SHARE_COLUMNS} FROM {_SHARE_FROM} JOIN links l ON l.id = s.link_id"
            " WHERE s.supervisor_id = ? AND l.ended_at IS NULL AND e.event IS NULL"
            " AND (s.expires_at IS NULL OR s.expires_at > ?)"
            " ORDER BY s.created_at DESC, s.id DESC LIMIT ? OFFSET ?",
            (supervisor_id, iso(now), limit, offset),
        ).fetchall()
        return [_share_row(r) for r in rows]

    def drop_queued_shares(self, link_id: int) -> None:
        """Summaries over this link still waiting in the outbox will not be sent."""
        self.conn.execute(
            "DELETE FROM outbox WHERE share_id IN (SELECT id FROM shares WHERE link_id = ?)",
            (link_id,),
        )

    def shares_due(self, now: datetime) -> list[int]:
        rows = self.conn.execute(
            "SELECT s.id FROM shares s INDEXED BY shares_expiring"
            " LEFT JOIN share_events e ON e.share_id = s.id"
            " WHERE s.expires_at IS NOT NULL AND s.expires_at <= ? AND e.event IS NULL",
            (iso(now),),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def share_end(
        self, share_id: int, event: str, now: datetime
    ) -> list[tuple[int, int, datetime]]:
        """Record the end (a new row), delete what was said, drop any copy still queued.

        Returns (chat id, message id, sent at) of every copy Telegram accepted.
        """
        self.conn.execute(
            "INSERT OR IGNORE INTO share_events (share_id, event, at) VALUES (?, ?, ?)",
            (share_id, event, iso(now)),
        )
        self.conn.execute("DELETE FROM share_bodies WHERE share_id = ?", (share_id,))
        self.conn.execute("DELETE FROM outbox WHERE share_id = ?", (share_id,))
        rows = self.conn.execute(
            "SELECT chat_id, message_id, sent_at FROM share_messages WHERE share_id = ?",
            (share_id,),
        ).fetchall()
        self.conn.execute("DELETE FROM share_messages WHERE share_id = ?", (share_id,))
        return [(int(c), int(m), datetime.fromisoformat(at)) for c, m, at in rows]

    def record_share_message(
        self, share_id: int, chat_id: int, message_id: int, now: datetime
    ) -> bool:
        """Keep a sent copy's id; False if the share ended meanwhile (the copy must go now)."""
        if not self.share_sendable(share_id, now):
            return False
        self.conn.execute(
            "INSERT OR IGNORE INTO share_messages (share_id, chat_id, message_id, sent_at)"
            " VALUES (?, ?, ?, ?)",
            (share_id, chat_id, message_id, iso(now)),
        )
        return True

    def last_pack_at(self, worker_id: int) -> datetime | None:
        row = self._one(
            "SELECT MAX(s.created_at) FROM shares s LEFT JOIN share_events e ON e.share_id = s.id"
            " WHERE s.worker_id = ? AND s.kind = 'pack' AND COALESCE(e.event, '') != 'withdrawn'",
            (worker_id,),
        )
        return _when(row[0]) if row else None

    # ---- team learning: groups, proposals, consented posts --------------------------------

    def _team_groups(self, where: str, args: Sequence[Any]) -> list[TeamGroupRow]:
        rows = self.conn.execute(
            "SELECT g.id, g.chat_id, g.supervisor_id, g.title, g.created_at, g.ended_at,"
            " p.wrapped_key, g.ended_why FROM team_groups g JOIN people p ON p.id = g.supervisor_id"
            f" WHERE {where} ORDER BY g.created_at, g.id",
            args,
        ).fetchall()
        found = []
        for r in rows:
            title = ""
            if r[3] is not None:
                cipher = self.keys.person(r[2], r[6])
                title = cipher.open(r[3], b"group:%d" % r[0]).decode("utf-8")
            found.append(
                TeamGroupRow(
                    r[0], r[1], r[2], title, datetime.fromisoformat(r[4]), r[5] is None, r[7]
                )
            )
        return found

    def team_group(self, group_id: int) -> TeamGroupRow | None:
        found = self._team_groups("g.id = ?", (group_id,))
        return found[0] if found else None

    def team_groups_of(self, supervisor_id: int) -> list[TeamGroupRow]:
        """A supervisor's registered groups that are still registered."""
        return self._team_groups("g.supervisor_id = ? AND g.ended_at IS NULL", (supervisor_id,))

    def team_groups_in(self, chat_id: int) -> list[TeamGroupRow]:
        """Every live registration of one group chat (a group may serve several supervisors)."""
        return self._team_groups("g.chat_id = ? AND g.ended_at IS NULL", (chat_id,))

    def team_group_register(
        self, chat_id: int, supervisor: PersonRow, title: str, now: datetime
    ) -> int:
        row = self._one(
            "INSERT INTO team_groups (chat_id, supervisor_id, created_at) VALUES (?, ?, ?)"
            " RETURNING id",
            (chat_id, supervisor.id, iso(now)),
        )
        group_id = int(row[0])
        self.team_group_title(group_id, supervisor.cipher, title)
        return group_id

    def team_group_title(self, group_id: int, cipher: Cipher, title: str) -> None:
        sealed = cipher.seal(title.encode("utf-8"), b"group:%d" % group_id)
        self.conn.execute("UPDATE team_groups SET title = ? WHERE id = ?", (sealed, group_id))

    def team_group_end(self, group_id: int, why: str, now: datetime) -> None:
        self.conn.execute(
            "UPDATE team_groups SET ended_at = ?, ended_why = ? WHERE id = ? AND ended_at IS NULL",
            (iso(now), why, group_id),
        )

    def team_group_migrate(self, old_chat: int, new_chat: int) -> int:
        """A group became a supergroup: its registrations (ended ones too: their posts may
        still be withdrawn) follow the new chat id."""
        cur = self.conn.execute(
            "UPDATE team_groups SET chat_id = ? WHERE chat_id = ?",
            (new_chat, old_chat),
        )
        return cur.rowcount

    def team_post_create(
        self,
        group: TeamGroupRow,
        link: LinkRow,
        proposed_by: int,
        share_id: int | None,
        entry_id: int | None,
        cipher: Cipher,
        draft: TeamDraft,
        now: datetime,
    ) -> int:
        row = self._one(
            "INSERT INTO team_posts (group_id, link_id, worker_id, supervisor_id, proposed_by,"
            " share_id, entry_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                group.id,
                link.id,
                link.worker_id,
                link.supervisor_id,
                proposed_by,
                share_id,
                entry_id,
                iso(now),
            ),
        )
        post_id = int(row[0])
        self.conn.execute(
            "INSERT INTO team_post_bodies (post_id, draft) VALUES (?, ?)",
            (post_id, self._seal_draft(cipher, post_id, draft)),
        )
        return post_id

    @staticmethod
    def _seal_draft(cipher: Cipher, post_id: int, draft: TeamDraft) -> bytes:
        data = json.dumps({"framing": draft.framing, "learning": draft.learning})
        return cipher.seal(data.encode("utf-8"), b"team-draft:%d" % post_id)

    def team_post_event(
        self, post_id: int, event: str, now: datetime, mode: str | None = None
    ) -> None:
        """A new row in the post's log (append-only)."""
        self.conn.execute(
            "INSERT INTO team_post_events (post_id, seq, event, mode, at) VALUES (?,"
            " (SELECT COALESCE(MAX(seq), 0) + 1 FROM team_post_events WHERE post_id = ?), ?, ?, ?)",
            (post_id, post_id, event, mode, iso(now)),
        )

    def _team_posts(self, where: str, args: Sequence[Any], tail: str = "") -> list[TeamPostRow]:
        rows = self.conn.execute(
            "SELECT t.id, t.group_id, t.link_id, t.worker_id, t.supervisor_id, t.proposed_by,"
            " t.share_id, t.entry_id, t.created_at, e.event, e.at,"
            " (SELECT mode FROM team_post_events m WHERE m.post_id = t.id AND m.mode IS NOT NULL"
            "  ORDER BY m.seq DESC LIMIT 1),"
            " (SELECT COUNT(*) FROM team_post_events v WHERE v.post_id = t.id"
            "  AND v.event = 'edited')"
            " FROM team_posts t JOIN team_post_events e ON e.post_id = t.id"
            " AND e.seq = (SELECT MAX(seq) FROM team_post_events x WHERE x.post_id = t.id)"
            f" WHERE {where} ORDER BY t.created_at DESC, t.id DESC {tail}",
            args,
        ).fetchall()
        return [
            TeamPostRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                datetime.fromisoformat(r[8]),
                r[9],
                r[11],
                int(r[12]),
                datetime.fromisoformat(r[10]),
            )
            for r in rows
        ]

    def team_post(self, post_id: int) -> TeamPostRow | None:
        found = self._team_posts("t.id = ?", (post_id,))
        return found[0] if found else None

    def team_posts_by_worker(self, worker_id: int) -> list[TeamPostRow]:
        """Everything a worker said yes to for a team group, however it stands now."""
        return self._team_posts(
            "t.worker_id = ? AND EXISTS (SELECT 1 FROM team_post_events p WHERE p.post_id = t.id"
            " AND p.event IN ('posted', 'consented'))",
            (worker_id,),
        )

    def team_posts_open(self, group_id: int) -> list[TeamPostRow]:
        """Proposals for one group still waiting on someone's answer."""
        return [p for p in self._team_posts("t.group_id = ?", (group_id,)) if p.open]

    def team_draft(self, cipher: Cipher, post_id: int) -> TeamDraft | None:
        row = self._one("SELECT draft FROM team_post_bodies WHERE post_id = ?", (post_id,))
        if row is None:
            return None
        data = json.loads(cipher.open(row[0], b"team-draft:%d" % post_id))
        return TeamDraft(str(data["framing"]), str(data["learning"]))

    def team_draft_set(self, cipher: Cipher, post_id: int, draft: TeamDraft) -> None:
        """New words: any earlier yes no longer applies."""
        self.conn.execute(
            "UPDATE team_post_bodies SET draft = ?, consented = NULL WHERE post_id = ?",
            (self._seal_draft(cipher, post_id, draft), post_id),
        )

    def team_consent(self, cipher: Cipher, post_id: int, html: str, avoid: list[str]) -> None:
        """The worker's yes, to exactly this text (and, if anonymous, the words it must not
        contain: their first name and username)."""
        data = json.dumps({"html": html, "avoid": avoid}).encode("utf-8")
        sealed = cipher.seal(data, b"team-consent:%d" % post_id)
        self.conn.execute(
            "UPDATE team_post_bodies SET consented = ? WHERE post_id = ?", (sealed, post_id)
        )

    def team_consented(self, post_id: int) -> tuple[str, list[str]] | None:
        """The exact text the worker said yes to, and the words an anonymous post must avoid."""
        row = self._one(
            "SELECT b.consented, p.wrapped_key FROM team_post_bodies b"
            " JOIN team_posts t ON t.id = b.post_id JOIN people p ON p.id = t.worker_id"
            " WHERE b.post_id = ?",
            (post_id,),
        )
        if row is None or row[0] is None:
            return None
        worker = self._one("SELECT worker_id FROM team_posts WHERE id = ?", (post_id,))
        cipher = self.keys.person(int(worker[0]), row[1])
        data = json.loads(cipher.open(row[0], b"team-consent:%d" % post_id))
        return str(data["html"]), [str(w) for w in data["avoid"]]

    def team_post_end(
        self, post_id: int, event: str, now: datetime
    ) -> list[tuple[int, int, datetime]]:
        """Declined, withdrawn or refused: a new row, the words deleted. Returns (chat id,
        message id, sent at) of the copy Telegram accepted, if there was one."""
        self.team_post_event(post_id, event, now)
        self.conn.execute("DELETE FROM team_post_bodies WHERE post_id = ?", (post_id,))
        rows = self.conn.execute(
            "SELECT chat_id, message_id, sent_at FROM team_post_messages WHERE post_id = ?",
            (post_id,),
        ).fetchall()
        self.conn.execute("DELETE FROM team_post_messages WHERE post_id = ?", (post_id,))
        return [(int(c), int(m), datetime.fromisoformat(at)) for c, m, at in rows]

    def team_post_sendable(self, post_id: int, chat_id: int, html: str) -> bool:
        """Checked again just before a post goes: posted but not withdrawn, the same words the
        worker said yes to, a live registration of this very chat, an active link. (Or, to the
        supervisor's own chat, the worker's request: still waiting for them, still consented.)"""
        post = self.team_post(post_id)
        group = self.team_group(post.group_id) if post else None
        link = self.link(post.link_id) if post else None
        consented = self.team_consented(post_id)
        if post is None or group is None or link is None or consented is None:
            return False
        if not group.live or not link.active:
            return False
        if chat_id == post.supervisor_id:
            return post.state == "consented" and post.proposed_by == post.worker_id
        return post.state == "posted" and group.chat_id == chat_id and consented[0] == html

    def team_post_history(self, post_id: int) -> list[str]:
        """The post's events, oldest first."""
        rows = self.conn.execute(
            "SELECT event FROM team_post_events WHERE post_id = ? ORDER BY seq", (post_id,)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def team_post_copies(self, post_id: int) -> int:
        row = self._one("SELECT COUNT(*) FROM team_post_messages WHERE post_id = ?", (post_id,))
        return int(row[0])

    def team_post_message(self, post_id: int, chat_id: int, message_id: int, now: datetime) -> bool:
        """Keep a sent copy's id (the post in its group, or the worker's request in the
        supervisor's chat); False if withdrawn meanwhile: that copy must be deleted now."""
        post = self.team_post(post_id)
        if post is None:
            return False
        if chat_id == post.supervisor_id:
            if post.state != "consented":
                return False
        elif post.state != "posted":
            return False
        self.conn.execute(
            "INSERT OR IGNORE INTO team_post_messages (post_id, chat_id, message_id, sent_at)"
            " VALUES (?, ?, ?, ?)",
            (post_id, chat_id, message_id, iso(now)),
        )
        return True

    # ---- co-reflection -------------------------------------------------------------------

    def round_create(self, link: LinkRow, started_by: int, now: datetime) -> int:
        row = self._one(
            "INSERT INTO coreflections (link_id, started_by, created_at) VALUES (?, ?, ?)"
            " RETURNING id",
            (link.id, started_by, iso(now)),
        )
        round_id = int(row[0])
        self.conn.executemany(
            "INSERT INTO coreflection_parts (round_id, person_id) VALUES (?, ?)",
            [(round_id, link.worker_id), (round_id, link.supervisor_id)],
        )
        return round_id

    def round(self, round_id: int) -> RoundRow | None:
        r = self._one(
            "SELECT id, link_id, started_by, created_at, outcome FROM coreflections WHERE id = ?",
            (round_id,),
        )
        if r is None:
            return None
        parts = {
            p[0]: RoundPart(p[0], p[1], p[2] is not None, None if p[3] is None else bool(p[3]))
            for p in self.conn.execute(
                "SELECT person_id, entry_id, finished_at, reveal FROM coreflection_parts"
                " WHERE round_id = ?",
                (round_id,),
            ).fetchall()
        }
        return RoundRow(r[0], r[1], r[2], datetime.fromisoformat(r[3]), r[4], parts)

    def open_round(self, link_id: int) -> RoundRow | None:
        row = self._one(
            "SELECT id FROM coreflections WHERE link_id = ? AND closed_at IS NULL", (link_id,)
        )
        return None if row is None else self.round(int(row[0]))

    def round_of_entry(self, entry_id: int) -> RoundRow | None:
        row = self._one("SELECT round_id FROM coreflection_parts WHERE entry_id = ?", (entry_id,))
        return None if row is None else self.round(int(row[0]))

    def round_part(
        self,
        round_id: int,
        person_id: int,
        *,
        entry_id: int | None = None,
        finished: datetime | None = None,
        reveal: bool | None = None,
    ) -> None:
        if entry_id is not None:
            self.conn.execute(
                "UPDATE coreflection_parts SET entry_id = ? WHERE round_id = ? AND person_id = ?",
                (entry_id, round_id, person_id),
            )
        if finished is not None:
            self.conn.execute(
                "UPDATE coreflection_parts SET finished_at = ? WHERE round_id = ?"
                " AND person_id = ?",
                (iso(finished), round_id, person_id),
            )
        if reveal is not None:
            self.conn.execute(
                "UPDATE coreflection_parts SET reveal = ? WHERE round_id = ? AND person_id = ?",
                (int(reveal), round_id, person_id),
            )

    def round_close(self, round_id: int, outcome: str, now: datetime) -> None:
        self.conn.execute(
            "UPDATE coreflections SET closed_at = ?, outcome = ?"
            " WHERE id = ? AND closed_at IS NULL",
            (iso(now), outcome, round_id),
        )

    # ---- supervision sessions and nudges -------------------------------------------------

    def reminder_settings(self, person_id: int) -> ReminderSettings:
        row = self._one(
            f"SELECT {_REMINDER_COLUMNS} FROM reminder_settings WHERE person_id = ?",
            (person_id,),
        )
        if row is None:
            return ReminderSettings()
        first, second, reflect, weekly_day, weekly_time, quiet_start, quiet_end, paused = row
        return ReminderSettings(
            first, second, reflect, weekly_day, weekly_time, quiet_start, quiet_end, _when(paused)
        )

    def set_reminder_settings(self, person_id: int, settings: ReminderSettings) -> None:
        values = (
            settings.first_before,
            settings.second_before,
            settings.reflect_after,
            settings.weekly_day,
            settings.weekly_time,
            settings.quiet_start,
            settings.quiet_end,
            None if settings.paused_until is None else iso(settings.paused_until),
        )
        self.conn.execute(
            f"INSERT OR REPLACE INTO reminder_settings (person_id, {_REMINDER_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, *values),
        )

    def session_create(
        self,
        worker_id: int,
        set_by: int,
        local_start: str,
        starts_at: datetime,
        every: str | None,
        series_start: str | None,
    ) -> int:
        row = self._one(
            "INSERT INTO sessions (worker_id, set_by, local_start, starts_at, every, series_start,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                worker_id,
                set_by,
                local_start,
                iso(starts_at),
                every,
                series_start,
                iso(self.clock()),
            ),
        )
        return int(row[0])

    def session(self, session_id: int) -> SessionRow | None:
        r = self._one(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
        return None if r is None else _session_row(r)

    def _sessions(self, where: str, args: Sequence[Any]) -> list[SessionRow]:
        rows = self.conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {where} ORDER BY starts_at, id", args
        ).fetchall()
        return [_session_row(r) for r in rows]

    def sessions_planned(self, worker_id: int) -> list[SessionRow]:
        return self._sessions("worker_id = ? AND state = 'planned'", (worker_id,))

    def sessions_all(self, worker_id: int) -> list[SessionRow]:
        return self._sessions("worker_id = ?", (worker_id,))

    def nudges_all(self, person_id: int) -> list[tuple[NudgeRow, str | None]]:
        """Every nudge of the person, oldest due first, with why it was dropped or cancelled."""
        rows = self.conn.execute(
            f"SELECT {_NUDGE_COLUMNS}, reason FROM nudges WHERE person_id = ? ORDER BY due_at, id",
            (person_id,),
        ).fetchall()
        return [(_nudge_row(r), r[10] or None) for r in rows]

    def has_reminder_settings(self, person_id: int) -> bool:
        row = self._one("SELECT 1 FROM reminder_settings WHERE person_id = ?", (person_id,))
        return row is not None

    def last_session_held(self, worker_id: int, before: datetime) -> datetime | None:
        row = self._one(
            "SELECT MAX(starts_at) FROM sessions WHERE worker_id = ? AND state = 'held'"
            " AND starts_at < ?",
            (worker_id, iso(before)),
        )
        return _when(row[0]) if row else None

    def session_move(
        self,
        session_id: int,
        local_start: str,
        starts_at: datetime,
        series_start: str | None = None,
    ) -> None:
        self.conn.execute(
            "UPDATE sessions SET local_start = ?, starts_at = ?,"
            " series_start = COALESCE(?, series_start) WHERE id = ?",
            (local_start, iso(starts_at), series_start, session_id),
        )

    def session_state(self, session_id: int, state: str) -> None:
        """Held (it has started) or cancelled."""
        self.conn.execute("UPDATE sessions SET state = ? WHERE id = ?", (state, session_id))

    def sessions_started(self, now: datetime, limit: int) -> list[SessionRow]:
        rows = self.conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions INDEXED BY sessions_next"
            " WHERE state = 'planned' AND starts_at <= ? ORDER BY starts_at LIMIT ?",
            (iso(now), limit),
        ).fetchall()
        return [_session_row(r) for r in rows]

    def nudge(self, nudge_id: int) -> NudgeRow | None:
        r = self._one(f"SELECT {_NUDGE_COLUMNS} FROM nudges WHERE id = ?", (nudge_id,))
        return None if r is None else _nudge_row(r)

    def nudges_pending(self, person_id: int) -> list[NudgeRow]:
        rows = self.conn.execute(
            f"SELECT {_NUDGE_COLUMNS} FROM nudges WHERE person_id = ? AND state = 'pending'"
            " ORDER BY due_at, id",
            (person_id,),
        ).fetchall()
        return [_nudge_row(r) for r in rows]

    def nudge_plan(
        self,
        person_id: int,
        kind: str,
        key: str,
        due_at: datetime,
        useful_until: datetime,
        *,
        session_id: int | None = None,
        entry_id: int | None = None,
        base_at: datetime | None = None,
    ) -> None:
        """Plan a nudge, or move one still pending; one already sent or dropped stays as it is."""
        self.conn.execute(
            "INSERT INTO nudges (person_id, kind, key, session_id, entry_id, base_at, due_at,"
            " useful_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (person_id, key) DO UPDATE SET due_at = excluded.due_at,"
            " useful_until = excluded.useful_until WHERE state = 'pending'",
            (
                person_id,
                kind,
                key,
                session_id,
                entry_id,
                None if base_at is None else iso(base_at),
                iso(due_at),
                iso(useful_until),
            ),
        )

    def nudge_end(self, nudge_id: int, state: str, reason: str, now: datetime) -> None:
        self.conn.execute(
            "UPDATE nudges SET state = ?, reason = ?, done_at = ?"
            " WHERE id = ? AND state = 'pending'",
            (state, reason, iso(now), nudge_id),
        )

    def nudge_withheld(self, nudge_id: int, reason: str, now: datetime) -> None:
        """Queued, but no longer useful by the time it could be sent (the bot was down)."""
        self.conn.execute(
            "UPDATE nudges SET state = 'dropped', reason = ?, done_at = ? WHERE id = ?",
            (reason, iso(now), nudge_id),
        )

    def nudges_due(self, now: datetime, limit: int) -> list[NudgeRow]:
        rows = self.conn.execute(
            f"SELECT {_NUDGE_COLUMNS} FROM nudges INDEXED BY nudges_due"
            " WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
            (iso(now), limit),
        ).fetchall()
        return [_nudge_row(r) for r in rows]

    def next_wake(self) -> datetime | None:
        """The next moment anything is due: a pending nudge, or a planned session starting."""
        row = self._one(
            "SELECT MIN(t) FROM (SELECT MIN(due_at) AS t FROM nudges WHERE state = 'pending'"
            " UNION ALL SELECT MIN(starts_at) FROM sessions WHERE state = 'planned')"
        )
        return _when(row[0]) if row else None

    def unqueue_nudges(self, nudge_ids: Iterable[int]) -> None:
        """Nudges still waiting in the outbox for a session that moved or was cancelled."""
        self.conn.executemany(
            "DELETE FROM outbox WHERE nudge_id = ?", [(nudge_id,) for nudge_id in nudge_ids]
        )

    def reflected_since(self, person_id: int, episode_id: int, since: datetime) -> bool:
        """A reflection in this sharing episode, or any reflection saved since `since`."""
        row = self._one(
            "SELECT EXISTS (SELECT 1 FROM entries WHERE person_id = ? AND flow = 'reflection'"
            " AND status = 'saved' AND (episode_id = ? OR created_at >= ?))",
            (person_id, episode_id, iso(since)),
        )
        return bool(row[0])


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
        self.clock: Callable[[], datetime] = now_utc  # every timestamp written comes from here
        # Outbox rows being sent right now (by the handler that queued them, the nudger or a
        # flush), so two senders never both pick up the same row. Only touched on the
        # database thread inside units of work, and by `sending_done`.
        self.inflight: set[int] = set()

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
                        _run_group,
                        self.db._conn,
                        Tx(self.db._conn, self.keys, self.clock, self.inflight),
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

    async def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it, so deleted pages leave no copy behind."""
        await self.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def flush_sent(self) -> None:
        if self._sent:
            await self.run(lambda tx: None)

    # ---- inbox ---------------------------------------------------------------------------

    async def inbox_add(self, updates: list[tuple[int, bytes]]) -> None:
        """Store a batch of raw updates (deduplicated on update_id) and commit."""
        stamp = iso(self.clock())
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
        cutoff = iso(self.clock() - keep)
        await self.run(
            lambda tx: tx.conn.execute(
                "DELETE FROM inbox WHERE handled_at IS NOT NULL AND handled_at < ?"
                " AND update_id < (SELECT MAX(update_id) FROM inbox)",
                (cutoff,),
            )
        )

    # ---- outbox --------------------------------------------------------------------------

    async def share_live(self, share_id: int, now: datetime) -> bool:
        """Checked again just before a queued summary goes out."""
        return await self.run(lambda tx: tx.share_sendable(share_id, now))

    async def record_share_message(
        self, share_id: int, chat_id: int, message_id: int, now: datetime
    ) -> bool:
        return await self.run(
            lambda tx: tx.record_share_message(share_id, chat_id, message_id, now)
        )

    async def team_post_live(self, post_id: int, chat_id: int, html: str) -> bool:
        """Checked again just before a team post goes out: still consented, word for word."""
        return await self.run(lambda tx: tx.team_post_sendable(post_id, chat_id, html))

    async def record_team_message(
        self, post_id: int, chat_id: int, message_id: int, now: datetime
    ) -> bool:
        return await self.run(lambda tx: tx.team_post_message(post_id, chat_id, message_id, now))

    async def outbox_pending(self, limit: int = 100) -> list[tuple[int, int, bytes]]:
        """(id, chat_id, payload) of replies saved but not yet sent, oldest first."""

        def claim(tx: Tx) -> list[tuple[int, int, bytes]]:
            # Inside the unit, so no other sender can claim the same rows in between.
            skip = self.inflight | set(self._sent)
            mine: list[tuple[int, int, bytes]] = []
            cursor = tx.conn.execute("SELECT id, chat_id, payload FROM outbox ORDER BY id")
            try:
                for i, c, p in cursor:
                    if i not in skip:
                        mine.append((i, c, p))
                        if len(mine) == limit:
                            break
            finally:
                cursor.close()
            self.inflight.update(i for i, _, _ in mine)
            return mine

        rows = await self.run(claim)
        return [(i, c, self.keys.master.open(p, b"outbox:%d" % c)) for i, c, p in rows]

    def sending_done(self, ids: Iterable[int]) -> None:
        """These rows are no longer being sent: sent (see `mark_sent`), or left for a retry."""
        self.inflight.difference_update(ids)


def _run_group(
    conn: sqlite3.Connection, tx: Tx, works: list[Callable[[Tx], Any]], sent: list[int]
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
