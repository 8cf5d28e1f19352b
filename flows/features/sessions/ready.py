"""Getting ready for supervision: the reminder's main button ("Get ready"; the older "Prepare
now" buttons already in chats come here too). A short set: the next steps agreed last time
(Done / Still working on it), the entries marked to bring, and "Anything else you'd like to
bring?", whose answer is filed into the supervision pack. /prepare keeps its own meaning."""

from __future__ import annotations

from flows.features.supervision import db as sup_db
from flows.features.supervision import sharing, steps
from flows.kernel import render
from flows.kernel.model import Button
from flows.kernel.turn import Turn, msg, name_of, wording
from flows.questions.runner import refresh_search, save_typed

JOURNAL = "journal"  # what they add is kept as a journal note, marked to bring
STEPS_SHOWN = 3  # with Done and Still working on it: six buttons at most
PACK_SHOWN = 5


def get_ready(t: Turn) -> None:
    link = sup_db.supervisor_link(t.tx, t.person.id)
    agreed = steps.agreed(t.tx, link.id)[:STEPS_SHOWN] if link else []
    pack = sharing.pack_entries(t)
    rows = [
        [
            Button(render.to_plain(msg("button_step_done", text=s.text[:24])), f"st:{s.id}:done"),
            Button(msg("button_step_going"), f"st:{s.id}:going"),
        ]
        for s in agreed
    ]
    t.say(
        msg(
            "ready_intro",
            steps=[s.text for s in agreed],
            pack=[t.entry_label(e) for e in pack[:PACK_SHOWN]],
            more=max(0, len(pack) - PACK_SHOWN),
            name=name_of(t.tx, link.supervisor_id) if link else "",
        ),
        rows,
    )
    t.conv.pending = {"kind": "ready_text"}
    t.conv.turn += 1
    t.say(msg("ready_ask"), [[Button(msg("button_nothing_else"), f"gr:{t.conv.turn}:none")]])


def typed(t: Turn, text: str) -> None:
    """Their answer to "Anything else you'd like to bring?": a note, marked to bring."""
    t.conv.pending = None
    words = text.strip()
    if not words:
        t.say(msg("empty_answer"))
        return
    entry_id = t.tx.create_entry(t.person.id, JOURNAL, None)
    save_typed(t, entry_id, f"{wording().flows[JOURNAL].first}.1", words)
    t.tx.set_entry_status(entry_id, "saved")
    refresh_search(t, entry_id, JOURNAL)
    t.tx.set_flag(entry_id, True)
    finished(t, filed=True)


def button(t: Turn, value: str) -> None:
    """gr:<turn>:none: nothing else to bring."""
    if value != "none" or (t.conv.pending or {}).get("kind") != "ready_text":
        t.stale()
        return
    t.conv.pending = None
    finished(t, filed=False)


def finished(t: Turn, filed: bool) -> None:
    link = sup_db.supervisor_link(t.tx, t.person.id)
    count = len(sharing.pack_entries(t))
    rows = [[Button(msg("button_share_pack_now"), "h:k")]] if link and count else []
    name = name_of(t.tx, link.supervisor_id) if link else ""
    t.say(msg("ready_done", filed=filed, count=count, name=name), rows)
