"""Supervision's own tables: invites, wrong codes, links, shares (and their bodies, events and
copies), co-reflection rounds. Plain functions over the unit of work."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flows.kernel.crypto import Cipher
from flows.store.rows import at, iso
from flows.store.unit import Unit


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


_SHARE_COLUMNS = (
    "s.id, s.link_id, s.worker_id, s.supervisor_id, s.kind, s.subject, s.answers, s.created_at,"
    " s.expires_at, e.event, e.at"
)


_SHARE_FROM = "shares s LEFT JOIN share_events e ON e.share_id = s.id"


def _share_row(r: sqlite3.Row) -> ShareRow:
    return ShareRow(
        id=r["id"],
        link_id=r["link_id"],
        worker_id=r["worker_id"],
        supervisor_id=r["supervisor_id"],
        kind=r["kind"],
        subject=r["subject"],
        answers=[(int(e), str(k)) for e, k in json.loads(r["answers"])],
        created_at=datetime.fromisoformat(r["created_at"]),
        expires_at=at(r["expires_at"]),
        ended=r["event"],
        ended_at=at(r["at"]),
    )


def invite_create(tx: Unit, worker_id: int, code_hash: bytes, now: datetime, ttl: timedelta) -> int:
    """A new invite; any earlier one still open is closed, so only the newest code works."""
    tx.conn.execute(
        "UPDATE invites SET closed_at = ? WHERE worker_id = ? AND closed_at IS NULL",
        (iso(now), worker_id),
    )
    row = tx.one(
        "INSERT INTO invites (worker_id, code_hash, created_at, expires_at)"
        " VALUES (?, ?, ?, ?) RETURNING id",
        (worker_id, code_hash, iso(now), iso(now + ttl)),
    )
    return int(row[0])


def _invite(tx: Unit, where: str, arg: Any) -> InviteRow | None:
    r = tx.named_one(
        "SELECT id, worker_id, created_at, expires_at, supervisor_id, closed_at FROM invites"
        f" WHERE {where}",
        (arg,),
    )
    if r is None:
        return None
    return InviteRow(
        id=r["id"],
        worker_id=r["worker_id"],
        created_at=datetime.fromisoformat(r["created_at"]),
        expires_at=datetime.fromisoformat(r["expires_at"]),
        supervisor_id=r["supervisor_id"],
        closed=r["closed_at"] is not None,
    )


def invite_by_hash(tx: Unit, code_hash: bytes) -> InviteRow | None:
    return _invite(tx, "code_hash = ?", code_hash)


def invite(tx: Unit, invite_id: int) -> InviteRow | None:
    return _invite(tx, "id = ?", invite_id)


def invite_claim(tx: Unit, invite_id: int, supervisor_id: int, now: datetime) -> bool:
    """The supervisor's side confirmed; only the first to confirm gets it (single use)."""
    cur = tx.conn.execute(
        "UPDATE invites SET supervisor_id = ?, claimed_at = ?"
        " WHERE id = ? AND supervisor_id IS NULL AND closed_at IS NULL",
        (supervisor_id, iso(now), invite_id),
    )
    return cur.rowcount == 1


def invite_close(tx: Unit, invite_id: int, now: datetime) -> None:
    tx.conn.execute(
        "UPDATE invites SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
        (iso(now), invite_id),
    )


def wrong_codes_since(tx: Unit, person_id: int, since: datetime) -> int:
    row = tx.one(
        "SELECT COUNT(*) FROM link_attempts WHERE person_id = ? AND at > ?",
        (person_id, iso(since)),
    )
    return int(row[0])


def wrong_code(tx: Unit, person_id: int, now: datetime) -> None:
    tx.conn.execute(
        "INSERT INTO link_attempts (person_id, at) VALUES (?, ?)", (person_id, iso(now))
    )


def prune_wrong_codes(tx: Unit, before: datetime) -> None:
    tx.conn.execute("DELETE FROM link_attempts WHERE at <= ?", (iso(before),))


def link_create(tx: Unit, worker_id: int, supervisor_id: int, now: datetime) -> int:
    row = tx.one(
        "INSERT INTO links (worker_id, supervisor_id, created_at) VALUES (?, ?, ?) RETURNING id",
        (worker_id, supervisor_id, iso(now)),
    )
    return int(row[0])


