"""What an entry's stored answers mean: pure functions, shared by the journal, search and export.

Answers are stored per key. A step's key is its id (`experiences`); a free step keeps one answer
per message (`writing.1`, `writing.2`, …); notes added later are `note.1`, `note.2`, ….
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from flows.questions.sets import Flow, Step

NOTE = "note"
_TAG = re.compile(r"(?<![\w&])#(\w[\w-]{0,40})")


def base(key: str) -> str:
    return key.split(".", 1)[0]


def part(key: str) -> int:
    _, _, tail = key.partition(".")
    return int(tail) if tail.isdigit() else 0


def next_key(raw: Mapping[str, str], step_id: str) -> str:
    """The key for one more part of a free step (or one more note)."""
    used = [part(k) for k in raw if base(k) == step_id]
    return f"{step_id}.{max(used, default=0) + 1}"


def ordered(flow: Flow | None, raw: Mapping[str, str]) -> list[str]:
    """Keys in question order, parts in the order written, notes last."""
    order = list(flow.steps) if flow else []

    def rank(key: str) -> tuple[int, int]:
        b = base(key)
        return (order.index(b) if b in order else len(order) + (b == NOTE), part(key))

    return sorted(raw, key=rank)


def display(step: Step | None, stored: str) -> str:
    """What a person reads: a choice's label, or their own words."""
    if step is not None and step.input == "choice":
        choice = step.choice(stored)
        return choice.label if choice else stored
    return stored


def collapse(flow: Flow | None, raw: Mapping[str, str]) -> dict[str, str]:
    """One text per step (a free step's parts joined), plus notes under `note`, in order."""
    joined: dict[str, list[str]] = {}
    for key in ordered(flow, raw):
        b = base(key)
        step = flow.steps.get(b) if flow else None
        joined.setdefault(b, []).append(display(step, raw[key]))
    return {b: "\n\n".join(texts) for b, texts in joined.items()}


def tags(texts: Mapping[str, str] | list[str]) -> list[str]:
    """#tags in what a person wrote, lower-case, first use first."""
    found: dict[str, None] = {}
    for text in texts.values() if isinstance(texts, Mapping) else texts:
        for tag in _TAG.findall(text):
            found.setdefault(tag.lower(), None)
    return list(found)


def search_text(title: str, flow: Flow | None, raw: Mapping[str, str]) -> str:
    """Everything a search should find in the entry, lower-case."""
    return "\n".join([title, *collapse(flow, raw).values()]).lower()


def matcher(query: str) -> Callable[[str], bool]:
    """A test for searchable text: every word of the query is in it (a #word must be a tag).

    Built once per search, so thousands of entries cost a substring test each.
    """
    words = [w for w in query.lower().split() if not w.startswith("#")]
    tag_patterns = [
        re.compile(rf"(?<![\w&])#{re.escape(w[1:])}(?![\w-])")
        for w in query.lower().split()
        if w.startswith("#") and len(w) > 1
    ]

    if len(words) == 1 and not tag_patterns:
        word = words[0]
        return lambda text: word in text  # the common case, as cheap as it can be

    def test(text: str) -> bool:
        return all(w in text for w in words) and all(p.search(text) for p in tag_patterns)

    return test


def first_words(flow: Flow | None, raw: Mapping[str, str]) -> str:
    """A line to recognise the entry by: its first written answer, else its first choice."""
    texts = collapse(flow, raw)
    steps = flow.steps if flow else {}
    for b, text in texts.items():
        step = steps.get(b)
        if step is None or step.input != "choice":
            return text
    for b, text in texts.items():
        return f"{steps[b].label}: {text}" if b in steps else text
    return ""


def in_list(flow: Flow | None, raw: Mapping[str, str]) -> str:
    """The answers a question set shows beside an entry wherever it is listed (`in_list` steps,
    such as who it was about sharing with), joined."""
    if flow is None:
        return ""
    texts = collapse(flow, raw)
    return ", ".join(texts[s.id] for s in flow.steps.values() if s.in_list and s.id in texts)
