"""Sharing with the supervisor: choose, preview (leave any answer out), share, withdraw.

The promise: a supervisor sees only what the worker chose to share, when they chose it, and
nothing after they withdraw it. Everything that reaches another person goes through
`flows.kernel.gate`; every button that names a share is checked against the person pressing."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from flows.features.journal.entry import section
from flows.features.supervision import acks, pack_pdf
from flows.features.supervision import db as sup_db
from flows.features.supervision.answers import Item, items_of, recordings_mark, voice_replies
from flows.features.supervision.db import LinkRow, ShareRow
from flows.features.supervision.extend import (
    share_menu_extras,
)
from flows.features.supervision.links import WRONG_CODE_WINDOW, end_link, notice
from flows.features.supervision.preview import EXPIRY_DAYS, page_reply, pages, private_items
from flows.kernel import gate, ids, render
from flows.kernel.model import Button, Outcome, Reply
from flows.kernel.turn import Turn, msg, name_of, title_of, wording
from flows.questions.sets import PROCTOR
from flows.store import audit
from flows.store.rows import EntryRow
from flows.store.unit import Unit

DELETE_WINDOW = timedelta(hours=48)  # Telegram lets a bot delete its messages for 48 hours

LIST_PAGE = 5

SHARE_LIMIT = 1000  # characters in one message of a summary, as sent: readable on a phone


def share_menu(t: Turn) -> None:
    link = sup_db.supervisor_link(t.tx, t.person.id)
    pack = pack_entries(t)
    if link is None:
        # A supervisor who isn't on CoReflect can still be brought the pack, printed.
        rows = [[Button(msg("button_pack_pdf_only"), "h:kp")]] if pack else []
        t.say(msg("share_no_supervisor", pack=len(pack)), rows)
        return
    # The pack is offered only while something is marked for it (else it leads nowhere).
    packs = [[Button(msg("button_share_pack", count=len(pack)), "h:k")]] if pack else []
    t.say(
        msg("share_what", name=name_of(t.tx, link.supervisor_id), pack=bool(pack)),
        [
            [Button(msg("button_share_entry"), "h:le:0")],
            [Button(msg("button_share_episode"), "h:lp:0")],
            *packs,
            *share_menu_extras(t, link),
        ],
    )


def share_pick(t: Turn, what: str, tail: str) -> None:
    found = ids.number(tail)
    number = found or 0
    if what in {"le", "lp", "e", "p"} and found is None:
        t.not_found()
    elif what == "le":
        pick_list(t, "entry", number)
    elif what == "lp":
        pick_list(t, "episode", number)
    elif what == "e":
        entry = t.tx.entry(t.person.id, number)
        if entry is None or entry.status == "in_progress":
            t.not_found()
            return
        preview(t, "entry", entry.id, [entry])
    elif what == "p":
        episode = episode_of(t, number)
        if not episode:
            t.not_found()
            return
        preview(t, "episode", number, episode)
    elif what == "k":
        pack = pack_entries(t)
        if not pack:
            t.say(msg("pack_empty"))
            return
        preview(t, "pack", None, pack)
    elif what == "kp":
        pack = pack_entries(t)
        if not pack:
            t.say(msg("pack_empty"))
            return
        preview(t, "pack", None, pack, pdf_only=True)
    else:
        t.not_found()


def pick_list(t: Turn, what: str, page: int) -> None:
    """Recent entries (or sharing episodes), newest first, to choose one to share: each
    recognisable by its date and first words, as /entries shows them."""
    start = page * LIST_PAGE
    found: list[tuple[dict[str, Any], str]]
    if what == "entry":
        rows = t.tx.entries(t.person.id, limit=LIST_PAGE + 1, offset=start)
        found = [(t.recognisable(e), f"h:e:{e.id}") for e in rows]
    else:
        # An episode is listed by its newest entry; only episodes of two or more entries.
        seen: dict[int, list[EntryRow]] = {}
        for e in t.tx.entries(t.person.id, limit=200):
            seen.setdefault(e.episode_id, []).append(e)
        groups = [g for g in seen.values() if len(g) > 1][start : start + LIST_PAGE + 1]
        found = [(episode_item(t, g), f"h:p:{g[0].episode_id}") for g in groups]
    more, found = len(found) > LIST_PAGE, found[:LIST_PAGE]
    if not found:
        t.say(msg("share_nothing", what=what))
        return
    heading = msg("share_pick_entry" if what == "entry" else "share_pick_episode")
    text, rows_ = t.picker(heading, found, start=start + 1)
    paging = []
    if page > 0:
        paging.append(Button(msg("button_newer"), f"h:l{what[0]}:{page - 1}"))
    if more:
        paging.append(Button(msg("button_older"), f"h:l{what[0]}:{page + 1}"))
    if paging:
        rows_.append(paging)
    t.say(text, rows_)


def episode_item(t: Turn, group: list[EntryRow]) -> dict[str, Any]:
    """An episode in a picker: its sets in order, the dates it spans, its first words."""
    oldest_first = sorted(group, key=lambda e: (e.created_at, e.id))
    items = [t.recognisable(e) for e in oldest_first]
    first, last = oldest_first[0], oldest_first[-1]
    span = t.when(first.created_at)
    if first.created_at.date() != last.created_at.date():
        span += " – " + t.when(last.created_at)
    return {
        "when": span,
        "title": " → ".join(title_of(e.flow) for e in oldest_first),
        "with": next((i["with"] for i in items if i["with"]), ""),
        "first_words": next((i["first_words"] for i in items if i["first_words"]), ""),
    }


def episode_of(t: Turn, episode_id: int) -> list[EntryRow]:
    rows = t.tx.entries(t.person.id, limit=20, episode_id=episode_id)
    return sorted(rows, key=lambda e: (e.created_at, e.id))


def pack_entries(t: Turn) -> list[EntryRow]:
    """Everything flagged "Bring to supervision" since the last pack they shared."""
    since = sup_db.last_pack_at(t.tx, t.person.id)
    rows = t.tx.entries(t.person.id, limit=200, flagged=True, flagged_since=since)
    return sorted(rows, key=lambda e: (e.created_at, e.id))


def summary_blocks(
    t: Turn, kind: str, items: list[Item], left_out: set[int], name: str
) -> list[str]:
    """The summary as the supervisor would receive it, as HTML blocks (a heading, then one per
    entry), from the template in prompts/."""
    macros = wording().share_template.module
    numbered = list(enumerate(items, start=1))
    groups: list[tuple[str | None, list[EntryRow]]]
    entries = list({i.entry.id: i.entry for i in items}.values())
    if kind == "pack":
        groups = [(msg(f"proctor_{s}"), [e for e in entries if section(e) == s]) for s in PROCTOR]
    else:
        groups = [(None, entries)]
    blocks = [
        str(
            macros.heading(  # type: ignore[attr-defined]
                name=name, kind=kind, when=t.when(t.now), preview=False
            )
        )
    ]
    for title, group in groups:
        if title is not None:
            blocks.append(str(macros.section(title=title, empty=not group)))  # type: ignore[attr-defined]
        for entry in group:
            answers = [
                {"number": n, "label": i.label, "text": i.text, "left_out": False}
                for n, i in numbered
                if i.entry.id == entry.id and n - 1 not in left_out
            ]
            if not answers:
                continue
            blocks.append(
                str(
                    macros.entry(  # type: ignore[attr-defined]
                        title=title_of(entry.flow),
                        when=t.when(entry.created_at),
                        answers=answers,
                        preview=False,
                    )
                )
            )
    return blocks


def preview(
    t: Turn,
    kind: str,
    subject: int | None,
    entries: list[EntryRow],
    pdf_only: bool = False,
) -> None:
    """The preview: a heading, one message per entry with a "Leave out" button per answer,
    then the controls (see `preview.py`). `pdf_only`: the pack, to be printed rather than
    shared (no supervisor is linked), so it offers only the PDF."""
    link = None if pdf_only else sup_db.supervisor_link(t.tx, t.person.id)
    if link is None and not pdf_only:
        t.say(msg("share_no_supervisor", pack=0))
        return
    items = items_of(t, entries)
    if not items:
        t.say(msg("share_nothing", what="entry"))
        return
    left_out = private_items(items)
    t.conv.pending = {
        "kind": "share_preview",
        "what": kind,
        "subject": subject,
        # consent is to this supervisor: another link needs a new preview
        "link": link.id if link else None,
        "entries": [e.id for e in entries],
        "out": left_out,
        "expiry": 0,
        "pdf_only": pdf_only,
    }
    t.conv.turn += 1  # this preview's buttons: all live together, until it is closed
    heading = wording().share_template.module.heading(  # type: ignore[attr-defined]
        name=t.row.name, kind=kind, when=t.when(t.now), preview=True
    )
    t.say(msg("pack_pdf_preview") if pdf_only else str(heading))
    found, after = pages(t, kind, items)
    for page in found:
        reply = page_reply(t, page, items, set(left_out), t.conv.turn)
        t.out.replies.append(reply)
    text, rows = controls(t, items, link)
    t.say(f"{after}\n\n{text}" if after else text, rows)


def controls(t: Turn, items: list[Item], link: LinkRow | None) -> tuple[str, list[list[Button]]]:
    """The last message of a preview: how long, share, keep private (or, to print, the PDF)."""
    pending = t.conv.pending or {}
    left_out = set(pending.get("out", []))
    turn = t.conv.turn
    pending["digest"] = digest(t, str(pending.get("what")), items, left_out)
    rows: list[list[Button]] = []
    if link is None:
        rows.append([Button(msg("button_pack_pdf"), f"p:{turn}:pdf")])
        rows.append([Button(msg("button_pack_pdf_close"), f"p:{turn}:keep")])
        return msg("pack_pdf_controls"), rows
    name = name_of(t.tx, link.supervisor_id)
    days = int(pending.get("expiry", 0))
    for choice in EXPIRY_DAYS:
        label = msg("button_expiry", days=choice, chosen=choice == days)
        rows.append([Button(label, f"p:{turn}:x{choice}")])
    rows.append([Button(render.to_plain(msg("button_share_with", name=name)), f"p:{turn}:send")])
    if pending.get("what") == "pack":
        rows.append([Button(msg("button_pack_pdf"), f"p:{turn}:pdf")])
    rows.append([Button(msg("button_keep_private"), f"p:{turn}:keep")])
    return msg("share_controls", name=name, days=days), rows


def digest(t: Turn, kind: str, items: list[Item], left_out: set[int]) -> str:
    """A fingerprint of exactly what would be sent: the press shares this text or nothing.
    (The heading, with today's date, is left out, so a preview does not go stale.)"""
    blocks = summary_blocks(t, kind, items, left_out, t.row.name)[1:]
    blocks.append(recordings_mark(t, [i for n, i in enumerate(items) if n not in left_out]))
    return hashlib.sha256("\n".join(blocks).encode("utf-8")).hexdigest()


def preview_entries(t: Turn) -> list[EntryRow] | None:
    pending = t.conv.pending or {}
    found = [t.tx.entry(t.person.id, int(i)) for i in pending.get("entries", [])]
    if any(e is None for e in found):
        return None
    return [e for e in found if e is not None]


def preview_button(t: Turn, value: str) -> None:
    pending = t.conv.pending or {}
    pdf_only = bool(pending.get("pdf_only"))
    link = None if pdf_only else sup_db.supervisor_link(t.tx, t.person.id)
    entries = preview_entries(t)
    if (link is None and not pdf_only) or entries is None:
        t.conv.pending = None
        t.out.clear_buttons = True
        t.say(msg("share_changed" if link or pdf_only else "share_no_supervisor", pack=0))
        return
    items = items_of(t, entries)
    left_out = {int(n) for n in pending.get("out", [])}
    toggle = ids.number(value[1:], 3) if value.startswith("t") else None
    if value == "keep":
        t.conv.pending = None
        t.out.replace = Reply(msg("pack_pdf_closed" if pdf_only else "share_kept_private"))
        return
    if value == "pdf" and pending.get("what") == "pack":
        send_pack_pdf(t, items, left_out)
        return
    if link is None:
        if toggle is None:
            t.not_found()  # a preview for printing has only its toggles and the PDF
            t.out.clear_buttons = False
            return
    elif link.id != pending.get("link"):
        # The preview named someone else (unlinked and linked again since): start afresh.
        t.out.clear_buttons = True
        t.say(msg("share_changed"))
        preview(t, str(pending.get("what")), pending.get("subject"), entries)
        return
    if toggle is not None:
        toggled(t, items, left_out, toggle)
        return
    if value.startswith("x"):
        days = int(pending.get("expiry", 0))
        chosen = ids.number(value[1:], 2) if value != "x" else None
        if chosen in EXPIRY_DAYS:
            pending["expiry"] = chosen
        elif value == "x":  # an older preview's one button: the next choice round
            pending["expiry"] = EXPIRY_DAYS[(EXPIRY_DAYS.index(days) + 1) % len(EXPIRY_DAYS)]
        else:
            t.not_found()
            t.out.clear_buttons = False
            return
    elif value == "send" and link is not None:
        send_share(t, link, items, left_out)
        return
    else:
        t.not_found()
        t.out.clear_buttons = False
        return
    t.conv.pending = pending
    text, rows = controls(t, items, link)
    t.out.replace = Reply(text, rows)


def toggled(t: Turn, items: list[Item], left_out: set[int], n: int) -> None:
    """An answer left out or put back: its own message shows it, the rest stay as they are."""
    pending = t.conv.pending or {}
    found, _ = pages(t, str(pending.get("what")), items)
    page = next((p for p in found if n in p.numbers), None)
    if page is None:
        t.not_found()
        t.out.clear_buttons = False
        return
    left_out ^= {n}
    pending["out"] = sorted(left_out)
    pending["digest"] = digest(t, str(pending.get("what")), items, left_out)
    t.conv.pending = pending
    t.out.toast = msg("share_left_out" if n in left_out else "share_put_back")
    t.out.replace = page_reply(t, page, items, left_out, t.conv.turn)


def send_share(t: Turn, link: LinkRow, items: list[Item], left_out: set[int]) -> None:
    pending = t.conv.pending or {}
    kept = [i for n, i in enumerate(items) if n not in left_out]
    if not kept:
        t.out.toast = msg("share_none_left")
        return
    if digest(t, str(pending["what"]), items, left_out) != pending.get("digest"):
        # Something changed since the preview (an answer edited meanwhile): show it again.
        kind, subject = str(pending["what"]), pending.get("subject")
        t.out.clear_buttons = True
        t.say(msg("share_changed"))
        entries = preview_entries(t) or []
        preview(t, kind, subject, entries)
        return
    days = int(pending.get("expiry", 0))
    name = name_of(t.tx, link.supervisor_id)
    blocks = summary_blocks(t, str(pending["what"]), items, left_out, t.row.name)
    body = render.pack(blocks, SHARE_LIMIT)
    share_id = sup_db.share_create(
        t.tx,
        link,
        str(pending["what"]),
        pending.get("subject"),
        [(i.entry.id, i.key) for i in kept],
        t.now,
        t.now + timedelta(days=days) if days else None,
        t.row.cipher,
        body,
    )
    audit.record(t.tx, "shared", t.person.id, link.supervisor_id, str(pending["what"]))
    replies = [Reply(chunk) for chunk in body]
    replies[-1].buttons = acks.buttons(t, share_id, link.worker_id, link.supervisor_id)
    replies += voice_replies(t, t.row.cipher, kept)  # each recording after the summary
    gate.send(t.tx, t.out, link.supervisor_id, replies, gate.Share(share_id), t.now)
    t.conv.pending = None
    t.out.replace = Reply(msg("share_sent", name=name, days=days))


def send_pack_pdf(t: Turn, items: list[Item], left_out: set[int]) -> None:
    """The pack as previewed, less what was left out, as a PDF for the worker alone: made in
    memory after this transaction and never stored. The preview stays open."""
    pending = t.conv.pending or {}
    kept = [(n, i) for n, i in enumerate(items) if n not in left_out]
    if not kept:
        t.out.toast = msg("share_none_left")
        return
    if digest(t, "pack", items, left_out) != pending.get("digest"):
        t.out.clear_buttons = True
        t.say(msg("share_changed"))
        pdf_only = bool(pending.get("pdf_only"))
        preview(t, "pack", None, preview_entries(t) or [], pdf_only=pdf_only)
        return
    t.out.documents.append(pack_pdf.document(t, [i for _, i in kept]))
    t.out.toast = msg("pack_pdf_ready")
    t.out.clear_buttons = False  # the preview stays open: share, or keep it private


def shared(t: Turn, page: int, team: bool = False) -> None:
    rows = sup_db.shares_by_worker(t.tx, t.person.id, LIST_PAGE + 1, page * LIST_PAGE)
    more, rows = len(rows) > LIST_PAGE, rows[:LIST_PAGE]
    if not rows:
        if not team:  # team posts (listed already) are something shared too
            t.say(msg("shared_empty"))
        return
    items = []
    buttons: list[list[Button]] = []
    for number, share in enumerate(rows, start=page * LIST_PAGE + 1):
        live = share.live(t.now)
        items.append(
            {
                "number": number,
                "what": share_label(t, share),
                "name": name_of(t.tx, share.supervisor_id),
                "when": t.when(share.created_at),
                "live": live,
                "ended": share.ended or ("expired" if not live else None),
                "until": t.when(share.expires_at) if share.expires_at else "",
                "ack": acks.line(t.tx, share.id, share.supervisor_id, t.row.timezone),
            }
        )
        if live:
            label = msg("button_withdraw", number=number)
            buttons.append([Button(label, f"w:{share.id}:ask")])
    buttons += paging("d", page, more)
    t.say(msg("shared_list", items=items), buttons)


def share_label(t: Turn, share: ShareRow) -> str:
    if share.kind == "pack":
        return msg("button_share_pack", count=len({e for e, _ in share.answers}))
    entry = t.tx.entry(share.worker_id, share.answers[0][0]) if share.answers else None
    title = title_of(entry.flow) if entry else ""
    return title + (" · " + msg("button_share_episode") if share.kind == "episode" else "")


def paging(kind: str, page: int, more: bool) -> list[list[Button]]:
    row = []
    if page > 0:
        row.append(Button(msg("button_newer"), f"{kind}:{page - 1}"))
    if more:
        row.append(Button(msg("button_older"), f"{kind}:{page + 1}"))
    return [row] if row else []


def withdraw(t: Turn, share_id: int, stage: str) -> None:
    share = sup_db.share(t.tx, share_id)
    if share is None or share.worker_id != t.person.id:
        t.not_found()
        return
    if not share.live(t.now):
        t.out.clear_buttons = True
        t.out.toast = msg("already_over")
        return
    name = name_of(t.tx, share.supervisor_id)
    if stage == "ask":
        t.say(
            msg("withdraw_confirm", name=name, when=t.when(share.created_at)),
            [
                [Button(msg("button_withdraw_yes"), f"w:{share.id}:yes")],
                [Button(msg("button_keep_shared"), f"w:{share.id}:no")],
            ],
        )
        return
    t.out.clear_buttons = True
    if stage != "yes":
        t.out.toast = msg("kept_toast")
        return
    # No "are you sure?" is needed first: a "Withdraw it" pressed long after it was offered
    # still withdraws, as taking back what they shared is never made harder than sharing it.
    kept = end_share(t.tx, t.out, share, "withdrawn", t.now)
    t.say(msg("withdrawn", name=name, kept=kept))


def end_share(
    tx: Unit, out: Outcome, share: ShareRow, event: str, now: datetime, tell: bool = True
) -> int:
    """Withdrawn or expired: a new log row, the text deleted, the supervisor's copies
    deleted where Telegram still allows it, and the supervisor told (unless `tell` is False:
    the caller tells them once for many). Returns how many copies were too old to delete."""
    copies = sup_db.share_end(tx, share.id, event, now)
    action = "share_withdrawn" if event == "withdrawn" else f"share_{event}"
    audit.record(tx, action, share.worker_id, share.supervisor_id, share.kind)
    out.scrub = True  # the text is deleted: no copy left in the WAL either
    kept = 0
    for chat_id, message_id, sent_at in copies:
        if now - sent_at < DELETE_WINDOW:
            removal = Reply("", delete_message=message_id)
            gate.send(tx, out, chat_id, [removal], gate.Removal(share.id), now)
        else:
            kept += 1
    if not tell:
        return kept
    notice(
        tx,
        out,
        share.link_id,
        share.supervisor_id,
        "share_ended_notice",
        now,
        share.worker_id,
        event=event,
        kept=kept,
        when=share.created_at.strftime("%-d %b"),
    )
    return kept


def sweep(tx: Unit, out: Outcome, now: datetime) -> None:
    for share_id in sup_db.shares_due(tx, now):
        share = sup_db.share(tx, share_id)
        if share is not None:
            end_share(tx, out, share, "expired", now)
    sup_db.prune_wrong_codes(tx, now - WRONG_CODE_WINDOW)


def unlink(t: Turn, link_id: int, stage: str) -> None:
    """Either side ends a link, after an "are you sure?". What the worker shared that is still
    live is withdrawn with it, like a withdrawal (their copies deleted where Telegram allows),
    unless the worker chooses to leave it with the supervisor; the other side is told which."""
    link = sup_db.link(t.tx, link_id)
    if link is None or not link.active or not link.has(t.person.id):
        t.not_found()
        return
    other = link.other(t.person.id)
    name = name_of(t.tx, other)
    worker = t.person.id == link.worker_id
    live = [
        share
        for share in sup_db.shares_by_worker(t.tx, link.worker_id, -1, 0)
        if share.link_id == link.id and share.live(t.now)
    ]
    if stage == "ask" or (stage in {"yes", "leave"} and not t.confirmed(f"n:{link.id}")):
        t.asking_to_confirm(f"n:{link.id}")
        offer = worker and bool(live)  # the worker chooses; withdrawing is the default
        rows = [
            [
                Button(
                    msg("button_unlink_withdraw" if offer else "button_unlink_yes"),
                    f"n:{link.id}:yes",
                )
            ]
        ]
        if offer:
            rows.append([Button(msg("button_unlink_leave", name=name), f"n:{link.id}:leave")])
        rows.append([Button(msg("button_keep_link"), f"n:{link.id}:no")])
        t.say(msg("unlink_confirm", name=name, worker=worker, live=len(live)), rows)
        return
    t.out.clear_buttons = True
    if stage not in {"yes", "leave"}:
        t.confirmed(f"n:{link.id}")  # no longer waiting on it
        t.out.toast = msg("link_kept")
        return
    left = len(live) if worker and stage == "leave" else 0
    withdrawn = 0 if left else len(live)
    kept = sum(end_share(t.tx, t.out, s, "withdrawn", t.now, tell=False) for s in live[:withdrawn])
    context = {"withdrawn": withdrawn, "kept": kept, "left": left, "worker": worker}
    end_link(t.tx, t.out, link, t.person.id, t.now, "unlinked_other", **context)
    t.say(msg("unlinked", name=name, **context))
