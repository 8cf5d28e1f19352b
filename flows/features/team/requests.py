"""Team learning a worker starts themselves: a reflection that said they would like to share what
they learned (/share → Team learning); their yes goes to the supervisor, who posts it."""

from __future__ import annotations

from typing import Any

from flows.features.supervision import db as sup_db
from flows.features.supervision import links as supervision
from flows.features.supervision.db import LinkRow
from flows.features.team import db as team_db
from flows.features.team.db import TeamDraft
from flows.features.team.groups import group_title
from flows.features.team.proposals import WANTS_TO_SHARE, learning_of, post_to_group, preview
from flows.kernel import render
from flows.kernel.model import Button
from flows.kernel.turn import Turn, msg, name_of, wording
from flows.questions import answers as content


def wanting(t: Turn) -> list[Any]:
    """Reflections whose last answer said they would like to share their learning."""
    key, value = WANTS_TO_SHARE
    found = []
    for entry in t.tx.entries(t.person.id, limit=50, flows=["reflection"], statuses=("saved",)):
        if t.tx.answers(t.row.cipher, entry.id).get(key) == value:
            found.append(entry)
        if len(found) == 5:
            break
    return found


def share_menu_rows(t: Turn, link: LinkRow) -> list[list[Button]]:
    """A Team learning row for /share, for a worker who said they would like that."""
    if not team_db.team_groups_of(t.tx, link.supervisor_id) or not wanting(t):
        return []
    return [[Button(msg("button_team_learning"), "t:s")]]


def pick_reflection(t: Turn) -> None:
    link = sup_db.supervisor_link(t.tx, t.person.id)
    entries = wanting(t) if link else []
    if link is None or not entries or not team_db.team_groups_of(t.tx, link.supervisor_id):
        t.say(msg("team_gone"))
        return
    # Each recognisable by its date and first words, as /entries shows it.
    heading = msg("team_pick_reflection", name=name_of(t.tx, link.supervisor_id))
    t.say(*t.picker(heading, [(t.recognisable(e), f"t:r:{e.id}") for e in entries]))


def choose_group_for_entry(t: Turn, entry_id: int) -> None:
    link = sup_db.supervisor_link(t.tx, t.person.id)
    entry = t.tx.entry(t.person.id, entry_id)
    if link is None or entry is None or entry.status != "saved":
        t.not_found()
        return
    groups = team_db.team_groups_of(t.tx, link.supervisor_id)
    if not groups:
        t.say(msg("team_gone"))
        return
    rows = [[Button(render.shorten(group_title(g), 40), f"t:q:{entry.id}:{g.id}")] for g in groups]
    t.say(msg("team_choose_group", mine=True, name=name_of(t.tx, link.supervisor_id)), rows)


def request(t: Turn, entry_id: int, group_id: int) -> None:
    link = sup_db.supervisor_link(t.tx, t.person.id)
    entry = t.tx.entry(t.person.id, entry_id)
    group = team_db.team_group(t.tx, group_id)
    if (
        link is None
        or entry is None
        or group is None
        or not group.live
        or group.supervisor_id != link.supervisor_id
    ):
        t.not_found()
        return
    flow = wording().flows.get(entry.flow)
    keys = content.collapse(flow, t.tx.answers(t.row.cipher, entry.id))
    learning = learning_of(t.tx, t.row.cipher, t.person.id, [(entry.id, k) for k in keys])
    if not learning:
        t.say(msg("team_nothing_learned"))
        return
    t.out.clear_buttons = True
    draft = TeamDraft("", learning)
    post_id = team_db.team_post_create(
        t.tx, group, link, t.person.id, None, entry.id, t.row.cipher, draft, t.now
    )
    team_db.team_post_event(t.tx, post_id, "asked", t.now)
    post = team_db.team_post(t.tx, post_id)
    assert post is not None
    html, rows = preview(
        t.tx,
        post,
        group,
        draft,
        t.row.name,
        t.person.username,
        name_of(t.tx, link.supervisor_id),
    )
    t.say(html, rows)


def supervisor_answer(t: Turn, post_id: int, post_it: bool) -> None:
    """The supervisor posts (or not) what the worker asked, and already said yes to."""
    post = team_db.team_post(t.tx, post_id)
    if post is None or post.supervisor_id != t.person.id or post.proposed_by != post.worker_id:
        t.not_found()
        return
    group = team_db.team_group(t.tx, post.group_id)
    link = sup_db.link(t.tx, post.link_id)
    t.out.clear_buttons = True
    if post.state != "consented":
        t.out.toast = msg("team_answered")
        return
    if group is None or not group.live or link is None or not link.active:
        t.say(msg("team_gone"))
        return
    if not post_it:
        team_db.team_post_end(t.tx, post.id, "declined", t.now)
        t.say(msg("team_request_declined_supervisor"))
        supervision.notice(
            t.tx,
            t.out,
            post.link_id,
            post.worker_id,
            "team_request_declined_worker",
            t.now,
            t.person.id,
            title=group_title(group),
        )
        return
    if group.chat_id not in t.admin_in:
        t.say(msg("team_not_admin", title=group_title(group), mine=True, name=""))
        return
    consented = team_db.team_consented(t.tx, post.id)
    if consented is None:
        t.say(msg("team_gone"))
        return
    post_to_group(t.tx, t.out, post.id, group, consented[0], t.now)
    t.say(
        msg(
            "team_posted_supervisor",
            title=group_title(group),
            anonymous=post.mode == "anonymous",
            mine=True,
            name=name_of(t.tx, post.worker_id),
        )
    )
    supervision.notice(
        t.tx,
        t.out,
        post.link_id,
        post.worker_id,
        "team_posted_worker",
        t.now,
        t.person.id,
        title=group_title(group),
        anonymous=post.mode == "anonymous",
        by=True,
    )
