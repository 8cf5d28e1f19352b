"""What a worker shared with a team, withdrawing it (deleting the post where Telegram allows),
a post Telegram refused, /forget, and the export."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flows.features.supervision import links as supervision
from flows.features.team import db as team_db
from flows.features.team.db import TeamGroupRow, TeamPostRow
from flows.features.team.groups import group_title
from flows.features.team.proposals import worker_post
from flows.kernel import gate
from flows.kernel.export import iso_z
from flows.kernel.model import Button, Outcome, Reply
from flows.kernel.turn import Turn, msg
from flows.store.unit import Unit

DELETE_WINDOW = timedelta(hours=48)  # Telegram lets a bot delete its messages for 48 hours


def has_posts(t: Turn) -> bool:
    return bool(team_db.team_posts_by_worker(t.tx, t.person.id))


def shared(t: Turn) -> None:
    """The team part of /shared (nothing, if nothing was ever said yes to)."""
    posts = team_db.team_posts_by_worker(t.tx, t.person.id)
    if not posts:
        return
    items = []
    rows: list[list[Button]] = []
    for number, post in enumerate(posts, start=1):
        group = team_db.team_group(t.tx, post.group_id)
        items.append(
            {
                "number": number,
                "title": group_title(group) if group else msg("a_team_group"),
                "when": t.when(post.created_at),
                "state": post.state,
                "anonymous": post.mode == "anonymous",
            }
        )
        if post.state in {"posted", "consented"}:
            label = msg("button_team_withdraw", number=number)
            rows.append([Button(label, f"t:w:{post.id}:ask")])
    t.say(msg("team_shared_list", items=items), rows)


def withdraw(t: Turn, post_id: int, stage: str) -> None:
    post = worker_post(t, post_id)
    if post is None:
        return
    if post.state not in {"posted", "consented"}:
        t.out.clear_buttons = True
        t.out.toast = msg("already_over")
        return
    group = team_db.team_group(t.tx, post.group_id)
    title = group_title(group) if group else msg("a_team_group")
    if stage == "ask":
        t.say(
            msg("team_withdraw_confirm", title=title, posted=post.posted),
            [
                [Button(msg("button_team_withdraw_yes"), f"t:w:{post.id}:yes")],
                [Button(msg("button_keep_shared"), f"t:w:{post.id}:no")],
            ],
        )
        return
    t.out.clear_buttons = True
    if stage != "yes":
        t.out.toast = msg("team_kept")
        return
    kept = end_post(t.tx, t.out, post, group, t.now)
    t.say(msg("team_withdrawn", title=title, kept=kept, posted=post.posted))


def end_post(
    tx: Unit,
    out: Outcome,
    post: TeamPostRow,
    group: TeamGroupRow | None,
    now: datetime,
    tell: bool = True,
) -> int:
    """Withdrawn: a new row, the words deleted, the group's copy deleted where Telegram
    still allows it (and the bot is still there, in the same chat). Returns how many copies
    were left for the supervisor to delete."""
    copies = team_db.team_post_end(tx, post.id, "withdrawn", now)
    out.scrub = True  # the words are deleted: no copy left in the WAL either
    kept = 0
    for chat_id, message_id, sent_at in copies:
        recent = now - sent_at < DELETE_WINDOW
        if chat_id == post.supervisor_id:  # the worker's request, in the supervisor's chat
            deletable = recent
        else:
            deletable = (
                recent
                and group is not None
                and group.ended != "removed"
                and group.chat_id == chat_id
            )
            if not deletable:
                kept += 1
        if deletable:
            removal = Reply("", delete_message=message_id)
            gate.send(tx, out, chat_id, [removal], gate.TeamRemoval(post.id), now)
    if post.posted and tell:
        supervision.notice(
            tx,
            out,
            post.link_id,
            post.supervisor_id,
            "team_withdrawn_notice",
            now,
            post.worker_id,
            title=group_title(group) if group else msg("a_team_group"),
            kept=kept,
            when=post.at.strftime("%-d %b"),
        )
    return kept


def not_posted(tx: Unit, out: Outcome, post_id: int, chat_id: int, now: datetime) -> None:
    """Telegram refused the post (the bot is no longer in the group, say): not posted."""
    post = team_db.team_post(tx, post_id)
    group = team_db.team_group(tx, post.group_id) if post else None
    if (
        post is None
        or group is None
        or post.state != "posted"
        or team_db.team_post_copies(tx, post_id)
    ):
        return
    team_db.team_post_end(tx, post.id, "not_posted", now)
    for person in (post.worker_id, post.supervisor_id):
        supervision.notice(
            tx,
            out,
            post.link_id,
            person,
            "team_not_posted",
            now,
            person,
            title=group_title(group),
        )


def before_forget(t: Turn) -> dict[str, int]:
    """Erasing everything withdraws every post (deleting copies where allowed) and ends the
    person's own registrations, before the rows go. The supervisor is told in the one message
    /forget sends them, so this returns what it did (see supervision's forgetting.py)."""
    posts = kept = 0
    for post in team_db.team_posts_by_worker(t.tx, t.person.id):
        if post.state in {"posted", "consented"}:
            group = team_db.team_group(t.tx, post.group_id)
            kept += end_post(t.tx, t.out, post, group, t.now, tell=False)
            posts += 1
    for group in team_db.team_groups_of(t.tx, t.person.id):
        team_db.team_group_end(t.tx, group.id, "unregistered", t.now)
    return {"posts": posts, "kept": kept}


def forget_also(t: Turn) -> list[dict[str, Any]]:
    """For /forget's "are you sure?": the team posts it withdraws."""
    live = [
        p
        for p in team_db.team_posts_by_worker(t.tx, t.person.id)
        if p.state in {"posted", "consented"}
    ]
    return [{"what": "team_posts", "name": "", "count": len(live)}] if live else []


def export(tx: Unit, worker_id: int) -> list[dict[str, Any]]:
    """What the worker said yes to for a team group and how each stands: never the words."""
    items: list[dict[str, Any]] = []
    for post in team_db.team_posts_by_worker(tx, worker_id):
        group = team_db.team_group(tx, post.group_id)
        items.append(
            {
                "id": post.id,
                "group": {
                    "chat_id": group.chat_id if group else None,
                    "title": group.title if group else "",
                },
                "supervisor": {
                    "id": post.supervisor_id,
                    "first_name": tx.name_of(post.supervisor_id),
                },
                "proposed_by": post.proposed_by,
                "share_id": post.share_id,
                "entry_id": post.entry_id,
                "created_at": iso_z(post.created_at),
                "status": post.state,
                "mode": post.mode,
                "history": team_db.team_post_history(tx, post.id),
            }
        )
    return items
