"""Team learning's own tables: registered groups, posts, their events, bodies and copies.
Plain functions over the unit of work."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flows.features.supervision import db as sup_db
from flows.features.supervision.db import LinkRow
from flows.kernel.crypto import Cipher
from flows.store.rows import PersonRow, iso
from flows.store.unit import Unit


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


def _team_groups(tx: Unit, where: str, args: Sequence[Any]) -> list[TeamGroupRow]:
    rows = tx.named(
        "SELECT g.id, g.chat_id, g.supervisor_id, g.title, g.created_at, g.ended_at,"
        " p.wrapped_key, g.ended_why FROM team_groups g JOIN people p ON p.id = g.supervisor_id"
        f" WHERE {where} ORDER BY g.created_at, g.id",
        args,
    )
    found = []
    for r in rows:
        title = ""
        if r["title"] is not None:
            cipher = tx.keys.person(r["supervisor_id"], r["wrapped_key"])
            title = cipher.open(r["title"], b"group:%d" % r["id"]).decode("utf-8")
        found.append(
            TeamGroupRow(
                id=r["id"],
                chat_id=r["chat_id"],
                supervisor_id=r["supervisor_id"],
                title=title,
                created_at=datetime.fromisoformat(r["created_at"]),
                live=r["ended_at"] is None,
                ended=r["ended_why"],
            )
        )
    return found


def team_group(tx: Unit, group_id: int) -> TeamGroupRow | None:
    found = _team_groups(tx, "g.id = ?", (group_id,))
    return found[0] if found else None


def team_groups_of(tx: Unit, supervisor_id: int) -> list[TeamGroupRow]:
    """A supervisor's registered groups that are still registered."""
    return _team_groups(tx, "g.supervisor_id = ? AND g.ended_at IS NULL", (supervisor_id,))


def team_groups_in(tx: Unit, chat_id: int) -> list[TeamGroupRow]:
    """Every live registration of one group chat (a group may serve several supervisors)."""
    return _team_groups(tx, "g.chat_id = ? AND g.ended_at IS NULL", (chat_id,))


def team_group_register(
    tx: Unit, chat_id: int, supervisor: PersonRow, title: str, now: datetime
) -> int:
    row = tx.one(
        "INSERT INTO team_groups (chat_id, supervisor_id, created_at) VALUES (?, ?, ?)"
        " RETURNING id",
        (chat_id, supervisor.id, iso(now)),
    )
    group_id = int(row[0])
    team_group_title(tx, group_id, supervisor.cipher, title)
    return group_id


def team_group_title(tx: Unit, group_id: int, cipher: Cipher, title: str) -> None:
    sealed = cipher.seal(title.encode("utf-8"), b"group:%d" % group_id)
    tx.conn.execute("UPDATE team_groups SET title = ? WHERE id = ?", (sealed, group_id))


def team_group_end(tx: Unit, group_id: int, why: str, now: datetime) -> None:
    tx.conn.execute(
        "UPDATE team_groups SET ended_at = ?, ended_why = ? WHERE id = ? AND ended_at IS NULL",
        (iso(now), why, group_id),
    )


def team_group_migrate(tx: Unit, old_chat: int, new_chat: int) -> int:
    """A group became a supergroup: its registrations (ended ones too: their posts may
    still be withdrawn) follow the new chat id."""
    cur = tx.conn.execute(
        "UPDATE team_groups SET chat_id = ? WHERE chat_id = ?",
        (new_chat, old_chat),
    )
    return cur.rowcount


