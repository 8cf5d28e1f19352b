"""The runner: asks a question set's questions, saves each answer, skips, goes back, finishes,
cancels and switches. "Flow" means one question set, everywhere.

Typed answers are checked for details that could identify someone (flows.questions.check): the
answer is saved as written and the next question follows at once; only a press on "Rewrite it"
makes the next typed message a replacement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flows.kernel import render
from flows.kernel.ids import number
from flows.kernel.model import Button, Reply
from flows.kernel.turn import Turn, label_of, msg, title_of, wording
from flows.questions import answers as content
from flows.questions import tidy
from flows.questions.check import warn
from flows.questions.sets import END, Flow
from flows.store.rows import EntryRow

LINK_WINDOW = timedelta(days=14)
SUMMARY_ANSWER_CHARS = 300


def text(t: Turn, text: str) -> bool:
    """Typed words as the answer to the current question (not ours outside a question set)."""
    if t.conv.flow is None:
        return False
    step = t.step
    if step.input == "choice":
        choice = step.match_typed(text)
        if choice is None:
            t.say(msg("choose_please"))
            ask(t)
        else:
            answer(t, choice.value)
        return True
    if not text.strip():
        t.say(msg("empty_answer"))
        ask(t)
        return True
    assert t.conv.entry_id is not None
    if step.input == "free":
        raw = t.tx.answers(t.row.cipher, t.conv.entry_id)
        key = content.next_key(raw, step.id)
    else:
        key = step.id
    save_typed(t, t.conv.entry_id, key, text.strip())
    warn(t, t.conv.entry_id, key, text)  # kept as written: the next question follows regardless
    carry_on_after(t, "flow", key)
    return True


def save_typed(t: Turn, entry_id: int, key: str, text: str) -> None:
    """Save typed words, remember their message (so an edit can follow), note distress."""
    t.tx.put_answer(t.row.cipher, entry_id, key, text)
    if t.message_id is not None:
        t.tx.remember_message(t.person.id, t.message_id, entry_id, key)
    level = wording().support.concern(text)
    if level > t.support_level:
        t.support_entry, t.support_level, t.support_at = entry_id, level, len(t.out.replies)


def carry_on_after(t: Turn, then: str, key: str, label: str = "") -> None:
    """What follows a saved typed answer once nothing more is asked about it."""
    if then == "flow" and t.conv.flow is not None:
        step = t.step
        if step.input == "free":
            ask_more(t)
        else:
            # Branches are on choices only, so a typed answer's words never steer the flow.
            advance(t, key)
    elif then == "note":
        t.say(msg("note_saved"))
    elif then == "rewritten":
        t.say(msg("rewritten", label=label, in_flow=t.conv.flow is not None))
        t.resume()
    elif then in {"edit", "edited"}:
        label = label or msg("note_label")
        t.say(msg("edit_saved" if then == "edit" else "edited_saved", label=label))
        t.resume()
    else:
        t.resume()


def flow_command(t: Turn, flow: Flow) -> None:
    if t.conv.flow is None:
        start_flow(t, flow)
    elif t.conv.flow == flow.name:
        t.say(msg("already_in_flow", title=flow.title))
        ask(t)
    else:
        current = wording().flows[t.conv.flow]
        t.conv.pending = {"kind": "switch", "to": flow.name}
        t.conv.turn += 1
        t.say(
            msg("switch_confirm", current=current.title, new=flow.title, plan=revising(t)),
            [
                [Button(msg("button_switch", title=flow.title), f"s:{t.conv.turn}:go")],
                [Button(msg("button_carry_on"), f"s:{t.conv.turn}:stay")],
            ],
        )


def start_flow(t: Turn, flow: Flow) -> None:
    latest = latest_version(t, flow) if flow.plan else None
    entry_id = t.tx.create_entry(t.person.id, flow.name, latest.episode_id if latest else None)
    if latest is not None:  # a plan's new version starts from the latest one's answers
        for key, value in t.tx.answers(t.row.cipher, latest.id).items():
            t.tx.put_answer(t.row.cipher, entry_id, key, value)
    t.conv.flow, t.conv.step, t.conv.entry_id = flow.name, flow.first, entry_id
    t.conv.history, t.conv.pending = [], None
    intro = render.tidy(flow.intro.render(**context_of(flow, {})))
    buttons: list[list[Button]] = []
    if flow.link_to:
        recent = t.tx.entries(
            t.person.id,
            limit=3,
            flows=flow.link_to,
            since=t.now - LINK_WINDOW,
            statuses=("saved",),
        )
        if recent:
            # Each recognisable by its date and first words, as /entries shows it.
            found = [(t.recognisable(e), f"l:{entry_id}:{e.id}") for e in recent]
            intro, buttons = t.picker(intro + "\n\n" + msg("link_offer"), found)
    t.say(intro, buttons)
    ask(t)


def latest_version(t: Turn, flow: Flow) -> EntryRow | None:
    """A plan's current version: its newest saved entry (earlier ones are 'superseded')."""
    found = t.tx.entries(t.person.id, limit=1, flows=(flow.name,), statuses=("saved",))
    return found[0] if found else None


