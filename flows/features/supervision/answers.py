"""The answers that could be shared: each one a worker can leave out of a share or a pack."""

from __future__ import annotations

from dataclasses import dataclass

from flows.kernel.crypto import Cipher
from flows.kernel.model import Reply, Voice
from flows.kernel.turn import Turn, label_of, msg, wording
from flows.questions import answers as content
from flows.store.rows import EntryRow


@dataclass(frozen=True, slots=True)
class Item:
    """One answer that could be shared: the worker can leave any of them out."""

    entry: EntryRow
    key: str
    label: str
    text: str
    private: bool = False  # private by design (its step says so): starts left out of a preview


def items_of(t: Turn, entries: list[EntryRow]) -> list[Item]:
    items = []
    for entry in entries:
        flow = wording().flows.get(entry.flow)
        answers = t.tx.answers(t.row.cipher, entry.id)
        for key, text in content.collapse(flow, answers).items():
            step = flow.steps.get(content.base(key)) if flow else None
            private = step is not None and step.private
            items.append(Item(entry, key, label_of(flow, key), text, private))
    return items


def voice_replies(t: Turn, cipher: Cipher, shared: list[Item]) -> list[Reply]:
    """The recordings among these shared answers (a step's parts each), one voice message
    each, its caption naming the question and the entry, in the order shared. Opened with the
    worker's key into memory only: on their way they wait in the outbox sealed again, with
    that same key (see `gate.send`), so nothing of the audio is ever on disk in the clear."""
    replies = []
    recordings: dict[int, dict[str, Voice]] = {}
    for item in shared:
        if item.entry.id not in recordings:
            recordings[item.entry.id] = t.tx.voice_notes(cipher, item.entry.id)
        found = recordings[item.entry.id]
        parts = sorted((k for k in found if content.base(k) == item.key), key=content.part)
        for key in parts:
            caption = msg(
                "share_voice_caption", question=item.label, entry=t.entry_label(item.entry)
            )
            replies.append(Reply(caption, voice=found[key]))
    return replies


def shared_items(t: Turn, worker_id: int, answers: list[tuple[int, str]]) -> list[Item]:
    """The answers a share named (entry, step), as items, for those entries still kept."""
    items = []
    for entry_id, key in answers:
        entry = t.tx.entry(worker_id, entry_id)
        if entry is not None:
            flow = wording().flows.get(entry.flow)
            items.append(Item(entry, key, label_of(flow, key), ""))
    return items


def recordings_mark(t: Turn, kept: list[Item]) -> str:
    """Which recordings these answers would send, exactly (each sealing's own start, new with
    every recording): a share's fingerprint covers them, so one recorded again after the
    preview means a new preview, as an edited answer does."""
    marks = []
    for entry_id in dict.fromkeys(i.entry.id for i in kept):
        keys = {i.key for i in kept if i.entry.id == entry_id}
        for step, start in t.tx.conn.execute(
            "SELECT step, substr(audio, 1, 32) FROM voice_notes WHERE entry_id = ? ORDER BY step",
            (entry_id,),
        ).fetchall():
            if content.base(step) in keys:
                marks.append(f"{entry_id}:{step}:{bytes(start).hex()}")
    return "\n".join(marks)
