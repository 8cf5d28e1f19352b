"""Tidy chat (opt-in, in /settings): once a question set is saved, the person's own messages
and the bot's questions for it are deleted from the Telegram chat, leaving one line ("Saved to
your journal: Reflection, 4 Dec"), so an unlocked phone shows no reflections. A note sent outside
a set (words or a voice note) goes the same way once it is kept.

While a set is in progress, the id of every message of it is noted (the person's as each turn
ends, the bot's as Telegram accepts each: a guard on the reply). The deletions go through the
outbox with the save, so a crash cannot leave them half-done; one Telegram will no longer allow
(bots may delete in private chats for 48 hours) is skipped quietly by delivery."""

from __future__ import annotations

from datetime import datetime

from flows.kernel.feature import Guard
from flows.kernel.model import Reply
from flows.kernel.turn import Turn, msg
from flows.kernel.when import zone
from flows.store.unit import Unit

TIDY = "tidy"  # the outbox guard on the bot's messages of a set in progress


def is_on(tx: Unit, person_id: int) -> bool:
    return tx.one("SELECT 1 FROM tidy_chat WHERE person_id = ?", (person_id,)) is not None


def set_on(tx: Unit, person_id: int, on: bool) -> None:
    if on:
        tx.conn.execute("INSERT OR IGNORE INTO tidy_chat (person_id) VALUES (?)", (person_id,))
    else:
        tx.conn.execute("DELETE FROM tidy_chat WHERE person_id = ?", (person_id,))


def _note(tx: Unit, entry_id: int, message_id: int) -> None:
    tx.conn.execute(
        "INSERT OR IGNORE INTO tidy_messages (entry_id, message_id)"
        " SELECT id, ? FROM entries WHERE id = ?",
        (message_id, entry_id),
    )


def after(t: Turn) -> None:
    """At the end of every turn inside a set: note the person's message, guard the bot's."""
    if t.conv.entry_id is not None:
        track(t, t.conv.entry_id)


def track(t: Turn, entry_id: int) -> None:
    """This turn's messages belong to `entry_id` (a set's, or a note's still being settled):
    with tidy chat on, the person's message is noted now and the bot's as Telegram takes them."""
    if not is_on(t.tx, t.person.id):
        return
    if t.message_id is not None:
        _note(t.tx, entry_id, t.message_id)
    for reply in t.out.replies:
        if reply.guard is None and reply.delete_message is None and reply.edit_message is None:
            reply.guard = (TIDY, entry_id)


def tracked(tx: Unit, entry_id: int) -> bool:
    """Whether messages of this entry wait to be deleted once it is settled."""
    return tx.one("SELECT 1 FROM tidy_messages WHERE entry_id = ?", (entry_id,)) is not None


def _live(tx: Unit, entry_id: int, chat_id: int, html: str, now: datetime) -> bool:
    return True


def _sent(tx: Unit, entry_id: int, chat_id: int, message_id: int, now: datetime) -> bool:
    _note(tx, entry_id, message_id)
    return True


GUARD = Guard(live=_live, sent=_sent)


def finished(t: Turn, entry_id: int, title: str) -> bool:
    """The set (or note) is saved: with tidy chat on, its messages go and one line stays
    (True). This turn's own message goes too."""
    if not is_on(t.tx, t.person.id):
        return False
    ids = {
        int(m)
        for (m,) in t.tx.conn.execute(
            "SELECT message_id FROM tidy_messages WHERE entry_id = ?", (entry_id,)
        ).fetchall()
    }
    if t.message_id is not None:
        ids.add(t.message_id)
    t.tx.conn.execute("DELETE FROM tidy_messages WHERE entry_id = ?", (entry_id,))
    t.out.replies += [Reply("", delete_message=m, silent=True) for m in sorted(ids)]
    day = t.now.astimezone(zone(t.row.timezone)).strftime("%-d %b")
    t.say(msg("tidy_saved", title=title, day=day))
    return True