def question_text(t: Turn, answers: dict[str, str] | None = None) -> str:
    """The current question as it is asked (without any earlier answer shown under it)."""
    flow, step = t.flow, t.step
    assert t.conv.entry_id is not None
    answers = t.tx.answers(t.row.cipher, t.conv.entry_id) if answers is None else answers
    context = context_of(flow, answers)
    return render.tidy(
        step.ask.render(**context, step_number=flow.position(step.id), step_count=len(flow.steps))
    )


def show_chosen(t: Turn, label: str) -> None:
    """The pressed question keeps its words and shows the answer under it ("→ Not sure")."""
    text = question_text(t) + "\n\n" + msg("chosen", label=label)
    if render.telegram_length(text) <= render.MESSAGE_LIMIT:
        t.out.replace = Reply(text)


def ask(t: Turn) -> None:
    """Show the current question (again), with fresh buttons."""
    step = t.step
    assert t.conv.entry_id is not None
    answers = t.tx.answers(t.row.cipher, t.conv.entry_id)
    t.conv.turn += 1
    text = question_text(t, answers)
    earlier = answers.get(step.id)
    if earlier is not None:
        shown = content.display(step, earlier)
        text += "\n\n" + msg("previous_answer", answer=render.shorten(shown, 600))
    rows = choice_rows([Button(c.label, f"a:{t.conv.turn}:{c.value}") for c in step.choices])
    if t.flow.plan and earlier is not None and step.input == "text":
        rows.append([Button(msg("button_keep_answer"), f"a:{t.conv.turn}:keep")])
    if step.optional:
        rows.append([Button(msg("skip_button"), f"a:{t.conv.turn}:skip")])
    if step.input == "free" and any(content.base(k) == step.id for k in answers):
        rows.append([Button(msg("button_done"), f"a:{t.conv.turn}:done")])
    t.say(text, rows)


def ask_more(t: Turn) -> None:
    """After each part of a free entry: a short nod and a Done button, not the question."""
    t.conv.turn += 1
    t.say(
        msg("journal_part_saved"),
        [[Button(msg("button_done"), f"a:{t.conv.turn}:done")]],
    )


def keep(t: Turn) -> bool:
    """A plan's answer kept as it is: on to the next question."""
    if not t.flow.plan or t.step.input != "text":
        return False
    assert t.conv.entry_id is not None
    if t.step.id not in t.tx.answers(t.row.cipher, t.conv.entry_id):
        return False
    show_chosen(t, msg("kept_label"))
    advance(t, t.step.id)
    return True


def done(t: Turn) -> None:
    if t.conv.flow is None or t.step.input != "free":
        t.say(msg("nothing_to_finish"))
        t.resume()
        return
    assert t.conv.entry_id is not None
    step = t.step
    if not any(content.base(k) == step.id for k in t.tx.answers(t.row.cipher, t.conv.entry_id)):
        t.say(msg("nothing_written_yet"))
        return
    advance(t, "done")


def answer(t: Turn, value: str | None) -> None:
    """Save (or, when skipped, clear) the current step's answer, then move on."""
    step = t.step
    assert t.conv.entry_id is not None
    if value is None:
        t.tx.delete_answer(t.conv.entry_id, step.id)
    else:
        t.tx.put_answer(t.row.cipher, t.conv.entry_id, step.id, value)
    advance(t, value)


def advance(t: Turn, value: str | None) -> None:
    """Move to the step the question set's machine chooses for this answer."""
    flow, step = t.flow, t.step
    following = flow.advance(step.id, value)
    t.conv.history.append(step.id)
    if following == END:
        complete(t, flow)
    else:
        t.conv.step = following
        ask(t)


def complete(t: Turn, flow: Flow) -> None:
    entry_id = t.conv.entry_id
    assert entry_id is not None
    answers = t.tx.answers(t.row.cipher, entry_id)
    for key in [k for k in answers if content.base(k) not in t.conv.history]:
        # An answer left on a branch the person went back from is not part of this entry.
        t.tx.delete_answer(entry_id, key)
        del answers[key]
    t.tx.set_entry_status(entry_id, "saved")
    refresh_search(t, entry_id, flow.name, answers)
    summary = render.tidy(flow.summary.render(**context_of(flow, answers, shorten=True)))
    reset(t)
    if not tidy.finished(t, entry_id, title_of(flow.name)):  # tidy chat: one line, not all this
        for chunk in render.pack([summary, msg("saved")]):
            t.say(chunk)
    for completed in t.desk.hooks("completed"):
        completed(t, entry_id, flow.name)


