"""One journal entry, opened: its answers (and the rest of its sharing episode), and what can be
done with it: edit, add a note, delete, mark for supervision, share."""

from __future__ import annotations

from flows.features.journal.listing import page_data
from flows.features.journal.voice import voices
from flows.kernel import render
from flows.kernel.ids import number
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, label_of, msg, title_of, wording
from flows.questions import answers as content
from flows.questions.runner import choice_rows, refresh_search
from flows.questions.sets import PROCTOR, Flow
from flows.store import audit
from flows.store.rows import EntryRow

# Where supervision adds to an open entry without the journal importing it:
CAN_SHARE = "journal.can_share"  # (t) -> bool: show "Share" under an entry
SHARE_ENTRY = "journal.share_entry"  # (t, entry) -> None: "Share" was pressed
# (t, entry) -> (blocks under its heading, button rows): what plans add under an opened plan
ENTRY_MORE = "journal.entry_more"


def section(entry: EntryRow) -> str:
    """Where an entry goes in the supervision pack: the worker's choice, else its set's."""
    if entry.proctor in PROCTOR:
        return entry.proctor
    flow = wording().flows.get(entry.flow)
    return flow.proctor if flow else PROCTOR[0]


def replace_choice(t: Turn, value: str) -> None:
    """A button pressed to replace a choice answer from an open entry."""
    pending = dict(t.conv.pending or {})
    entry = t.tx.entry(t.person.id, int(pending.get("entry", 0)))
    flow = wording().flows.get(entry.flow) if entry else None
    step = flow.steps.get(str(pending.get("key"))) if flow else None
    choice = step.choice(value) if step else None
    t.conv.pending = None
    if entry is None or step is None or choice is None:
        t.stale()
        return
    t.tx.put_answer(t.row.cipher, entry.id, step.id, choice.value)
    refresh_search(t, entry.id, entry.flow)
    t.out.toast = choice.label
    asked = msg("edit_prompt", label=step.label, choices=True)
    t.out.replace = Reply(asked + "\n\n" + msg("chosen", label=choice.label))
    t.say(msg("edit_saved", label=step.label))
    t.resume()


def open_entry(t: Turn, rest: str) -> None:
    """An entry opened from /entries ("o:id:page:query"; "o:id" from before pages were kept):
    its answers, what can be done with it, and the way back to the list it was opened from."""
    entry_text, _, where = rest.partition(":")
    page_text, _, query = where.partition(":")
    page = number(page_text, 6) or 0
    entry_id = number(entry_text)
    entry = t.tx.entry(t.person.id, entry_id) if entry_id is not None else None
    if entry is None or entry.status == "in_progress":
        t.out.toast = msg("entry_gone")
        return
    answers = t.tx.answers(t.row.cipher, entry.id)
    t.out.voices += voices(t, entry.id, set(answers))  # played back after the text, protected
    flow = wording().flows.get(entry.flow)
    blocks = [
        msg(
            "entry_heading",
            title=title_of(entry.flow),
            when=t.when(entry.created_at),
            draft=entry.status == "draft",
        )
    ]
    more_rows: list[list[Button]] = []
    for more in t.also(ENTRY_MORE):
        extra, rows = more(t, entry)
        blocks += extra
        more_rows += rows
    if entry.flagged:
        blocks.append(msg("entry_flagged"))
        blocks.append(msg("entry_section", section=msg(f"proctor_{section(entry)}")))
    episode = [
        e
        for e in t.tx.entries(t.person.id, limit=20, episode_id=entry.episode_id)
        if e.id != entry.id
    ]
    if episode:
        blocks.append(msg("entry_episode", others=[t.entry_label(e) for e in episode]))
    blocks += answer_blocks(flow, answers)
    # The rest of the sharing episode (preparation, in the moment, reflection), in order.
    for other in sorted(episode, key=lambda e: e.created_at):
        other_flow = wording().flows.get(other.flow)
        blocks.append(
            msg(
                "episode_part",
                title=title_of(other.flow),
                when=t.when(other.created_at),
            )
        )
        blocks += answer_blocks(other_flow, t.tx.answers(t.row.cipher, other.id))
    chunks = render.pack(blocks)
    for chunk in chunks[:-1]:
        t.say(chunk)
    flag = "button_unflag" if entry.flagged else "button_flag"
    back = [Button(msg("button_back_to_list"), page_data(page, query))]
    if entry.superseded_at is not None:  # an earlier version of a plan: to read only
        t.say(chunks[-1], [*more_rows, back])
        return
    plan = flow is not None and flow.plan  # changed by running its set again: a new version
    t.say(
        chunks[-1],
        [
            [
                *([] if plan else [Button(msg("button_edit"), f"x:{entry.id}:edit")]),
                Button(msg("button_delete"), f"x:{entry.id}:delete"),
            ],
            *more_rows,
            [Button(msg(flag), f"x:{entry.id}:flag")],
            *([[Button(msg("button_section"), f"x:{entry.id}:sec")]] if entry.flagged else []),
            *(
                [[Button(msg("button_share"), f"x:{entry.id}:share")]]
                if any(can(t) for can in t.also(CAN_SHARE))
                else []
            ),
            back,
        ],
    )