def team_post_create(
    tx: Unit,
    group: TeamGroupRow,
    link: LinkRow,
    proposed_by: int,
    share_id: int | None,
    entry_id: int | None,
    cipher: Cipher,
    draft: TeamDraft,
    now: datetime,
) -> int:
    row = tx.one(
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
    tx.conn.execute(
        "INSERT INTO team_post_bodies (post_id, draft) VALUES (?, ?)",
        (post_id, _seal_draft(cipher, post_id, draft)),
    )
    return post_id


def _seal_draft(cipher: Cipher, post_id: int, draft: TeamDraft) -> bytes:
    data = json.dumps({"framing": draft.framing, "learning": draft.learning})
    return cipher.seal(data.encode("utf-8"), b"team-draft:%d" % post_id)


def team_post_event(
    tx: Unit, post_id: int, event: str, now: datetime, mode: str | None = None
) -> None:
    """A new row in the post's log (append-only)."""
    tx.conn.execute(
        "INSERT INTO team_post_events (post_id, seq, event, mode, at) VALUES (?,"
        " (SELECT COALESCE(MAX(seq), 0) + 1 FROM team_post_events WHERE post_id = ?), ?, ?, ?)",
        (post_id, post_id, event, mode, iso(now)),
    )


def _team_posts(tx: Unit, where: str, args: Sequence[Any], tail: str = "") -> list[TeamPostRow]:
    rows = tx.named(
        "SELECT t.id, t.group_id, t.link_id, t.worker_id, t.supervisor_id, t.proposed_by,"
        " t.share_id, t.entry_id, t.created_at, e.event, e.at,"
        " (SELECT mode FROM team_post_events m WHERE m.post_id = t.id AND m.mode IS NOT NULL"
        "  ORDER BY m.seq DESC LIMIT 1) AS mode,"
        " (SELECT COUNT(*) FROM team_post_events v WHERE v.post_id = t.id"
        "  AND v.event = 'edited') AS version"
        " FROM team_posts t JOIN team_post_events e ON e.post_id = t.id"
        " AND e.seq = (SELECT MAX(seq) FROM team_post_events x WHERE x.post_id = t.id)"
        f" WHERE {where} ORDER BY t.created_at DESC, t.id DESC {tail}",
        args,
    )
    return [
        TeamPostRow(
            id=r["id"],
            group_id=r["group_id"],
            link_id=r["link_id"],
            worker_id=r["worker_id"],
            supervisor_id=r["supervisor_id"],
            proposed_by=r["proposed_by"],
            share_id=r["share_id"],
            entry_id=r["entry_id"],
            created_at=datetime.fromisoformat(r["created_at"]),
            state=r["event"],
            mode=r["mode"],
            version=int(r["version"]),
            at=datetime.fromisoformat(r["at"]),
        )
        for r in rows
    ]


def team_post(tx: Unit, post_id: int) -> TeamPostRow | None:
    found = _team_posts(tx, "t.id = ?", (post_id,))
    return found[0] if found else None


def team_posts_by_worker(tx: Unit, worker_id: int) -> list[TeamPostRow]:
    """Everything a worker said yes to for a team group, however it stands now."""
    return _team_posts(
        tx,
        "t.worker_id = ? AND EXISTS (SELECT 1 FROM team_post_events p WHERE p.post_id = t.id"
        " AND p.event IN ('posted', 'consented'))",
        (worker_id,),
    )


def team_draft(tx: Unit, cipher: Cipher, post_id: int) -> TeamDraft | None:
    row = tx.one("SELECT draft FROM team_post_bodies WHERE post_id = ?", (post_id,))
    if row is None:
        return None
    data = json.loads(cipher.open(row[0], b"team-draft:%d" % post_id))
    return TeamDraft(str(data["framing"]), str(data["learning"]))


def team_draft_set(tx: Unit, cipher: Cipher, post_id: int, draft: TeamDraft) -> None:
    """New words: any earlier yes no longer applies."""
    tx.conn.execute(
        "UPDATE team_post_bodies SET draft = ?, consented = NULL WHERE post_id = ?",
        (_seal_draft(cipher, post_id, draft), post_id),
    )


def team_consent(tx: Unit, cipher: Cipher, post_id: int, html: str, avoid: list[str]) -> None:
    """The worker's yes, to exactly this text (and, if anonymous, the words it must not
    contain: their first name and username)."""
    data = json.dumps({"html": html, "avoid": avoid}).encode("utf-8")
    sealed = cipher.seal(data, b"team-consent:%d" % post_id)
    tx.conn.execute(
        "UPDATE team_post_bodies SET consented = ? WHERE post_id = ?", (sealed, post_id)
    )


def team_consented(tx: Unit, post_id: int) -> tuple[str, list[str]] | None:
    """The exact text the worker said yes to, and the words an anonymous post must avoid."""
    row = tx.one(
        "SELECT b.consented, p.wrapped_key FROM team_post_bodies b"
        " JOIN team_posts t ON t.id = b.post_id JOIN people p ON p.id = t.worker_id"
        " WHERE b.post_id = ?",
        (post_id,),
    )
    if row is None or row[0] is None:
        return None
    worker = tx.one("SELECT worker_id FROM team_posts WHERE id = ?", (post_id,))
    cipher = tx.keys.person(int(worker[0]), row[1])
    data = json.loads(cipher.open(row[0], b"team-consent:%d" % post_id))
    return str(data["html"]), [str(w) for w in data["avoid"]]


def team_post_end(
    tx: Unit, post_id: int, event: str, now: datetime
) -> list[tuple[int, int, datetime]]:
    """Declined, withdrawn or refused: a new row, the words deleted. Returns (chat id,
    message id, sent at) of the copy Telegram accepted, if there was one."""
    team_post_event(tx, post_id, event, now)
    tx.conn.execute("DELETE FROM team_post_bodies WHERE post_id = ?", (post_id,))
    rows = tx.conn.execute(
        "SELECT chat_id, message_id, sent_at FROM team_post_messages WHERE post_id = ?",
        (post_id,),
    ).fetchall()
    tx.conn.execute("DELETE FROM team_post_messages WHERE post_id = ?", (post_id,))
    return [(int(c), int(m), datetime.fromisoformat(at)) for c, m, at in rows]


def team_post_sendable(tx: Unit, post_id: int, chat_id: int, html: str) -> bool:
    """Checked again just before a post goes: posted but not withdrawn, the same words the
    worker said yes to, a live registration of this very chat, an active link. (Or, to the
    supervisor's own chat, the worker's request: still waiting for them, still consented.)"""
    post = team_post(tx, post_id)
    group = team_group(tx, post.group_id) if post else None
    link = sup_db.link(tx, post.link_id) if post else None
    consented = team_consented(tx, post_id)
    if post is None or group is None or link is None or consented is None:
        return False
    if not group.live or not link.active:
        return False
    if chat_id == post.supervisor_id:
        return post.state == "consented" and post.proposed_by == post.worker_id
    return post.state == "posted" and group.chat_id == chat_id and consented[0] == html


def team_post_history(tx: Unit, post_id: int) -> list[str]:
    """The post's events, oldest first."""
    rows = tx.conn.execute(
        "SELECT event FROM team_post_events WHERE post_id = ? ORDER BY seq", (post_id,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def team_post_copies(tx: Unit, post_id: int) -> int:
    row = tx.one("SELECT COUNT(*) FROM team_post_messages WHERE post_id = ?", (post_id,))
    return int(row[0])


def team_post_message(tx: Unit, post_id: int, chat_id: int, message_id: int, now: datetime) -> bool:
    """Keep a sent copy's id (the post in its group, or the worker's request in the
    supervisor's chat); False if withdrawn meanwhile: that copy must be deleted now."""
    post = team_post(tx, post_id)
    if post is None:
        return False
    if chat_id == post.supervisor_id:
        if post.state != "consented":
            return False
    elif post.state != "posted":
        return False
    tx.conn.execute(
        "INSERT OR IGNORE INTO team_post_messages (post_id, chat_id, message_id, sent_at)"
        " VALUES (?, ?, ?, ?)",
        (post_id, chat_id, message_id, iso(now)),
    )
    return True


# ---- groups nobody has registered (migrations/012_group_visits.sql) -----------------------


def visit_added(tx: Unit, chat_id: int, now: datetime, stranger: bool = False) -> None:
    """The bot was added to a group: the hour for someone to register it starts now.
    `stranger`: whoever added it is unknown here (migrations/019_fair_shares.sql)."""
    if chat_id < 0:
        tx.conn.execute(
            "INSERT INTO group_visits (chat_id, added_at, stranger) VALUES (?, ?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET stranger = excluded.stranger",
            (chat_id, iso(now), int(stranger)),
        )


def visit_stranger(tx: Unit, chat_id: int) -> bool:
    """Was the bot added to this group by someone unknown (and nobody has registered it)?"""
    row = tx.one("SELECT stranger FROM group_visits WHERE chat_id = ?", (chat_id,))
    return bool(row and row[0])


def visit_may_reply(tx: Unit, chat_id: int, now: datetime, every: timedelta) -> bool:
    """May the bot answer a /teamgroup it cannot act on here? Once per `every` a group;
    saying yes counts as the answer."""
    if chat_id >= 0:
        return False
    row = tx.one("SELECT replied_at FROM group_visits WHERE chat_id = ?", (chat_id,))
    if row is not None and row[0] is not None and row[0] > iso(now - every):
        return False
    tx.conn.execute(
        "INSERT INTO group_visits (chat_id, added_at, replied_at) VALUES (?, ?, ?)"
        " ON CONFLICT (chat_id) DO UPDATE SET replied_at = excluded.replied_at",
        (chat_id, iso(now), iso(now)),
    )
    return True


def visit_end(tx: Unit, chat_id: int) -> None:
    tx.conn.execute("DELETE FROM group_visits WHERE chat_id = ?", (chat_id,))


def visit_migrate(tx: Unit, old_chat: int, new_chat: int) -> None:
    tx.conn.execute(
        "UPDATE OR REPLACE group_visits SET chat_id = ? WHERE chat_id = ?", (new_chat, old_chat)
    )


def visits_unregistered(tx: Unit, before: datetime) -> list[int]:
    """Groups the bot was added to before `before` with no live registration; forgotten here
    (the bot leaves each once)."""
    rows = tx.conn.execute(
        "SELECT chat_id FROM group_visits WHERE added_at < ? AND NOT EXISTS"
        " (SELECT 1 FROM team_groups t WHERE t.chat_id = group_visits.chat_id"
        " AND t.ended_at IS NULL)",
        (iso(before),),
    ).fetchall()
    chats = [int(r[0]) for r in rows]
    tx.conn.executemany("DELETE FROM group_visits WHERE chat_id = ?", [(c,) for c in chats])
    return chats