def _links(tx: Unit, where: str, args: Sequence[Any]) -> list[LinkRow]:
    rows = tx.named(
        "SELECT id, worker_id, supervisor_id, created_at, ended_at FROM links"
        f" WHERE {where} ORDER BY created_at, id",
        args,
    )
    return [
        LinkRow(
            id=r["id"],
            worker_id=r["worker_id"],
            supervisor_id=r["supervisor_id"],
            created_at=datetime.fromisoformat(r["created_at"]),
            active=r["ended_at"] is None,
        )
        for r in rows
    ]


def link(tx: Unit, link_id: int) -> LinkRow | None:
    found = _links(tx, "id = ?", (link_id,))
    return found[0] if found else None


def supervisor_link(tx: Unit, worker_id: int) -> LinkRow | None:
    """The worker's one active link to a supervisor, if any."""
    found = _links(tx, "worker_id = ? AND ended_at IS NULL", (worker_id,))
    return found[0] if found else None


def supervisee_links(tx: Unit, supervisor_id: int) -> list[LinkRow]:
    return _links(tx, "supervisor_id = ? AND ended_at IS NULL", (supervisor_id,))


def link_end(tx: Unit, link_id: int, by: int, now: datetime) -> None:
    tx.conn.execute(
        "UPDATE links SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL",
        (iso(now), by, link_id),
    )


