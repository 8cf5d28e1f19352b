"""The journal as a feature: words kept outside a question set, edits, /entries."""

from __future__ import annotations

from flows.features.journal.entry import entry_action, open_entry, replace_choice
from flows.features.journal.listing import entries
from flows.features.journal.notes import JOURNAL, more_words, note, stray_button
from flows.features.journal.voice import voice, words_choice, words_still_held
from flows.kernel.feature import Feature
from flows.kernel.ids import number
from flows.kernel.model import Input
from flows.kernel.turn import Turn, label_of, msg, wording
from flows.questions.catalogue import Catalogue
from flows.questions.check import warn
from flows.questions.runner import carry_on_after, refresh_search, save_typed
from flows.questions.sets import PromptError


def edited(t: Turn, inp: Input) -> None:
    """An edited Telegram message updates the answer it became, and says so."""
    found = (
        t.tx.answer_for_message(t.person.id, inp.message_id) if inp.message_id is not None else None
    )
    entry = t.tx.entry(t.person.id, found[0]) if found else None
    if found is None or entry is None or not inp.text.strip():
        t.say(msg("edited"))
        return
    key = found[1]
    flow = wording().flows.get(entry.flow)
    if flow is not None and flow.plan and entry.status != "in_progress":
        # A saved plan changes only as a new dated version (by reviewing it): never in place.
        t.say(msg("edited_plan", title=flow.title))
        return
    label = label_of(flow, key)
    save_typed(t, entry.id, key, inp.text.strip())
    if entry.status != "in_progress":
        refresh_search(t, entry.id, entry.flow)
    if warn(t, entry.id, key, inp.text):
        carry_on_after(t, "edited", key, label)  # and the question they are on, with live buttons
    else:
        t.say(msg("edited_saved", label=label))


def _text(t: Turn, text: str) -> bool:
    """Words sent outside a question set: kept as a journal entry."""
    if t.conv.flow is not None:
        return False
    note(t, text)
    return True


def _entries(t: Turn, args: str) -> None:
    entries(t, args, 0)
    t.still_in_flow()


def _page(t: Turn, rest: str) -> None:
    page, _, query = rest.partition(":")
    found = number(page, 6)
    if found is None:
        t.not_found()
    else:
        entries(t, query, found)


def _replacing(t: Turn, value: str) -> None:
    """A choice pressed while an answer from an open entry is being replaced."""
    if (t.conv.pending or {}).get("kind") != "edit":
        t.stale()
    else:
        replace_choice(t, value)


def _check(cat: Catalogue) -> None:
    if JOURNAL not in cat.flows:
        raise PromptError(f"{JOURNAL}.yaml: can't be switched off: loose messages are kept in it")


FEATURE = Feature(
    name="journal",
    check=_check,
    commands={"entries": _entries},
    menu=("entries",),
    buttons={
        "o": open_entry,
        "x": entry_action,
        "e": _page,
        "nt": stray_button,
        "vt": words_choice,
    },
    turn_buttons={"v": _replacing},
    pending=frozenset({"stray"}),
    typed={"stray": more_words},
    text=_text,
    voice=voice,
    edited=edited,
    completed=words_still_held,
)
