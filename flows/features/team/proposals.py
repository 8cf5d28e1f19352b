"""Team learning proposed by a supervisor from a summary: the worker sees exactly what would be
posted (anonymous by default) and chooses: share anonymously, with their first name, edit, or
decline. Never posted without the worker's yes to the exact words; everything that reaches
another chat goes through `flows.kernel.gate`."""

from __future__ import annotations

from datetime import datetime

from flows.features.supervision import db as sup_db
from flows.features.supervision import links as supervision
from flows.features.supervision.db import LinkRow
from flows.features.team import db as team_db
from flows.features.team.db import TeamDraft, TeamGroupRow, TeamPostRow
from flows.features.team.groups import group_title, own_group
from flows.kernel import gate, identifying, render
from flows.kernel.crypto import Cipher
from flows.kernel.model import Button, Outcome, Reply
from flows.kernel.turn import Turn, msg, name_of, wording
from flows.questions import answers as content
from flows.store.unit import Unit

LEARNING_STEPS = frozenset({"learned"})  # answers that are "what I learned", in any question set


WANTS_TO_SHARE = ("share_learning", "yes")  # the reflection's last answer that offers it


FRAMING_LIMIT = 300


LEARNING_LIMIT = 1500


def typed(t: Turn, text: str) -> None:
    """Words while a framing line (supervisor) or a new version (worker) is awaited."""
    pending = dict(t.conv.pending or {})
    if pending.get("kind") == "team_framing":
        framing = " ".join(text.split())
        if len(framing) > FRAMING_LIMIT:
            t.say(msg("team_framing_too_long", limit=FRAMING_LIMIT))
            return
        t.conv.pending = None
        propose(t, int(pending.get("share", 0)), int(pending.get("group", 0)), framing)
    else:
        learning = text.strip()
        if len(learning) > LEARNING_LIMIT:
            t.say(msg("team_edit_too_long", limit=LEARNING_LIMIT))
            return
        t.conv.pending = None
        edited(t, int(pending.get("post", 0)), learning)


def offer(t: Turn, share_id: int) -> None:
    """Under a summary just opened from /summaries: propose it for a team group."""
    if visible_share(t, share_id) is None or not team_db.team_groups_of(t.tx, t.person.id):
        return
    t.say(
        msg("team_offer"),
        [[Button(msg("button_propose_team"), f"t:p:{share_id}")]],
    )


def visible_share(t: Turn, share_id: int) -> LinkRow | None:
    """The link a summary was shared over, if this supervisor may still see it."""
    share = sup_db.share(t.tx, share_id)
    link = sup_db.link(t.tx, share.link_id) if share else None
    if share is None or link is None or share.supervisor_id != t.person.id:
        return None
    if not link.active or not share.live(t.now):
        return None
    return link


def choose_group(t: Turn, share_id: int) -> None:
    if visible_share(t, share_id) is None:
        t.not_found()
        return
    groups = team_db.team_groups_of(t.tx, t.person.id)
    if not groups:
        t.say(msg("team_no_groups"))
        return
    rows = [[Button(render.shorten(group_title(g), 40), f"t:g:{share_id}:{g.id}")] for g in groups]
    t.say(msg("team_choose_group", mine=False, name=""), rows)


def chosen(t: Turn, share_id: int, group_id: int, without_line: bool) -> None:
    group = own_group(t, group_id)
    if visible_share(t, share_id) is None or group is None:
        t.not_found()
        return
    if group.chat_id not in t.admin_in:
        t.out.clear_buttons = True
        t.say(msg("team_not_admin", title=group_title(group), mine=True, name=""))
        return
    if without_line:
        t.out.clear_buttons = True
        t.conv.pending = None
        propose(t, share_id, group_id, "")
        return
    t.out.clear_buttons = True
    t.conv.pending = {"kind": "team_framing", "share": share_id, "group": group_id}
    t.say(
        msg("team_framing_ask", title=group_title(group), limit=FRAMING_LIMIT),
        [[Button(msg("button_no_framing"), f"t:b:{share_id}:{group_id}")]],
    )