def share_create(
    tx: Unit,
    link: LinkRow,
    kind: str,
    subject: int | None,
    answers: list[tuple[int, str]],
    now: datetime,
    expires_at: datetime | None,
    cipher: Cipher,
    body: list[str],
) -> int:
    row = tx.one(
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
    tx.conn.execute("INSERT INTO share_bodies (share_id, body) VALUES (?, ?)", (share_id, sealed))
    return share_id


def share(tx: Unit, share_id: int) -> ShareRow | None:
    r = tx.named_one(f"SELECT {_SHARE_COLUMNS} FROM {_SHARE_FROM} WHERE s.id = ?", (share_id,))
    return None if r is None else _share_row(r)


def share_sendable(tx: Unit, share_id: int, now: datetime) -> bool:
    """Neither withdrawn nor expired, over a link that is still active."""
    found = share(tx, share_id)
    over = link(tx, found.link_id) if found else None
    return found is not None and found.live(now) and over is not None and over.active


def share_body(tx: Unit, cipher: Cipher, share_id: int) -> list[str] | None:
    row = tx.one("SELECT body FROM share_bodies WHERE share_id = ?", (share_id,))
    if row is None:
        return None
    body: list[str] = json.loads(cipher.open(row[0], b"share:%d" % share_id))
    return body


def shares_by_worker(tx: Unit, worker_id: int, limit: int, offset: int) -> list[ShareRow]:
    rows = tx.named(
        f"SELECT {_SHARE_COLUMNS} FROM {_SHARE_FROM} WHERE s.worker_id = ?"
        " ORDER BY s.created_at DESC, s.id DESC LIMIT ? OFFSET ?",
        (worker_id, limit, offset),
    )
    return [_share_row(r) for r in rows]


def shares_for_supervisor(
    tx: Unit,
    supervisor_id: int,
    now: datetime,
    limit: int,
    offset: int,
    link_id: int | None = None,
    unseen: bool = False,
) -> list[ShareRow]:
    """Live summaries over links still active, newest first; with `link_id`, one person's;
    with `unseen`, only those the supervisor has not opened yet."""
    rows = tx.named(
        f"SELECT {_SHARE_COLUMNS} FROM {_SHARE_FROM} JOIN links l ON l.id = s.link_id"
        " WHERE s.supervisor_id = ? AND l.ended_at IS NULL AND e.event IS NULL"
        " AND (s.expires_at IS NULL OR s.expires_at > ?) AND (? IS NULL OR s.link_id = ?)"
        " AND (NOT ? OR s.id NOT IN (SELECT share_id FROM share_seen))"
        " ORDER BY s.created_at DESC, s.id DESC LIMIT ? OFFSET ?",
        (supervisor_id, iso(now), link_id, link_id, int(unseen), limit, offset),
    )
    return [_share_row(r) for r in rows]


def seen(tx: Unit, share_ids: Sequence[int]) -> set[int]:
    """Which of these summaries the supervisor has opened."""
    if not share_ids:
        return set()
    marks = ",".join("?" * len(share_ids))
    rows = tx.conn.execute(
        f"SELECT share_id FROM share_seen WHERE share_id IN ({marks})", tuple(share_ids)
    ).fetchall()
    return {int(r[0]) for r in rows}


def mark_seen(tx: Unit, share_id: int, now: datetime) -> None:
    tx.conn.execute(
        "INSERT OR IGNORE INTO share_seen (share_id, at) VALUES (?, ?)", (share_id, iso(now))
    )


def unseen_count(tx: Unit, link_id: int, now: datetime) -> int:
    """Live summaries over this link the supervisor has not opened yet."""
    row = tx.one(
        f"SELECT COUNT(*) FROM {_SHARE_FROM} WHERE s.link_id = ? AND e.event IS NULL"
        " AND (s.expires_at IS NULL OR s.expires_at > ?)"
        " AND s.id NOT IN (SELECT share_id FROM share_seen)",
        (link_id, iso(now)),
    )
    return int(row[0])


def drop_queued_shares(tx: Unit, link_id: int) -> None:
    """Summaries over this link still waiting in the outbox will not be sent."""
    tx.conn.execute(
        "DELETE FROM outbox WHERE guard_kind = 'share'"
        " AND guard_id IN (SELECT id FROM shares WHERE link_id = ?)",
        (link_id,),
    )


def shares_due(tx: Unit, now: datetime) -> list[int]:
    rows = tx.conn.execute(
        "SELECT s.id FROM shares s INDEXED BY shares_expiring"
        " LEFT JOIN share_events e ON e.share_id = s.id"
        " WHERE s.expires_at IS NOT NULL AND s.expires_at <= ? AND e.event IS NULL",
        (iso(now),),
    ).fetchall()
    return [int(r[0]) for r in rows]


def share_end(
    tx: Unit, share_id: int, event: str, now: datetime
) -> list[tuple[int, int, datetime]]:
    """Record the end (a new row), delete what was said, drop any copy still queued.

    Returns (chat id, message id, sent at) of every copy Telegram accepted.
    """
    tx.conn.execute(
        "INSERT OR IGNORE INTO share_events (share_id, event, at) VALUES (?, ?, ?)",
        (share_id, event, iso(now)),
    )
    tx.conn.execute("DELETE FROM share_bodies WHERE share_id = ?", (share_id,))
    tx.outbox_drop("share", [share_id])
    rows = tx.conn.execute(
        "SELECT chat_id, message_id, sent_at FROM share_messages WHERE share_id = ?",
        (share_id,),
    ).fetchall()
    tx.conn.execute("DELETE FROM share_messages WHERE share_id = ?", (share_id,))
    return [(int(c), int(m), datetime.fromisoformat(at)) for c, m, at in rows]


def record_share_message(
    tx: Unit, share_id: int, chat_id: int, message_id: int, now: datetime
) -> bool:
    """Keep a sent copy's id; False if the share ended meanwhile (the copy must go now)."""
    if not share_sendable(tx, share_id, now):
        return False
    tx.conn.execute(
        "INSERT OR IGNORE INTO share_messages (share_id, chat_id, message_id, sent_at)"
        " VALUES (?, ?, ?, ?)",
        (share_id, chat_id, message_id, iso(now)),
    )
    return True


def last_pack_at(tx: Unit, worker_id: int) -> datetime | None:
    row = tx.one(
        "SELECT MAX(s.created_at) FROM shares s LEFT JOIN share_events e ON e.share_id = s.id"
        " WHERE s.worker_id = ? AND s.kind = 'pack' AND COALESCE(e.event, '') != 'withdrawn'",
        (worker_id,),
    )
    return at(row[0]) if row else None


def round_create(tx: Unit, link: LinkRow, started_by: int, now: datetime) -> int:
    row = tx.one(
        "INSERT INTO coreflections (link_id, started_by, created_at) VALUES (?, ?, ?) RETURNING id",
        (link.id, started_by, iso(now)),
    )
    round_id = int(row[0])
    tx.conn.executemany(
        "INSERT INTO coreflection_parts (round_id, person_id) VALUES (?, ?)",
        [(round_id, link.worker_id), (round_id, link.supervisor_id)],
    )
    return round_id


def round(tx: Unit, round_id: int) -> RoundRow | None:
    r = tx.named_one(
        "SELECT id, link_id, started_by, created_at, outcome FROM coreflections WHERE id = ?",
        (round_id,),
    )
    if r is None:
        return None
    parts = {
        p[0]: RoundPart(p[0], p[1], p[2] is not None, None if p[3] is None else bool(p[3]))
        for p in tx.named(
            "SELECT person_id, entry_id, finished_at, reveal FROM coreflection_parts"
            " WHERE round_id = ?",
            (round_id,),
        )
    }
    return RoundRow(
        id=r["id"],
        link_id=r["link_id"],
        started_by=r["started_by"],
        created_at=datetime.fromisoformat(r["created_at"]),
        outcome=r["outcome"],
        parts=parts,
    )


def open_round(tx: Unit, link_id: int) -> RoundRow | None:
    row = tx.one("SELECT id FROM coreflections WHERE link_id = ? AND closed_at IS NULL", (link_id,))
    return None if row is None else round(tx, int(row[0]))


def round_of_entry(tx: Unit, entry_id: int) -> RoundRow | None:
    row = tx.one("SELECT round_id FROM coreflection_parts WHERE entry_id = ?", (entry_id,))
    return None if row is None else round(tx, int(row[0]))


def round_part(
    tx: Unit,
    round_id: int,
    person_id: int,
    *,
    entry_id: int | None = None,
    finished: datetime | None = None,
    reveal: bool | None = None,
) -> None:
    if entry_id is not None:
        tx.conn.execute(
            "UPDATE coreflection_parts SET entry_id = ? WHERE round_id = ? AND person_id = ?",
            (entry_id, round_id, person_id),
        )
    if finished is not None:
        tx.conn.execute(
            "UPDATE coreflection_parts SET finished_at = ? WHERE round_id = ? AND person_id = ?",
            (iso(finished), round_id, person_id),
        )
    if reveal is not None:
        tx.conn.execute(
            "UPDATE coreflection_parts SET reveal = ? WHERE round_id = ? AND person_id = ?",
            (int(reveal), round_id, person_id),
        )


def round_close(tx: Unit, round_id: int, outcome: str, now: datetime) -> None:
    tx.conn.execute(
        "UPDATE coreflections SET closed_at = ?, outcome = ? WHERE id = ? AND closed_at IS NULL",
        (iso(now), outcome, round_id),
    )


def share_list_create(tx: Unit, supervisor_id: int, share_ids: list[int], now: datetime) -> int:
    row = tx.one(
        "INSERT INTO share_lists (supervisor_id, share_ids, created_at) VALUES (?, ?, ?)"
        " RETURNING id",
        (supervisor_id, json.dumps(share_ids), iso(now)),
    )
    return int(row[0])


def share_list(tx: Unit, list_id: int) -> list[int]:
    row = tx.one("SELECT share_ids FROM share_lists WHERE id = ?", (list_id,))
    return [] if row is None else [int(i) for i in json.loads(row[0])]


def share_list_sendable(tx: Unit, list_id: int, now: datetime) -> bool:
    listed = share_list(tx, list_id)
    return bool(listed) and all(share_sendable(tx, i, now) for i in listed)


def record_share_list_message(
    tx: Unit, list_id: int, chat_id: int, message_id: int, now: datetime
) -> bool:
    """The list was sent: it is a copy of each summary it names (a withdrawal deletes it)."""
    listed = share_list(tx, list_id)
    tx.conn.execute("DELETE FROM share_lists WHERE id = ?", (list_id,))
    kept = [record_share_message(tx, i, chat_id, message_id, now) for i in listed]
    return bool(kept) and all(kept)


def prune_share_lists(tx: Unit, before: datetime) -> None:
    """Lists never sent (a summary in them ended while they waited) leave nothing behind."""
    tx.conn.execute("DELETE FROM share_lists WHERE created_at <= ?", (iso(before),))
