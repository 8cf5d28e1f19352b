"""The supervisor's side: the people they supervise (a list, then one screen per person), and the
summaries shared with them (everyone's, or one person's), each named by its first words.

Screens stay small however many people someone supervises: at most 8 buttons and about 1,000
characters each (tests/test_supervisees.py holds that with ten supervisees)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flows.features.supervision import acks, steps
from flows.features.supervision import db as sup_db
from flows.features.supervision.answers import shared_items, voice_replies
from flows.features.supervision.db import LinkRow, ShareRow
from flows.features.supervision.extend import person_buttons, person_lines
from flows.features.supervision.sharing import LIST_PAGE, share_label
from flows.kernel import gate, render
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, msg, name_of, wording
from flows.questions import answers as content

PEOPLE_PAGE = 6  # people per /supervisees screen: with "newer" and "older", 8 buttons at most
WORDS = 32  # characters of a summary's first words, on its button


def label(message: str, **context: Any) -> str:
    """A button's words: plain text (Telegram shows a label as it is, entities and all)."""
    return render.to_plain(msg(message, **context))


def _pages(data: Callable[[int], str], page: int, more: bool) -> list[list[Button]]:
    row = []
    if page > 0:
        row.append(Button(msg("button_newer"), data(page - 1)))
    if more:
        row.append(Button(msg("button_older"), data(page + 1)))
    return [row] if row else []


def supervised(t: Turn, link_id: int) -> LinkRow | None:
    """The link behind a supervisee button, while the presser supervises that person."""
    link = sup_db.link(t.tx, link_id)
    if link is None or not link.active or link.supervisor_id != t.person.id:
        return None
    return link


def supervisees(t: Turn, page: int = 0) -> None:
    links = sup_db.supervisee_links(t.tx, t.person.id)
    if not links:
        t.say(msg("supervisees_empty"))
        return
    if page == 0:
        # Someone who supervised before menus were per chat gets theirs on their first look.
        t.out.menus[t.person.id] = True
    start = page * PEOPLE_PAGE
    shown = links[start : start + PEOPLE_PAGE]
    if not shown:
        t.not_found()
        return
    people = []
    buttons = []
    for link in shown:
        name = name_of(t.tx, link.worker_id)
        new = sup_db.unseen_count(t.tx, link.id, t.now)
        people.append({"name": name, "since": t.when(link.created_at), "new": new})
        buttons.append([Button(label("button_person", name=name, new=new), f"sv:{link.id}")])
    buttons += _pages(lambda p: f"sv:p{p}", page, start + PEOPLE_PAGE < len(links))
    t.say(
        msg("supervisees", people=people, total=len(links), first=start + 1, paged=len(links) > 6),
        buttons,
    )


def person(t: Turn, link_id: int) -> None:
    """One person's screen: their next session, what is new, the agreed next steps, and what
    the supervisor can do about them."""
    link = supervised(t, link_id)
    if link is None:
        t.not_found()
        return
    name = name_of(t.tx, link.worker_id)
    new = sup_db.shares_for_supervisor(t.tx, t.person.id, t.now, 4, 0, link.id, unseen=True)
    count = sup_db.unseen_count(t.tx, link.id, t.now)
    text = msg(
        "person_screen",
        name=name,
        since=t.when(link.created_at),
        lines=[*person_lines(t, link), *steps.lines(t, link)],
        new=[{"what": share_label(t, s), "when": t.when(s.created_at)} for s in new],
        more=max(0, count - len(new)),
    )
    rows = [[Button(label("button_their_summaries", name=name, new=count), f"y:0:{link.id}")]]
    rows += person_buttons(t, link)
    rows.append([steps.ask_button(link)])
    rows.append([Button(label("button_coreflect_with", name=name), f"q:{link.id}")])
    rows.append(
        [
            Button(msg("button_everyone"), "sv:p0"),
            Button(label("button_unlink", name=name), f"n:{link.id}:ask"),
        ]
    )
    t.say(text, rows)


def first_words(t: Turn, share: ShareRow) -> str:
    """A line to recognise a summary by: the first words of what was shared in it (only the
    answers shared, read with the worker's key), or the kind of summary for a pack."""
    if share.kind == "pack" or not share.answers:
        return share_label(t, share)
    cipher = t.tx.cipher_of(share.worker_id)
    entry = t.tx.entry(share.worker_id, share.answers[0][0])
    if cipher is None or entry is None:
        return share_label(t, share)
    steps = {k for e, k in share.answers if e == entry.id}
    flow = wording().flows.get(entry.flow)
    every = content.collapse(flow, t.tx.answers(cipher, entry.id))
    words = " ".join(content.first_words(flow, {k: every[k] for k in every if k in steps}).split())
    if not words:
        return share_label(t, share)
    return words if len(words) <= WORDS else words[: WORDS - 1].rstrip() + "…"


def summaries(t: Turn, page: int, link_id: int | None = None) -> None:
    """Everyone's summaries, or (with `link_id`) one person's: newest first, new ones marked."""
    link = supervised(t, link_id) if link_id is not None else None
    if link_id is not None and link is None:
        t.not_found()
        return
    rows = sup_db.shares_for_supervisor(
        t.tx, t.person.id, t.now, LIST_PAGE + 1, page * LIST_PAGE, link_id
    )
    more, rows = len(rows) > LIST_PAGE, rows[:LIST_PAGE]
    name = name_of(t.tx, link.worker_id) if link else ""
    if not rows:
        t.say(msg("summaries_empty", page=page, name=name))
        return
    opened = sup_db.seen(t.tx, [s.id for s in rows])
    items = []
    buttons: list[list[Button]] = []
    for share in rows:
        words = first_words(t, share)
        item = {
            "name": "" if link else name_of(t.tx, share.worker_id),
            "words": words,
            "what": share_label(t, share),
            "when": t.when(share.created_at),
            "until": t.when(share.expires_at) if share.expires_at else "",
            "new": share.id not in opened,
        }
        items.append(item)
        buttons.append([Button(label("button_summary", **item), f"m:{share.id}")])
    buttons += _pages(lambda p: f"y:{p}:{link.id}" if link else f"y:{p}", page, more)
    if link:
        buttons.append([Button(label("button_back_to", name=name), f"sv:{link.id}")])
    elif len(sup_db.supervisee_links(t.tx, t.person.id)) > 1:
        buttons.append([Button(msg("button_one_person"), "sv:p0")])
    # The worker's words (the first few of each) go through the gate, protected, and this list
    # counts as a copy of every summary it names: withdrawing one deletes the list as well.
    list_id = sup_db.share_list_create(t.tx, t.person.id, [s.id for s in rows], t.now)
    html = msg("summaries_list", items=items, name=name)
    reply = Reply(html, buttons)
    gate.send(t.tx, t.out, t.person.id, [reply], gate.ShareList(list_id), t.now, asked=True)


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
    sup_db.mark_seen(t.tx, share.id, t.now)
    replies = [Reply(c) for c in body]
    if replies:
        replies[-1].buttons = acks.buttons(t, share.id, share.worker_id, t.person.id)
    replies += voice_replies(t, cipher, shared_items(t, share.worker_id, share.answers))
    gate.send(t.tx, t.out, t.person.id, replies, gate.Share(share.id), t.now, asked=True)
