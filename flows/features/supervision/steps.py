"""Agreed next steps: what a worker and their supervisor agreed in supervision, carried forward.

Either person writes a step; it is agreed once the other confirms it ("Yes, that's what we
agreed"), or they say "Not quite" and write it as they remember it, which goes back for the
first person to confirm. The words are the worker's record: encrypted with the worker's key,
part of their /export, gone with /forget. The supervisor sees them only while the link is
active. Everything that reaches the other person goes through the gate (StepProposal,
StepConfirmation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.features.supervision import db as sup_db
from flows.features.supervision.db import LinkRow
from flows.kernel import gate, ids, render
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, msg, name_of
from flows.store.rows import at, iso
from flows.store.unit import Unit

MOST = 5  # agreed steps shown at once: the newest
LONGEST = 300  # characters of one step


@dataclass(frozen=True, slots=True)
class StepRow:
    id: int
    link_id: int
    worker_id: int
    proposed_by: int
    text: str
    state: str  # 'proposed', 'agreed', 'done'
    created_at: datetime
    done_at: datetime | None


def _aad(step_id: int) -> bytes:
    return b"agreed-step:%d" % step_id


def _rows(tx: Unit, where: str, args: tuple[object, ...]) -> list[StepRow]:
    found = []
    for r in tx.named(
        "SELECT id, link_id, worker_id, proposed_by, body, state, created_at, done_at"
        f" FROM agreed_steps WHERE {where} ORDER BY created_at DESC, id DESC",
        args,
    ):
        cipher = tx.cipher_of(r["worker_id"])
        if cipher is None:
            continue
        text = cipher.open(r["body"], _aad(r["id"])).decode("utf-8")
        found.append(
            StepRow(
                r["id"],
                r["link_id"],
                r["worker_id"],
                r["proposed_by"],
                text,
                r["state"],
                datetime.fromisoformat(r["created_at"]),
                at(r["done_at"]),
            )
        )
    return found


def step(tx: Unit, step_id: int) -> StepRow | None:
    found = _rows(tx, "id = ?", (step_id,))
    return found[0] if found else None


def agreed(tx: Unit, link_id: int) -> list[StepRow]:
    """Agreed steps over this link not yet done, newest first."""
    return _rows(tx, "link_id = ? AND state = 'agreed'", (link_id,))[:MOST]


def of_worker(tx: Unit, worker_id: int) -> list[StepRow]:
    """Every step in the worker's record (for /export)."""
    return _rows(tx, "worker_id = ?", (worker_id,))


def _write(tx: Unit, link: LinkRow, by: int, text: str, now: datetime) -> int:
    row = tx.one(
        "INSERT INTO agreed_steps (link_id, worker_id, proposed_by, body, created_at)"
        " VALUES (?, ?, ?, x'', ?) RETURNING id",
        (link.id, link.worker_id, by, iso(now)),
    )
    step_id = int(row[0])
    _seal(tx, step_id, link.worker_id, text)
    return step_id


def _seal(tx: Unit, step_id: int, worker_id: int, text: str) -> None:
    cipher = tx.cipher_of(worker_id)
    assert cipher is not None
    sealed = cipher.seal(text.encode("utf-8"), _aad(step_id))
    tx.conn.execute("UPDATE agreed_steps SET body = ? WHERE id = ?", (sealed, step_id))


def lines(t: Turn, link: LinkRow) -> list[str]:
    """The agreed steps, as lines for a screen or a reminder (empty if there are none)."""
    found = agreed(t.tx, link.id)
    return [msg("steps_agreed", steps=[s.text for s in found])] if found else []


def ask_button(link: LinkRow) -> Button:
    return Button(msg("button_write_step"), f"st:new:{link.id}")


# ---- the buttons -----------------------------------------------------------------------------


