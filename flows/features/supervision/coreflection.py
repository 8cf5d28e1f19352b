"""Co-reflection: both people answer the same questions apart, then choose together whether to
see each other's answers."""

from __future__ import annotations

from datetime import datetime

from flows.features.supervision import db as sup_db
from flows.features.supervision.db import LinkRow
from flows.features.supervision.links import links_of, notice
from flows.kernel import gate, render
from flows.kernel.model import Button, Outcome, Reply
from flows.kernel.turn import Turn, msg, name_of, wording
from flows.questions import answers as content
from flows.questions import runner
from flows.store.unit import Unit


def coreflect(t: Turn) -> None:
    links = links_of(t)
    if not links:
        t.say(msg("coreflect_no_link"))
    elif len(links) == 1:
        coreflect_on(t, links[0].id)
    else:
        rows = [[Button(name_of(t.tx, link.other(t.person.id)), f"q:{link.id}")] for link in links]
        t.say(msg("coreflect_choose"), rows)


def coreflect_on(t: Turn, link_id: int) -> None:
    link = sup_db.link(t.tx, link_id)
    if link is None or not link.active or not link.has(t.person.id):
        t.not_found()
        return
    if t.conv.flow is not None:
        t.say(msg("coreflect_busy", title=t.flow.title))
        runner.ask(t)
        return
    current = sup_db.open_round(t.tx, link.id)
    other = link.other(t.person.id)
    if current is None:
        round_id = sup_db.round_create(t.tx, link, t.person.id, t.now)
        notice(
            t.tx,
            t.out,
            link.id,
            other,
            "round_invite",
            t.now,
            t.person.id,
            [
                [Button(msg("button_answer_now"), f"r:{round_id}:join")],
                [Button(msg("button_not_this_time"), f"r:{round_id}:pass")],
            ],
        )
        answer_round(t, round_id)
        return
    round_button(t, current.id, "join")


def answer_round(t: Turn, round_id: int) -> None:
    flow = next(f for f in wording().flows.values() if f.together)
    runner.start_flow(t, flow)
    sup_db.round_part(t.tx, round_id, t.person.id, entry_id=t.conv.entry_id)


def round_button(t: Turn, round_id: int, action: str) -> None:
    found = sup_db.round(t.tx, round_id)
    if found is None or t.person.id not in found.parts:
        t.not_found()
        return
    link = sup_db.link(t.tx, found.link_id)
    if found.outcome is not None or link is None or not link.active:
        t.out.clear_buttons = True
        t.say(msg("round_closed"))
        return
    me = found.parts[t.person.id]
    other = link.other(t.person.id)
    if action == "withdraw":
        sup_db.round_close(t.tx, found.id, "withdrawn", t.now)
        t.out.clear_buttons = True
        notice(t.tx, t.out, link.id, other, "round_withdrawn", t.now, t.person.id)
        t.say(msg("round_withdrawn", name=name_of(t.tx, other), mine=True))
        return
    if action == "pass":
        if me.finished or me.entry_id is not None:
            t.out.toast = msg("round_already_joined")
            return
        # Not this time: the round closes, nothing is shown, and the other person is told
        # kindly (a supervisee may not feel free simply to ignore their supervisor).
        sup_db.round_close(t.tx, found.id, "declined", t.now)
        t.out.clear_buttons = True
        notice(t.tx, t.out, link.id, other, "round_passed", t.now, t.person.id)
        t.say(msg("round_passed_mine", name=name_of(t.tx, other)))
        return
    if action == "join":
        if me.finished:
            t.say(
                msg("round_waiting", name=name_of(t.tx, other)),
                [[Button(msg("button_withdraw_round"), f"r:{found.id}:withdraw")]],
            )
        elif t.conv.flow is not None:
            t.say(msg("coreflect_busy", title=t.flow.title))
            runner.ask(t)
        else:
            t.out.clear_buttons = True
            answer_round(t, found.id)
        return
    if action not in {"reveal", "keep"} or not all(p.finished for p in found.parts.values()):
        t.not_found()
        return
    t.out.clear_buttons = True
    if action == "keep":
        sup_db.round_part(t.tx, found.id, t.person.id, reveal=False)
        sup_db.round_close(t.tx, found.id, "declined", t.now)
        notice(t.tx, t.out, link.id, other, "round_declined", t.now, t.person.id)
        t.say(msg("round_declined", name=name_of(t.tx, other), mine=True))
        return
    sup_db.round_part(t.tx, found.id, t.person.id, reveal=True)
    if found.parts[other].reveal is not True:
        t.say(msg("round_reveal_waiting", name=name_of(t.tx, other)))
        return
    reveal(t.tx, t.out, found.id, link, t.now, by=t.person.id)


def completed(t: Turn, entry_id: int, flow: str) -> None:
    """A co-reflection answer set is finished: when both are, ask both about revealing."""
    found = sup_db.round_of_entry(t.tx, entry_id)
    if found is None or found.outcome is not None:
        return
    link = sup_db.link(t.tx, found.link_id)
    if link is None or not link.active:
        return
    sup_db.round_part(t.tx, found.id, t.person.id, finished=t.now)
    other = link.other(t.person.id)
    if not found.parts[other].finished:
        t.say(
            msg("round_waiting", name=name_of(t.tx, other)),
            [[Button(msg("button_withdraw_round"), f"r:{found.id}:withdraw")]],
        )
        return
    buttons = [
        [Button(msg("button_reveal"), f"r:{found.id}:reveal")],
        [Button(msg("button_keep_mine"), f"r:{found.id}:keep")],
    ]
    notice(t.tx, t.out, link.id, other, "round_reveal_ask", t.now, t.person.id, buttons)
    t.say(msg("round_reveal_ask", name=name_of(t.tx, other)), buttons)


def reveal(
    tx: Unit, out: Outcome, round_id: int, link: LinkRow, now: datetime, by: int | None = None
) -> None:
    """Both said yes: each receives both answer sets, side by side, then the round closes (the
    one who said yes last, `by`, sees them at once; the other after their quiet hours)."""
    found = sup_db.round(tx, round_id)
    assert found is not None
    flow = next(f for f in wording().flows.values() if f.together)
    sets: dict[int, dict[str, str]] = {}
    for person_id, part in found.parts.items():
        cipher = tx.cipher_of(person_id)
        entry = tx.entry(person_id, part.entry_id) if part.entry_id else None
        if cipher is None or entry is None:
            # An answer set was deleted meanwhile: nothing is revealed.
            sup_db.round_close(tx, found.id, "withdrawn", now)
            for p in found.parts:
                notice(tx, out, link.id, p, "round_closed", now, p)
            return
        sets[person_id] = content.collapse(flow, tx.answers(cipher, entry.id))
    for viewer in found.parts:
        other = link.other(viewer)
        steps = [
            {
                "label": step.label,
                "mine": sets[viewer].get(step.id, ""),
                "theirs": sets[other].get(step.id, ""),
            }
            for step in flow.steps.values()
        ]
        html = msg("round_revealed", name=name_of(tx, other), steps=steps)
        replies = [Reply(chunk) for chunk in render.pack([html])]
        gate.send(tx, out, viewer, replies, gate.Reveal(found.id), now, asked=viewer == by)
    sup_db.round_close(tx, found.id, "revealed", now)
