"""Team groups: a supervisor registers a Telegram group with /teamgroup (Telegram must say they
are an administrator there), lists and unregisters them; what happens when the bot leaves.

Nothing here talks to Telegram: the bot layer asks getChatMember and passes the answer in
(`Input.admin_in`, `GroupEvent.admin`), after asking `checks` which answers it needs."""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.features.supervision import db as sup_db
from flows.features.team import db as team_db
from flows.features.team.db import TeamGroupRow
from flows.kernel import gate, ids, render
from flows.kernel.model import Button, GroupEvent, Input, Outcome, Person, Reply
from flows.kernel.turn import Turn, msg
from flows.store.unit import Unit

GROUP_COMMAND = "teamgroup"
STRANGER_REPLY_EVERY = timedelta(minutes=10)  # a group's refusals, at most
LEAVE_UNREGISTERED_AFTER = timedelta(hours=1)


def group_title(group: TeamGroupRow) -> str:
    return group.title or msg("a_team_group")


def checks(tx: Unit, person_id: int, inp: Input) -> list[tuple[int, int]]:
    """(group chat id, user id) pairs whose administrator status this input depends on:
    the supervisor choosing a group or posting, or the worker saying yes (the post goes
    out under the supervisor's registration, so it is the supervisor who is checked).
    Only team buttons ever need one (see `needs_checks`)."""
    if inp.kind == "button" and inp.data.startswith("t:"):
        parts = inp.data.split(":")
        action = parts[1] if len(parts) > 1 else ""
        numbers = [n for n in ids.numbers(parts[2:]) if n is not None]
        if action in {"g", "b"} and len(numbers) == 2:
            group = team_db.team_group(tx, numbers[1])
            if group is not None and group.live and group.supervisor_id == person_id:
                return [(group.chat_id, person_id)]
        elif action in {"a", "f", "o"} and numbers:
            post = team_db.team_post(tx, numbers[0])
            group = team_db.team_group(tx, post.group_id) if post else None
            if (
                post is not None
                and group is not None
                and group.live
                and person_id in {post.worker_id, post.supervisor_id}
            ):
                return [(group.chat_id, post.supervisor_id)]
    return []


def group_event(tx: Unit, person: Person, event: GroupEvent, now: datetime) -> Outcome:
    """A group event. Replies (to /teamgroup only) are `out.replies`, for the group chat;
    they are catalogue wording, never anything a person wrote."""
    out = Outcome()
    if event.kind == "migrated" and event.new_chat_id is not None:
        team_db.team_group_migrate(tx, event.chat_id, event.new_chat_id)
        team_db.visit_migrate(tx, event.chat_id, event.new_chat_id)
    elif event.kind == "added":
        # Added by someone unknown here (no row in people): the group costs nothing from now on.
        known = tx.one("SELECT 1 FROM people WHERE id = ?", (person.id,)) is not None
        team_db.visit_added(tx, event.chat_id, now, stranger=not known)
    elif event.kind == "left":
        team_db.visit_end(tx, event.chat_id)
        for group in team_db.team_groups_in(tx, event.chat_id):
            team_db.team_group_end(tx, group.id, "removed", now)
            html = msg("group_removed_notice", title=group_title(group))
            # Their own doing is told at once; anyone else's waits for their quiet hours to end.
            mine = person.id == group.supervisor_id
            notice = gate.GroupNotice(group.id)
            gate.send(tx, out, group.supervisor_id, [Reply(html)], notice, now, asked=mine)
    elif event.kind == "command":
        register(tx, out, person, event, now)
    return out


def register(tx: Unit, out: Outcome, person: Person, event: GroupEvent, now: datetime) -> None:
    """Strangers cost nothing: someone who supervises nobody (or an anonymous administrator)
    gets no getChatMember asked about them and at most one short reply a group per ten minutes.
    Only a supervisor is checked with Telegram (`ask_admin`), then registers. In a group the
    bot was added to by someone unknown, nobody is checked: whoever asks, one short reply."""
    if team_db.visit_stranger(tx, event.chat_id):
        _stranger(tx, out, event.chat_id, "group_added_by_stranger", now)
        return
    if event.anonymous:
        _stranger(tx, out, event.chat_id, "group_anonymous_admin", now)
        return
    # Checked before anything is stored: someone unknown to the bot leaves no row behind.
    if not sup_db.supervisee_links(tx, person.id):
        _stranger(tx, out, event.chat_id, "group_no_supervisees", now)
        return
    if event.admin is None:
        out.ask_admin = True
        return
    if not event.admin:
        out.replies.append(Reply(msg("group_not_admin")))
        return
    row = tx.person(person.id)
    mine = [g for g in team_db.team_groups_in(tx, event.chat_id) if g.supervisor_id == person.id]
    if mine:
        if event.title:
            team_db.team_group_title(tx, mine[0].id, row.cipher, event.title)
        out.replies.append(Reply(msg("group_already_registered")))
        return
    group_id = team_db.team_group_register(tx, event.chat_id, row, event.title, now)
    team_db.visit_end(tx, event.chat_id)  # registered: never left for being unregistered
    out.replies.append(Reply(msg("group_registered")))
    html = msg("group_registered_notice", title=event.title or msg("a_team_group"))
    gate.send(tx, out, person.id, [Reply(html)], gate.GroupNotice(group_id), now, asked=True)


def _stranger(tx: Unit, out: Outcome, chat_id: int, key: str, now: datetime) -> None:
    if team_db.visit_may_reply(tx, chat_id, now, STRANGER_REPLY_EVERY):
        out.replies.append(Reply(msg(key)))


def strays(tx: Unit, now: datetime) -> list[int]:
    """Groups the bot was added to over an hour ago that nobody has registered: it leaves."""
    return team_db.visits_unregistered(tx, now - LEAVE_UNREGISTERED_AFTER)


def teams(t: Turn) -> None:
    groups = team_db.team_groups_of(t.tx, t.person.id)
    if not groups:
        t.say(msg("teams_empty"))
        return
    items = [{"title": group_title(g), "since": t.when(g.created_at)} for g in groups]
    rows = [
        [
            Button(
                render.shorten(msg("button_unregister", title=group_title(g)), 40),
                f"t:u:{g.id}:ask",
            )
        ]
        for g in groups
    ]
    t.say(msg("teams_list", groups=items), rows)


def unregister(t: Turn, group_id: int, stage: str) -> None:
    group = team_db.team_group(t.tx, group_id)
    if group is None or group.supervisor_id != t.person.id:
        t.not_found()
        return
    if not group.live:
        t.out.clear_buttons = True
        t.out.toast = msg("team_gone")
        return
    if stage == "ask":
        t.say(
            msg("unregister_confirm", title=group_title(group)),
            [
                [Button(msg("button_unregister_yes"), f"t:u:{group.id}:yes")],
                [Button(msg("button_keep_group"), f"t:u:{group.id}:no")],
            ],
        )
        return
    t.out.clear_buttons = True
    if stage != "yes":
        t.out.toast = msg("group_kept")
        return
    team_db.team_group_end(t.tx, group.id, "unregistered", t.now)
    t.say(msg("unregistered", title=group_title(group)))


def own_group(t: Turn, group_id: int) -> TeamGroupRow | None:
    group = team_db.team_group(t.tx, group_id)
    if group is None or group.supervisor_id != t.person.id or not group.live:
        return None
    return group