def reset(t: Turn) -> None:
    t.conv.flow = t.conv.step = None
    t.conv.entry_id = None
    t.conv.history, t.conv.pending = [], None


def skip(t: Turn) -> None:
    if t.conv.flow is None:
        t.say(msg("nothing_to_skip"))
    elif not t.step.optional:
        t.say(msg("cannot_skip"))
        ask(t)
    else:
        answer(t, None)


def back(t: Turn) -> None:
    if t.conv.flow is None:
        t.say(msg("nothing_to_go_back_to"))
        return
    if not t.conv.history:
        t.say(msg("back_at_start"))
    else:
        t.conv.step = t.conv.history.pop()
    ask(t)


def cancel(t: Turn) -> None:
    if (t.conv.pending or {}).get("kind") == "identifying":
        identifying_choice(t, "keep")  # what they wrote is saved; leave it be
        return
    if t.conv.pending is not None:
        t.conv.pending = None
        t.say(msg("carry_on"))
        t.resume()
        return
    if t.conv.flow is None:
        t.say(msg("nothing_to_cancel"))
        return
    assert t.conv.entry_id is not None
    if not t.tx.answers(t.row.cipher, t.conv.entry_id):
        t.tx.delete_entry(t.conv.entry_id)
        reset(t)
        t.say(msg("cancelled_nothing_saved"))
        return
    t.conv.pending = {"kind": "cancel"}
    t.conv.turn += 1
    turn = t.conv.turn
    if revising(t):  # looking over a plan: stopping leaves the plan as it was, never a draft
        t.say(
            msg("plan_cancel_confirm", title=t.flow.title),
            [
                [Button(msg("button_plan_leave"), f"c:{turn}:discard")],
                [Button(msg("button_carry_on"), f"c:{turn}:stay")],
            ],
        )
        return
    t.say(
        msg("cancel_confirm", title=t.flow.title),
        [
            [Button(msg("button_keep_draft"), f"c:{turn}:keep")],
            [Button(msg("button_discard"), f"c:{turn}:discard")],
            [Button(msg("button_carry_on"), f"c:{turn}:stay")],
        ],
    )


def revising(t: Turn) -> bool:
    """Whether this run looks over a plan that already has a saved version."""
    return t.flow.plan and latest_version(t, t.flow) is not None


def cancel_choice(t: Turn, value: str) -> None:
    t.conv.pending = None
    entry_id = t.conv.entry_id
    assert entry_id is not None
    title = t.flow.title
    if value == "discard" and revising(t):
        t.tx.delete_entry(entry_id)  # this look-over's copy; the saved version is untouched
        reset(t)
        t.say(msg("plan_left_as_it_was", title=title))
    elif value == "keep" and not revising(t):
        t.tx.set_entry_status(entry_id, "draft")
        refresh_search(t, entry_id, t.flow.name)
        reset(t)
        t.say(msg("cancelled_draft", title=title))
    elif value == "discard":
        t.tx.delete_entry(entry_id)
        reset(t)
        t.say(msg("cancelled_discarded", title=title))
    else:
        t.say(msg("carry_on"))
        ask(t)


def switch_choice(t: Turn, value: str) -> None:
    target = wording().flows.get(str((t.conv.pending or {}).get("to")))
    t.conv.pending = None
    if value != "go" or target is None:
        t.say(msg("carry_on"))
        ask(t)
        return
    leave_as_draft(t)
    start_flow(t, target)


def leave_as_draft(t: Turn) -> None:
    """Leaving a flow never loses words: anything answered stays as a draft. Leaving a look
    over a plan leaves the plan as it was (as /cancel does): a plan is one document, no drafts."""
    entry_id = t.conv.entry_id
    if entry_id is None:
        return
    if revising(t):
        t.tx.delete_entry(entry_id)  # this look-over's copy; the saved version is untouched
        t.say(msg("plan_left_as_it_was", title=t.flow.title))
    elif t.tx.answers(t.row.cipher, entry_id):
        t.tx.set_entry_status(entry_id, "draft")
        refresh_search(t, entry_id, t.flow.name)
        t.say(msg("left_as_draft", title=t.flow.title))
    else:
        t.tx.delete_entry(entry_id)
    reset(t)