def propose(t: Turn, share_id: int, group_id: int, framing: str) -> None:
    """Sent to the worker. (Telegram was asked whether the supervisor is an administrator
    there when they chose the group; it is asked again before anything is posted.)"""
    group = own_group(t, group_id)
    link = visible_share(t, share_id)
    share = sup_db.share(t.tx, share_id)
    if link is None or group is None or share is None:
        t.say(msg("team_gone"))
        return
    cipher = t.tx.cipher_of(share.worker_id)
    if cipher is None:
        t.say(msg("team_gone"))
        return
    learning = learning_of(t.tx, cipher, share.worker_id, share.answers)
    if not learning:
        t.say(msg("team_nothing_learned"))
        return
    draft = TeamDraft(framing, learning)
    post_id = team_db.team_post_create(
        t.tx, group, link, t.person.id, share.id, None, cipher, draft, t.now
    )
    team_db.team_post_event(t.tx, post_id, "asked", t.now)
    post = team_db.team_post(t.tx, post_id)
    assert post is not None
    worker = t.tx.name_of(share.worker_id)
    html, buttons = preview(t.tx, post, group, draft, worker, "", by=name_of(t.tx, t.person.id))
    gate.send(
        t.tx, t.out, share.worker_id, [Reply(html, buttons)], gate.TeamProposal(post_id), t.now
    )
    t.say(
        msg(
            "team_sent_to_worker",
            name=name_of(t.tx, share.worker_id),
            title=group_title(group),
        )
    )


def learning_of(tx: Unit, cipher: Cipher, worker_id: int, answers: list[tuple[int, str]]) -> str:
    """The words to start from: the shared "what I learned" answers, else every shared
    written answer. Only answers that were shared; the worker can change it all."""
    texts: list[tuple[bool, str]] = []
    for entry_id, key in answers:
        entry = tx.entry(worker_id, entry_id)
        if entry is None:
            continue
        flow = wording().flows.get(entry.flow)
        step = flow.steps.get(content.base(key)) if flow else None
        if step is not None and step.input == "choice":
            continue
        collapsed = content.collapse(flow, tx.answers(cipher, entry_id))
        if key in collapsed:
            texts.append((content.base(key) in LEARNING_STEPS, collapsed[key].strip()))
    learned = [text for is_learning, text in texts if is_learning and text]
    chosen = learned or [text for _, text in texts if text]
    return render.shorten("\n\n".join(chosen), LEARNING_LIMIT) if chosen else ""


def post_html(draft: TeamDraft, name: str | None) -> str:
    return msg("team_post", name=name, framing=draft.framing, learning=draft.learning)


def preview(
    tx: Unit,
    post: TeamPostRow,
    group: TeamGroupRow,
    draft: TeamDraft,
    name: str,
    username: str,
    by: str,
) -> tuple[str, list[list[Button]]]:
    """Exactly what would be posted (anonymous), what to look out for, and the choices."""
    html = post_html(draft, None)
    plain = render.to_plain(html)
    kinds = [msg(f"kind_{k}") for k in identifying.kinds(plain)]
    named = gate.mentions(plain, [name, username])
    text = msg(
        "team_preview",
        by=by,
        mine=post.proposed_by == post.worker_id,
        title=group_title(group),
        post=html,
        kinds=kinds,
        named=bool(named),
    )
    v = post.version
    rows = [
        [Button(msg("button_team_anonymous"), f"t:a:{post.id}:{v}")],
        [Button(msg("button_team_named"), f"t:f:{post.id}:{v}")],
        [
            Button(msg("button_team_edit"), f"t:e:{post.id}"),
            Button(msg("button_team_decline"), f"t:d:{post.id}"),
        ],
    ]
    return text, rows


def worker_post(t: Turn, post_id: int) -> TeamPostRow | None:
    """The post, if it is this worker's; otherwise "not found"."""
    post = team_db.team_post(t.tx, post_id)
    if post is None or post.worker_id != t.person.id:
        t.not_found()
        return None
    return post


def still_open(t: Turn, post: TeamPostRow) -> TeamGroupRow | None:
    """The group, if the proposal can still go ahead; otherwise a kind word why not."""
    group = team_db.team_group(t.tx, post.group_id)
    link = sup_db.link(t.tx, post.link_id)
    if not post.open or (post.state == "consented" and post.proposed_by == post.worker_id):
        t.out.clear_buttons = True
        t.out.toast = msg("team_answered")
        return None
    if group is None or not group.live or link is None or not link.active:
        t.out.clear_buttons = True
        t.say(msg("team_gone"))
        return None
    return group


def show_again(t: Turn, post: TeamPostRow, group: TeamGroupRow) -> None:
    draft = team_db.team_draft(t.tx, t.row.cipher, post.id)
    if draft is None:
        t.say(msg("team_gone"))
        return
    fresh = team_db.team_post(t.tx, post.id)
    assert fresh is not None
    html, rows = preview(
        t.tx,
        fresh,
        group,
        draft,
        t.row.name,
        t.person.username,
        name_of(t.tx, post.supervisor_id),
    )
    t.say(html, rows)


