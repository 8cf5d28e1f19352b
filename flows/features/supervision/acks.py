"""Acknowledging a summary: under it, the supervisor can press "Thanks, I've read it" or "Let's
talk about it on <next session>". The worker is told in our own wording only (through the gate),
and /shared shows it. One answer per summary."""

from __future__ import annotations

from datetime import datetime

from flows.features.supervision import db as sup_db
from flows.features.supervision.extend import next_session
from flows.kernel import gate, render, when
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, msg, name_of
from flows.store.rows import at, iso
from flows.store.unit import Unit


def buttons(t: Turn, share_id: int, worker_id: int, supervisor_id: int) -> list[list[Button]]:
    """The two answers, under a summary not yet acknowledged (the second only while a session
    is planned: it names its date, in the supervisor's zone)."""
    if acknowledged(t.tx, share_id) is not None:
        return []
    rows = [[Button(render.to_plain(msg("button_ack_read")), f"ak:{share_id}:read")]]
    session = next_session(t, worker_id)
    if session is not None:
        local = when.to_local(session, t.tx.timezone_of(supervisor_id))
        label = render.to_plain(msg("button_ack_talk", day=local))
        rows.append([Button(label, f"ak:{share_id}:talk")])
    return rows


def acknowledged(tx: Unit, share_id: int) -> tuple[str, datetime | None] | None:
    """(kind, the session named) of the supervisor's answer, if they gave one."""
    row = tx.one("SELECT kind, talk_at FROM share_acks WHERE share_id = ?", (share_id,))
    return None if row is None else (str(row[0]), at(row[1]))


def press(t: Turn, share_id: int, kind: str) -> None:
    share = sup_db.share(t.tx, share_id)
    link = sup_db.link(t.tx, share.link_id) if share else None
    if (
        share is None
        or link is None
        or kind not in {"read", "talk"}
        or share.supervisor_id != t.person.id
    ):
        t.not_found()
        return
    t.out.clear_buttons = True
    if not link.active or not share.live(t.now):
        t.out.toast = msg("ack_over")
        return
    if acknowledged(t.tx, share.id) is not None:
        t.out.toast = msg("ack_already")
        return
    session = next_session(t, share.worker_id) if kind == "talk" else None
    if kind == "talk" and session is None:
        kind = "read"  # the session went meanwhile: the thanks still stands
    t.tx.conn.execute(
        "INSERT INTO share_acks (share_id, kind, talk_at, at) VALUES (?, ?, ?, ?)",
        (share.id, kind, None if session is None else iso(session), iso(t.now)),
    )
    sup_db.mark_seen(t.tx, share.id, t.now)
    worker_tz = t.tx.timezone_of(share.worker_id)
    html = msg(
        "ack_notice",
        name=name_of(t.tx, t.person.id),
        kind=kind,
        shared=when.to_local(share.created_at, worker_tz),
        day=None if session is None else when.to_local(session, worker_tz),
    )
    gate.send(t.tx, t.out, share.worker_id, [Reply(html)], gate.Acknowledgement(share.id), t.now)
    t.out.toast = msg("ack_sent", name=name_of(t.tx, share.worker_id))


def line(tx: Unit, share_id: int, supervisor_id: int, tz: str) -> str:
    """For /shared: how the supervisor answered, if they did."""
    found = acknowledged(tx, share_id)
    if found is None:
        return ""
    kind, day = found
    local = None if day is None else when.to_local(day, tz)
    return msg("ack_line", name=name_of(tx, supervisor_id), kind=kind, day=local)
