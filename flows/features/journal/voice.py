"""Voice notes: a recording kept like words. Outside a question set it becomes a note in the
journal; as the answer to a written question it becomes that answer. The answer's text is its
label ("🎙 Voice note, 1 min 12 s"), so /entries, search and /export list it like writing; the
audio itself is sealed with the person's own data key (nothing of it on disk in the clear) and
played back, protected, when the entry is opened.

When the operator has local transcription on (bot/transcribe.py), the words heard come with the
recording: they are held sealed until the person chooses "Keep the text too" (the words join
the answer, so search, the entry and /export have them) or "Just the recording" (they go)."""

from __future__ import annotations

from flows.kernel import render
from flows.kernel.ids import number
from flows.kernel.model import Button, Reply, Voice
from flows.kernel.turn import Turn, msg, title_of, wording
from flows.questions import answers as content
from flows.questions import tidy
from flows.questions.check import warn
from flows.questions.runner import ask, carry_on_after, refresh_search, save_typed
from flows.store.unit import voice_aad

JOURNAL = "journal"
SHOWN = 600  # characters of the words heard shown before asking: enough to judge, on a phone


def label(duration: int) -> str:
    minutes, seconds = divmod(max(0, duration), 60)
    return msg("voice_label", minutes=minutes, seconds=seconds).strip()


def keep_voice(t: Turn, entry_id: int, step: str, voice: Voice) -> None:
    """Seal and save the recording as this step's answer (its label as the answer's text)."""
    t.tx.put_answer(t.row.cipher, entry_id, step, label(voice.duration))
    t.tx.conn.execute(
        "INSERT INTO voice_notes (entry_id, step, audio, duration, size, mime)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (entry_id, step) DO UPDATE SET"
        " audio = excluded.audio, duration = excluded.duration, size = excluded.size,"
        " mime = excluded.mime, transcript = NULL",  # words heard in one it replaces go
        (
            entry_id,
            step,
            t.row.cipher.seal(voice.audio, voice_aad(entry_id, step)),
            voice.duration,
            voice.size,
            voice.mime,
        ),
    )


def _heard_aad(entry_id: int, step: str) -> bytes:
    return voice_aad(entry_id, step) + b":heard"


def offer_words(t: Turn, entry_id: int, step: str, words: str) -> None:
    """Hold the words heard (sealed, like the recording) and ask whether to keep them."""
    sealed = t.row.cipher.seal(words.encode("utf-8"), _heard_aad(entry_id, step))
    (row,) = t.tx.conn.execute(
        "UPDATE voice_notes SET transcript = ? WHERE entry_id = ? AND step = ? RETURNING rowid",
        (sealed, entry_id, step),
    ).fetchone()
    where = f"{entry_id}:{row}"
    t.say(
        msg("voice_heard", words=render.shorten(words, SHOWN)),
        [
            [Button(msg("button_keep_text"), f"vt:k:{where}")],
            [Button(msg("button_just_recording"), f"vt:n:{where}")],
        ],
    )


def words_choice(t: Turn, rest: str) -> None:
    """ "Keep the text too" / "Just the recording" ("vt:k|n:entry:row"), pressed at once or
    later, in a question set or not. Only words still held for one of their own recordings."""
    action, _, where = rest.partition(":")
    entry_text, _, row_text = where.partition(":")
    entry_id, row = number(entry_text), number(row_text)
    entry = t.tx.entry(t.person.id, entry_id) if entry_id is not None else None
    found = (
        t.tx.conn.execute(
            "SELECT step, duration, transcript FROM voice_notes"
            " WHERE rowid = ? AND entry_id = ? AND transcript IS NOT NULL",
            (row, entry.id),
        ).fetchone()
        if entry is not None and row is not None and action in {"k", "n"}
        else None
    )
    if entry is None or found is None:
        t.not_found()
        t.out.clear_buttons = True
        return
    step, duration, sealed = found
    t.tx.conn.execute(
        "UPDATE voice_notes SET transcript = NULL WHERE rowid = ?", (row,)
    )  # settled either way: nothing is held any more
    answer = t.tx.answers(t.row.cipher, entry.id).get(step, "")
    if action == "n" or not answer.startswith(label(duration)):  # or since replaced by words
        t.out.scrub = True  # and gone from the WAL once committed
        if not _tidied(t, entry.id):
            t.out.replace = Reply(msg("voice_words_dropped"))
        return
    words = t.row.cipher.open(sealed, _heard_aad(entry.id, step)).decode("utf-8")
    save_typed(t, entry.id, step, f"{answer}\n{words}")  # as if typed: read for distress too
    if entry.status != "in_progress":  # a set still going is indexed when it is saved
        refresh_search(t, entry.id, entry.flow)
    t.out.toast = msg("saved_toast")
    if warn(t, entry.id, step, words):  # and for identifying details
        if t.conv.flow is not None:
            t.resume()  # the question they are on comes back below, with live buttons
    elif _tidied(t, entry.id):
        return
    t.out.replace = Reply(msg("voice_words_kept"))


def _tidied(t: Turn, entry_id: int) -> bool:
    """A voice note sent on its own, now settled: with tidy chat on, its messages go (True)."""
    return tidy.tracked(t.tx, entry_id) and tidy.finished(t, entry_id, title_of(JOURNAL))


def words_still_held(t: Turn, entry_id: int, flow_name: str) -> None:
    """A question set is saved. With tidy chat on, its messages have just been deleted, "what I
    heard" among them: words not yet settled are asked about again, below the closing line
    (and leave the chat once they choose)."""
    if not tidy.is_on(t.tx, t.person.id):
        return
    for step, sealed in t.tx.conn.execute(
        "SELECT step, transcript FROM voice_notes WHERE entry_id = ? AND transcript IS NOT NULL",
        (entry_id,),
    ).fetchall():
        words = t.row.cipher.open(sealed, _heard_aad(entry_id, step)).decode("utf-8")
        offer_words(t, entry_id, step, words)


def voices(t: Turn, entry_id: int, steps: set[str]) -> list[Voice]:
    """The recordings of an entry whose answers are still theirs, in answer order."""
    found = t.tx.voice_notes(t.row.cipher, entry_id)
    return [found[step] for step in sorted(found) if step in steps]


def voice(t: Turn, recording: Voice) -> bool:
    """A voice note: the answer to the written question they are on, or a note of its own."""
    if t.conv.flow is None:
        entry_id = t.tx.create_entry(t.person.id, JOURNAL, None)
        key = f"{wording().flows[JOURNAL].first}.1"
        keep_voice(t, entry_id, key, recording)
        t.tx.set_entry_status(entry_id, "saved")
        refresh_search(t, entry_id, JOURNAL)
        if not recording.transcript:
            if not tidy.finished(t, entry_id, title_of(JOURNAL)):  # tidy chat: one line
                t.say(msg("voice_saved", label=label(recording.duration)))
            return True
        t.say(msg("voice_saved", label=label(recording.duration)))
        offer_words(t, entry_id, key, recording.transcript)
        tidy.track(t, entry_id)  # tidy chat: these go once the words are settled
        return True
    step = t.step
    if step.input == "choice":
        t.say(msg("choose_please"))
        ask(t)
        return True
    assert t.conv.entry_id is not None
    if step.input == "free":
        key = content.next_key(t.tx.answers(t.row.cipher, t.conv.entry_id), step.id)
    else:
        key = step.id
    keep_voice(t, t.conv.entry_id, key, recording)
    if recording.transcript:  # asked here; the set goes on below, and the choice can wait
        offer_words(t, t.conv.entry_id, key, recording.transcript)
    carry_on_after(t, "flow", key)
    return True