def button(t: Turn, head: str, tail: str) -> None:
    """st:new:<link> (write a step), st:<id>:yes|edit|done|going."""
    if head == "new":
        link_id = ids.number(tail)
        link = sup_db.link(t.tx, link_id) if link_id is not None else None
        if link is None or not link.active or not link.has(t.person.id):
            t.not_found()
            return
        t.conv.pending = {"kind": "step_text", "link": link.id}
        t.say(msg("step_ask", name=name_of(t.tx, link.other(t.person.id))))
        return
    step_id = ids.number(head)
    found = step(t.tx, step_id) if step_id is not None else None
    link = sup_db.link(t.tx, found.link_id) if found else None
    if found is None or link is None or not link.has(t.person.id):
        t.not_found()
        return
    if not link.active:
        t.out.clear_buttons = True
        t.out.toast = msg("step_link_over")
    elif tail == "done" and t.person.id == found.worker_id and found.state == "agreed":
        t.tx.conn.execute(
            "UPDATE agreed_steps SET state = 'done', done_at = ? WHERE id = ?",
            (iso(t.now), found.id),
        )
        t.out.toast = msg("step_done")
    elif tail == "going" and t.person.id == found.worker_id and found.state == "agreed":
        t.out.toast = msg("step_going")
    elif tail in {"yes", "edit"} and found.state == "proposed" and t.person.id != found.proposed_by:
        t.out.clear_buttons = True
        if tail == "yes":
            confirm(t, found, link)
        else:
            t.conv.pending = {"kind": "step_text", "link": link.id, "step": found.id}
            t.say(msg("step_rewrite", text=found.text))
    else:
        t.out.toast = msg("step_settled")


def typed(t: Turn, text: str) -> None:
    """The words of a step (new, or as this person remembers it)."""
    pending = t.conv.pending or {}
    t.conv.pending = None
    link = sup_db.link(t.tx, int(pending.get("link", 0)))
    words = " ".join(text.split())[:LONGEST]
    if link is None or not link.active or not link.has(t.person.id) or not words:
        t.say(msg("step_link_over"))
        return
    if pending.get("step"):
        found = step(t.tx, int(pending["step"]))
        if found is None or found.state != "proposed" or found.link_id != link.id:
            t.say(msg("step_settled"))
            return
        _seal(t.tx, found.id, link.worker_id, words)
        t.tx.conn.execute(
            "UPDATE agreed_steps SET proposed_by = ? WHERE id = ?", (t.person.id, found.id)
        )
        step_id = found.id
    else:
        step_id = _write(t.tx, link, t.person.id, words, t.now)
    other = link.other(t.person.id)
    html = msg("step_proposed", name=name_of(t.tx, t.person.id), text=words)
    rows = [
        [Button(render.to_plain(msg("button_step_yes")), f"st:{step_id}:yes")],
        [Button(render.to_plain(msg("button_step_not_quite")), f"st:{step_id}:edit")],
    ]
    gate.send(t.tx, t.out, other, [Reply(html, rows)], gate.StepProposal(step_id), t.now)
    t.say(msg("step_sent", name=name_of(t.tx, other)))


def confirm(t: Turn, found: StepRow, link: LinkRow) -> None:
    t.tx.conn.execute(
        "UPDATE agreed_steps SET state = 'agreed', agreed_at = ? WHERE id = ?",
        (iso(t.now), found.id),
    )
    html = msg("step_confirmed", name=name_of(t.tx, t.person.id), text=found.text)
    gate.send(t.tx, t.out, found.proposed_by, [Reply(html)], gate.StepConfirmation(found.id), t.now)
    t.say(msg("step_agreed", text=found.text))


def done_buttons(t: Turn, link: LinkRow) -> list[list[Button]]:
    """For the worker: mark an agreed step done (the newest three)."""
    return [
        [Button(render.to_plain(msg("button_step_done", text=s.text[:28])), f"st:{s.id}:done")]
        for s in agreed(t.tx, link.id)[:3]
    ]
