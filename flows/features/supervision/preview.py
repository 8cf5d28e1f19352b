"""The share preview, made to be read and decided on a phone.

A heading, then one message per entry (an entry with many answers, or long ones, takes a few),
each with a "Leave out: …" button per answer under it, then one message of controls: how long the
supervisor can see it (three choices, the current one ticked), share, keep private. No message is
over `PREVIEW_LIMIT` characters or `BUTTONS_PER_MESSAGE` buttons. Answers private by design (a
step marked `private` in its question set) start left out, with a line saying so.

Pressing a toggle rewrites only its own message; every button of the preview stays live until
the preview is closed or replaced (they carry the turn the preview was shown on).
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.features.journal.entry import section
from flows.features.supervision.answers import Item
from flows.kernel import render
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, msg, title_of, wording
from flows.questions.sets import PROCTOR
from flows.store.rows import EntryRow

PREVIEW_LIMIT = 1000  # characters in one preview message: a phone screen or so
BUTTONS_PER_MESSAGE = 8
TOGGLES_PER_MESSAGE = 7  # answers (and so buttons) under one message of the preview
PREVIEW_ANSWER = 600  # a longer answer is shortened in the preview (it is shared in full)
TOGGLE_LABEL = 36  # characters of an answer's label on its button
EXPIRY_DAYS = (0, 7, 30)  # 0: until withdrawn
MAX_TOGGLES = 1000  # "t0" to "t999": beyond this (a huge pack) answers can't be left out one by one


@dataclass(frozen=True, slots=True)
class Page:
    """One message of the preview: (part of) one entry, after any section headings before it."""

    before: str  # section headings (of the pack) shown above the entry
    entry: EntryRow
    numbers: tuple[int, ...]  # the items (answers) on this page


def private_items(items: list[Item]) -> list[int]:
    """The answers that start left out: private by design."""
    return [n for n, item in enumerate(items) if item.private]


def pages(t: Turn, kind: str, items: list[Item]) -> tuple[list[Page], str]:
    """The preview's pages, and any section headings left after the last (an empty section).
    Laid out with every answer at its longest, so a page never changes as answers are left
    out or put back."""
    entries = list({i.entry.id: i.entry for i in items}.values())
    groups: list[tuple[str | None, list[EntryRow]]]
    if kind == "pack":
        groups = [(msg(f"proctor_{s}"), [e for e in entries if section(e) == s]) for s in PROCTOR]
    else:
        groups = [(None, entries)]
    macros = wording().share_template.module
    found: list[Page] = []
    before: list[str] = []
    for title, group in groups:
        if title is not None:
            before.append(str(macros.section(title=title, empty=not group)))  # type: ignore[attr-defined]
        for entry in group:
            numbers = [n for n, i in enumerate(items) if i.entry.id == entry.id]
            current: list[int] = []
            for n in numbers:
                trial = [*current, n]
                head = "\n\n".join(before)
                html = entry_html(t, entry, items, trial, _longest(t, items, trial))
                too_long = render.telegram_length(f"{head}\n\n{html}") > PREVIEW_LIMIT
                if current and (len(trial) > TOGGLES_PER_MESSAGE or too_long):
                    found.append(Page(head, entry, tuple(current)))
                    before, current = [], [n]
                else:
                    current = trial
            if current:
                found.append(Page("\n\n".join(before), entry, tuple(current)))
                before = []
    return found, "\n\n".join(before)


def _longest(t: Turn, items: list[Item], numbers: list[int]) -> set[int]:
    """Which of these answers are longer left out (a short private one, with its line) than in."""
    out = set()
    for n in numbers:
        entry = items[n].entry
        left, kept = entry_html(t, entry, items, [n], {n}), entry_html(t, entry, items, [n], set())
        if len(left) > len(kept):
            out.add(n)
    return out


def entry_html(
    t: Turn,
    entry: EntryRow,
    items: list[Item],
    numbers: list[int] | tuple[int, ...],
    left_out: set[int],
) -> str:
    """(Part of) one entry as previewed; a very long answer shortened (it is shared in full)."""
    macros = wording().share_template.module
    answers = []
    for n in numbers:
        item = items[n]
        text = item.text
        if len(text) > PREVIEW_ANSWER:
            text = render.shorten(text, PREVIEW_ANSWER) + " " + msg("share_preview_shortened")
        answers.append(
            {
                "number": n + 1,
                "label": item.label,
                "text": text,
                "left_out": n in left_out,
                "private": item.private,
            }
        )
    return str(
        macros.entry(  # type: ignore[attr-defined]
            title=title_of(entry.flow), when=t.when(entry.created_at), answers=answers, preview=True
        )
    )


def page_reply(t: Turn, page: Page, items: list[Item], left_out: set[int], turn: int) -> Reply:
    """A page as it stands: answers left out struck through, a button under each to change it."""
    body = entry_html(t, page.entry, items, page.numbers, left_out)
    html = f"{page.before}\n\n{body}" if page.before else body
    rows = [
        [
            Button(
                render.to_plain(  # a button's label is plain text, not HTML
                    msg(
                        "button_put_back" if n in left_out else "button_leave_out",
                        label=render.shorten(items[n].label, TOGGLE_LABEL),
                    )
                ),
                f"p:{turn}:t{n}",
            )
        ]
        for n in page.numbers
        if n < MAX_TOGGLES
    ]
    return Reply(html, rows)
