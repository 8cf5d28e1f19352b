"""The supervisor's side: the people they supervise, and the summaries shared with them."""

from __future__ import annotations

from flows.features.supervision import db as sup_db
from flows.features.supervision.sharing import LIST_PAGE, paging, share_label
from flows.kernel import gate
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, msg, name_of


def supervisees(t: Turn) -> None:
    links = sup_db.supervisee_links(t.tx, t.person.id)
    if not links:
        t.say(msg("supervisees_empty"))
        return
    people = []
    buttons = []
    for link in links:
        name = name_of(t.tx, link.worker_id)
        people.append({"name": name, "since": t.when(link.created_at)})
        buttons.append([Button(msg("button_coreflect_with", name=name), f"q:{link.id}")])
    t.say(msg("supervisees", people=people), buttons)


def summaries(t: Turn, page: int) -> None:
    rows = sup_db.shares_for_supervisor(t.tx, t.person.id, t.now, LIST_PAGE + 1, page * LIST_PAGE)
    more, rows = len(rows) > LIST_PAGE, rows[:LIST_PAGE]
    if not rows:
        t.say(msg("summaries_empty", page=page))
        return
    items = [
        {
            "number": number,
            "name": name_of(t.tx, share.worker_id),
            "what": share_label(t, share),
            "when": t.when(share.created_at),
            "until": t.when(share.expires_at) if share.expires_at else "",
        }
        for number, share in enumerate(rows, start=page * LIST_PAGE + 1)
    ]
    numbers = [Button(str(i["number"]), f"m:{s.id}") for i, s in zip(items, rows, strict=True)]
    buttons = [numbers]
    buttons += paging("y", page, more)
    t.say(msg("summaries_list", items=items), buttons)


def open_summary(t: Turn, share_id: int) -> None:
    share = sup_db.share(t.tx, share_id)
    link = sup_db.link(t.tx, share.link_id) if share else None
    cipher = t.tx.cipher_of(share.worker_id) if share else None
    if (
        share is None
        or link is None
        or cipher is None
        or share.supervisor_id != t.person.id
        or not link.active
        or not share.live(t.now)
    ):
        t.not_found()
        return
    body = sup_db.share_body(t.tx, cipher, share.id) or []
    gate.send(t.tx, t.out, t.person.id, [Reply(c) for c in body], gate.Share(share.id), t.now)
