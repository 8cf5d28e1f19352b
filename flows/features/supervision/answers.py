"""The answers that could be shared: each one a worker can leave out of a share or a pack."""

from __future__ import annotations

from dataclasses import dataclass

from flows.kernel.turn import Turn, label_of, wording
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