def answer_blocks(flow: Flow | None, answers: dict[str, str]) -> list[str]:
    return [
        f"<b>{render.escape(label_of(flow, key))}</b>\n{render.escape(text)}"
        for key, text in content.collapse(flow, answers).items()
    ]


def edit_choose(t: Turn, entry: EntryRow, flow: Flow | None) -> None:
    """What to change: add a note, replace an answer, or fill in one that was skipped; each
    answer named with its first words, so they can tell which is which."""
    answered = content.collapse(flow, t.tx.answers(t.row.cipher, entry.id))
    items, buttons = [], []
    for step in flow.steps.values() if flow is not None else []:
        text = answered.get(step.id)
        items.append(
            {
                "label": step.label,
                "first_words": render.shorten(text, 50) if text else "",
                "skipped": text is None,
            }
        )
        key = "button_fill_in" if text is None else "button_replace"
        label = render.to_plain(msg(key, label=render.shorten(step.label, 28)))
        buttons.append(Button(label, f"x:{entry.id}:r:{step.id}"))
    rows = [[Button(msg("button_add_note"), f"x:{entry.id}:note")]]
    rows += [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    t.say(msg("edit_choose", items=items), rows)


def entry_action(t: Turn, rest: str) -> None:
    """Buttons under an open entry. Its id is checked against the person on every press."""
    entry_text, _, action = rest.partition(":")
    entry_id = number(entry_text)
    entry = t.tx.entry(t.person.id, entry_id) if entry_id is not None else None
    if entry is None or entry.status == "in_progress":
        t.out.toast = msg("entry_gone")
        return
    flow = wording().flows.get(entry.flow)
    if action == "flag":
        t.tx.set_flag(entry.id, not entry.flagged)
        t.out.toast = msg("flag_off" if entry.flagged else "flag_on")
    elif action == "delete" or (action == "delete_yes" and not t.confirmed(f"x:{entry.id}:delete")):
        # A yes with no "are you sure?" just before it (forged, or from an old message) asks.
        t.asking_to_confirm(f"x:{entry.id}:delete")
        t.say(
            msg("delete_confirm"),
            [
                [Button(msg("button_delete_yes"), f"x:{entry.id}:delete_yes")],
                [Button(msg("button_keep_it"), f"x:{entry.id}:keep")],
            ],
        )
    elif action == "delete_yes":
        t.tx.delete_entry(entry.id)  # gone from the database, its answers with it
        audit.record(t.tx, "entry_deleted", t.person.id)
        t.out.scrub = True  # and from the WAL, once committed
        t.out.clear_buttons = True
        t.say(msg("deleted"))
    elif action == "keep":
        t.confirmed(f"x:{entry.id}:delete")
        t.out.clear_buttons = True
        t.out.toast = msg("kept_toast")
    elif action == "share":
        for share in t.also(SHARE_ENTRY):
            share(t, entry)
    elif action == "sec":
        t.say(
            msg("section_choose"),
            [[Button(msg(f"proctor_{s}"), f"x:{entry.id}:p:{s}")] for s in PROCTOR],
        )
    elif action.startswith("p:") and action[2:] in PROCTOR:
        t.tx.set_proctor(entry.id, action[2:])
        t.out.clear_buttons = True
        t.out.toast = msg("section_set", section=msg(f"proctor_{action[2:]}"))
    elif action in {"edit", "note"} or action.startswith("r:"):
        if (flow is not None and flow.plan) or entry.superseded_at is not None:
            t.not_found()  # a plan changes by reviewing it, as a new version (never offered)
        elif action == "edit":
            edit_choose(t, entry, flow)
        else:
            edit_answer(t, entry, flow, action)
    else:
        t.out.toast = msg("stale_toast")


def edit_answer(t: Turn, entry: EntryRow, flow: Flow | None, action: str) -> None:
    """Add a note, or fill in or replace one answer: ask for the new words."""
    key = content.NOTE if action == "note" else action[2:]
    step = flow.steps.get(key) if flow else None
    if key != content.NOTE and step is None:
        t.out.toast = msg("stale_toast")
        return
    t.conv.pending = {"kind": "edit", "entry": entry.id, "key": key, "then": "edit"}
    t.conv.turn += 1
    if step is None:
        t.say(msg("note_prompt"))
        return
    choices = [Button(c.label, f"v:{t.conv.turn}:{c.value}") for c in step.choices]
    t.say(
        msg("edit_prompt", label=step.label, choices=bool(choices)),
        choice_rows(choices),
    )
