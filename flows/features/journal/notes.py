"""Words sent outside a question set. Longer writing is kept as a note straight away; a few stray
words ("hi", "ok thanks") are held and asked about once: Keep as a note, or No, thanks.

With tidy chat on, a note's messages leave the chat once it is kept (flows.questions.tidy).

Held words are never lost while the question waits: they sit in the journal as a draft (so
/entries, /export and an edited message all still see them) until a button settles them. More
words typed while the question waits join them and are kept, together, as a note."""

from __future__ import annotations

from flows.kernel import render
from flows.kernel.ids import number
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, msg, title_of, wording
from flows.questions import answers as content
from flows.questions import tidy
from flows.questions.check import warn
from flows.questions.runner import refresh_search, save_typed

JOURNAL = "journal"  # the free-entry question set; loose messages become journal entries too
SHORT_WORDS = 3  # at most this many words, and
SHORT_CHARS = 30  # fewer characters than this, is a few stray words: ask before keeping


def is_short(text: str) -> bool:
    words = text.split()
    return len(words) <= SHORT_WORDS and len(" ".join(words)) < SHORT_CHARS


def note(t: Turn, text: str) -> None:
    """Words sent outside a question set: kept as a note, or (a few words) asked about first."""
    if not text.strip():
        t.say(msg("empty_answer"))
        return
    entry_id = t.tx.create_entry(t.person.id, JOURNAL, None)
    key = f"{wording().flows[JOURNAL].first}.1"
    save_typed(t, entry_id, key, text.strip())
    if is_short(text):
        t.tx.set_entry_status(entry_id, "draft")  # held, not lost, until they choose
        refresh_search(t, entry_id, JOURNAL)
        t.conv.pending = {"kind": "stray", "entry": entry_id}
        t.say(
            msg("stray_ask", words=render.shorten(text, 60)),
            [
                [
                    Button(msg("button_keep_note"), f"nt:{entry_id}:keep"),
                    Button(msg("button_no_thanks"), f"nt:{entry_id}:drop"),
                ]
            ],
        )
        tidy.track(t, entry_id)  # tidy chat: these go too, once the note is kept
        return
    keep(t, entry_id)


def keep(t: Turn, entry_id: int) -> None:
    """Keep an entry of loose words as a note: saved, searchable, each part checked."""
    t.tx.set_entry_status(entry_id, "saved")
    raw = t.tx.answers(t.row.cipher, entry_id)
    refresh_search(t, entry_id, JOURNAL, raw)
    warned = [warn(t, entry_id, key, text) for key, text in sorted(raw.items())]
    if not any(warned):  # a warning says it is saved (and stays, with its buttons)
        if not tidy.finished(t, entry_id, title_of(JOURNAL)):
            t.say(msg("note_saved"))
    elif t.conv.flow is not None:
        t.resume()  # the warning's number moved the turn on: show the question with live buttons


def more_words(t: Turn, text: str) -> None:
    """Typed while "Keep as a note?" waits: they are writing, so keep it all, together."""
    pending = dict(t.conv.pending or {})
    t.conv.pending = None
    entry = t.tx.entry(t.person.id, int(pending.get("entry", 0)))
    if entry is None or entry.status != "draft" or entry.flow != JOURNAL or not text.strip():
        note(t, text)
        return
    raw = t.tx.answers(t.row.cipher, entry.id)
    save_typed(t, entry.id, content.next_key(raw, wording().flows[JOURNAL].first), text.strip())
    keep(t, entry.id)


def stray_button(t: Turn, rest: str) -> None:
    """Keep as a note / No, thanks, under held words (perhaps pressed a while later)."""
    entry_text, _, value = rest.partition(":")
    entry_id = number(entry_text)
    entry = t.tx.entry(t.person.id, entry_id) if entry_id is not None else None
    held = (
        entry is not None
        and entry.flow == JOURNAL
        and entry.status == "draft"
        and entry.id != t.conv.entry_id
        and value in {"keep", "drop"}
    )
    if entry is None or not held:
        t.out.toast = msg("stray_settled_toast")
        return
    if (t.conv.pending or {}).get("kind") == "stray":
        t.conv.pending = None
    if value == "drop":
        t.tx.delete_entry(entry.id)
        t.out.replace = Reply(msg("stray_dropped"))
        return
    t.out.toast = msg("saved_toast")
    t.tx.set_entry_status(entry.id, "saved")
    raw = t.tx.answers(t.row.cipher, entry.id)
    refresh_search(t, entry.id, JOURNAL, raw)
    warned = [warn(t, entry.id, key, text) for key, text in sorted(raw.items())]
    if not any(warned) and tidy.finished(t, entry.id, title_of(JOURNAL)):
        return  # the question and the words are deleted: one line stays
    t.out.replace = Reply(msg("note_saved"))
    if any(warned) and t.conv.flow is not None:
        t.resume()