def link(t: Turn, rest: str) -> None:
    """Join this entry to an earlier one's sharing episode."""
    entry_text, _, target_text = rest.partition(":")
    entry_id, target_id = number(entry_text), number(target_text)
    entry = t.tx.entry(t.person.id, entry_id) if entry_id is not None else None
    target = t.tx.entry(t.person.id, target_id) if target_id is not None else None
    if entry is None or target is None:
        t.stale()
        return
    t.tx.set_entry_episode(entry.id, target.episode_id)
    label = t.entry_label(target)
    t.out.toast = msg("linked_toast", label=label)
    t.out.clear_buttons = True
    flow = wording().flows.get(entry.flow)
    if flow is not None:  # the offer keeps its words and shows the choice under them
        intro = render.tidy(flow.intro.render(**context_of(flow, {})))
        chosen = msg("chosen", label=msg("linked_choice", label=label))
        t.out.replace = Reply(intro + "\n\n" + chosen)


def replace_typed(t: Turn, text: str) -> None:
    """Text while we wait on an answer being rewritten or edited: it is the new version."""
    pending = dict(t.conv.pending or {})
    if not text.strip():
        t.say(msg("empty_answer"))
        return
    entry = t.tx.entry(t.person.id, int(pending.get("entry", 0)))
    if entry is None:
        t.conv.pending = None
        t.say(msg("entry_gone"))
        t.resume()
        return
    raw = t.tx.answers(t.row.cipher, entry.id)
    flow = wording().flows.get(entry.flow)
    key = str(pending["key"])
    then = str(pending.get("then", "edit"))
    if pending["kind"] == "edit":
        if key == content.NOTE:
            key = content.next_key(raw, content.NOTE)
        else:
            step = flow.steps.get(key) if flow else None
            if step is not None and step.input == "choice":
                choice = step.match_typed(text)
                if choice is None:
                    t.say(msg("choose_please"))
                    return
                text = choice.value
            elif step is not None and step.input == "free":
                for old in [k for k in raw if content.base(k) == key]:
                    t.tx.delete_answer(entry.id, old)
                key = f"{key}.1"
    label = label_of(flow, key)
    t.conv.pending = None
    save_typed(t, entry.id, key, text.strip())
    if entry.status != "in_progress":
        refresh_search(t, entry.id, entry.flow)
    warn(t, entry.id, key, text)
    carry_on_after(t, then, key, label)


def identifying_choice(t: Turn, value: str) -> None:
    """Keep / Rewrite under a warning from before warnings stopped pausing (its "i:turn:…"
    buttons and its pending "identifying" may still be in a chat and a conversation)."""
    pending = dict(t.conv.pending or {})
    if value == "rewrite":
        t.conv.pending = {**pending, "kind": "rewrite"}
        flow = wording().flows.get(t.conv.flow or "")
        t.say(msg("rewrite_prompt", label=label_of(flow, str(pending.get("key", "")))))
        return
    t.conv.pending = None
    t.out.toast = msg("kept_toast")
    carry_on_after(
        t,
        str(pending.get("then", "")),
        str(pending.get("key", "")),
        str(pending.get("label", "")),
    )


def context_of(flow: Flow, raw: dict[str, str], shorten: bool = False) -> dict[str, Any]:
    collapsed = content.collapse(flow, raw)
    answers = {
        b: render.shorten(text, SUMMARY_ANSWER_CHARS) if shorten else text
        for b, text in collapsed.items()
        if b in flow.steps
    }
    values = {s.id: raw[s.id] for s in flow.steps.values() if s.input == "choice" and s.id in raw}
    cautions = [
        s for s, v in values.items() if (c := flow.steps[s].choice(v)) is not None and c.caution
    ]
    steps = {s.id: {"label": s.label} for s in flow.steps.values()}
    return {
        "answers": answers,
        "values": values,
        "cautions": cautions,
        "steps": steps,
        "tags": content.tags(collapsed),
    }


def refresh_search(
    t: Turn, entry_id: int, flow_name: str, raw: dict[str, str] | None = None
) -> None:
    raw = t.tx.answers(t.row.cipher, entry_id) if raw is None else raw
    flow = wording().flows.get(flow_name)
    text = content.search_text(title_of(flow_name), flow, raw)
    t.tx.set_search_text(t.row.cipher, entry_id, text)


def choice_rows(buttons: list[Button]) -> list[list[Button]]:
    """Short labels side by side (Yes / Not sure / No), longer ones one to a row for phones."""
    if not buttons:
        return []
    if len(buttons) <= 3 and all(len(b.label) <= 14 for b in buttons):
        return [buttons]
    return [[b] for b in buttons]