def consent(t: Turn, post_id: int, version: int, mode: str) -> None:
    post = worker_post(t, post_id)
    if post is None:
        return
    group = still_open(t, post)
    if group is None:
        return
    if version != post.version:
        t.out.clear_buttons = True
        t.say(msg("team_preview_changed"))
        show_again(t, post, group)
        return
    draft = team_db.team_draft(t.tx, t.row.cipher, post.id)
    if draft is None:
        t.say(msg("team_gone"))
        return
    avoid = [t.row.name, t.person.username] if mode == "anonymous" else []
    html = post_html(draft, None if mode == "anonymous" else t.row.name)
    if mode == "anonymous" and gate.mentions(render.to_plain(html), avoid):
        t.out.toast = msg("team_name_in_text")
        return
    mine = post.proposed_by == post.worker_id
    if not mine and group.chat_id not in t.admin_in:
        t.out.clear_buttons = True
        t.say(
            msg(
                "team_not_admin",
                title=group_title(group),
                mine=False,
                name=name_of(t.tx, post.supervisor_id),
            )
        )
        return
    team_db.team_consent(t.tx, t.row.cipher, post.id, html, [w for w in avoid if w])
    team_db.team_post_event(t.tx, post.id, "consented", t.now, mode)
    supervisor = post.supervisor_id
    name = name_of(t.tx, supervisor)
    if mine:
        buttons = [
            [Button(msg("button_team_post"), f"t:o:{post.id}")],
            [Button(msg("button_team_not_now"), f"t:x:{post.id}")],
        ]
        request = msg(
            "team_request",
            name=name_of(t.tx, t.person.id),
            title=group_title(group),
            anonymous=mode == "anonymous",
            post=html,
        )
        gate.send(
            t.tx, t.out, supervisor, [Reply(request, buttons)], gate.TeamRequest(post.id), t.now
        )
        t.out.replace = Reply(msg("team_requested", name=name, title=group_title(group)))
        return
    post_to_group(t.tx, t.out, post.id, group, html, t.now)
    t.out.replace = Reply(
        msg("team_posted_worker", title=group_title(group), anonymous=mode == "anonymous")
    )
    supervision.notice(
        t.tx,
        t.out,
        post.link_id,
        supervisor,
        "team_posted_supervisor",
        t.now,
        t.person.id,
        title=group_title(group),
        anonymous=mode == "anonymous",
        mine=False,
    )


def post_to_group(
    tx: Unit, out: Outcome, post_id: int, group: TeamGroupRow, html: str, now: datetime
) -> None:
    team_db.team_post_event(tx, post_id, "posted", now)
    gate.send(tx, out, group.chat_id, [Reply(html)], gate.TeamPost(post_id), now)


def edit(t: Turn, post_id: int) -> None:
    post = worker_post(t, post_id)
    if post is None or still_open(t, post) is None:
        return
    draft = team_db.team_draft(t.tx, t.row.cipher, post.id)
    if draft is None:
        t.say(msg("team_gone"))
        return
    t.out.clear_buttons = True
    t.conv.pending = {"kind": "team_edit", "post": post.id}
    words = "\n\n".join(w for w in (draft.framing, draft.learning) if w)
    t.say(msg("team_edit_ask", limit=LEARNING_LIMIT, words=words))


def edited(t: Turn, post_id: int, learning: str) -> None:
    """The worker's own version replaces all the words, the supervisor's line too (it is
    shown to them to copy, keep or change): what is posted is theirs to decide."""
    post = team_db.team_post(t.tx, post_id)
    if post is None or post.worker_id != t.person.id:
        t.say(msg("team_gone"))  # typed words get a reply, never a silent toast
        return
    if post.state not in {"asked", "edited"}:
        t.say(msg("team_answered"))
        return
    group = still_open(t, post)
    draft = team_db.team_draft(t.tx, t.row.cipher, post_id)
    if group is None or draft is None:
        return
    if not learning:
        t.say(msg("empty_answer"))
        return
    team_db.team_draft_set(t.tx, t.row.cipher, post.id, TeamDraft("", learning))
    team_db.team_post_event(t.tx, post.id, "edited", t.now)
    show_again(t, post, group)


def decline(t: Turn, post_id: int) -> None:
    post = worker_post(t, post_id)
    if post is None:
        return
    if not post.open:
        t.out.clear_buttons = True
        t.out.toast = msg("team_answered")
        return
    group = team_db.team_group(t.tx, post.group_id)
    team_db.team_post_end(t.tx, post.id, "declined", t.now)
    t.out.replace = Reply(msg("team_declined_worker"))
    if post.proposed_by == post.supervisor_id:
        supervision.notice(
            t.tx,
            t.out,
            post.link_id,
            post.supervisor_id,
            "team_declined_supervisor",
            t.now,
            t.person.id,
            title=group_title(group) if group else msg("a_team_group"),
        )
