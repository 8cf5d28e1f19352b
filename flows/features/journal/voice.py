"""Voice notes: a recording kept like words. Outside a question set it becomes a note in the
journal; as the answer to a written question it becomes that answer. The answer's text is its
label ("🎙 Voice note, 1 min 12 s"), so /entries, search and /export list it like writing; the
audio itself is sealed with the person's own data key (nothing of it on disk in the clear) and
played back, protected, when the entry is opened."""

from __future__ import annotations

from flows.kernel.model import Voice
from flows.kernel.turn import Turn, msg, wording
from flows.questions import answers as content
from flows.questions.runner import ask, carry_on_after, refresh_search
from flows.store.unit import voice_aad

JOURNAL = "journal"


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
        " mime = excluded.mime",
        (
            entry_id,
            step,
            t.row.cipher.seal(voice.audio, voice_aad(entry_id, step)),
            voice.duration,
            voice.size,
            voice.mime,
        ),
    )


def voices(t: Turn, entry_id: int, steps: set[str]) -> list[Voice]:
    """The recordings of an entry whose answers are still theirs, in answer order."""
    found = t.tx.voice_notes(t.row.cipher, entry_id)
    return [found[step] for step in sorted(found) if step in steps]


def voice(t: Turn, recording: Voice) -> bool:
    """A voice note: the answer to the written question they are on, or a note of its own."""
    if t.conv.flow is None:
        entry_id = t.tx.create_entry(t.person.id, JOURNAL, None)
        keep_voice(t, entry_id, f"{wording().flows[JOURNAL].first}.1", recording)
        t.tx.set_entry_status(entry_id, "saved")
        refresh_search(t, entry_id, JOURNAL)
        t.say(msg("voice_saved", label=label(recording.duration)))
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
    carry_on_after(t, "flow", key)
    return True
