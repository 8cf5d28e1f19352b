"""Team learning: a supervisor carries consented learning to a team group, never without the
worker's yes to the exact words.

A supervisor registers a Telegram group with /teamgroup (Telegram must say they are an
administrator there), proposes learning from a summary in /summaries, and may add a framing line.
The worker sees exactly what would be posted (anonymous by default) and chooses: share
anonymously, share with their first name, edit, or decline. A worker whose reflection said they
would like to share their learning can start it themselves (/share → Team learning): their yes
goes to the supervisor, who posts it. Withdrawal from /shared deletes the post where Telegram
allows. Everything that reaches another chat goes through `flows.kernel.gate`.

Nothing here talks to Telegram: the bot layer asks getChatMember and passes the answer in
(`Input.admin_in`, `GroupEvent.admin`), after asking `checks` which answers it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from flows.features.supervision import db as sup_db
from flows.features.supervision.db import LinkRow
from flows.features.team import db as team_db
from flows.features.team.db import TeamDraft, TeamGroupRow, TeamPostRow
from flows.kernel import gate, identifying, render
from flows.kernel.crypto import Cipher
from flows.kernel.export import iso_z
from flows.kernel.model import Button, Input, Outcome, Person, Reply
from flows.kernel.turn import Turn
from flows.questions import answers as content
from flows.store.unit import Unit

if TYPE_CHECKING:
    from flows.questions.catalogue import Catalogue
    from flows.service import Service

TEAM_COMMANDS = ("teams", "teamgroup")
GROUP_COMMAND = "teamgroup"
DELETE_WINDOW = timedelta(hours=48)  # Telegram lets a bot delete its messages for 48 hours
LEARNING_STEPS = frozenset({"learned"})  # answers that are "what I learned", in any question set
WANTS_TO_SHARE = ("share_learning", "yes")  # the reflection's last answer that offers it
FRAMING_LIMIT = 300
LEARNING_LIMIT = 1500
PENDING_KINDS = frozenset({"team_framing", "team_edit"})

TEAM_MESSAGES = frozenset(
    {
        "team_post",
        "group_registered",
        "group_already_registered",
        "group_not_admin",
        "group_no_supervisees",
        "group_registered_notice",
        "group_removed_notice",
        "teamgroup_private",
        "teams_empty",
        "teams_list",
        "button_unregister",
        "unregister_confirm",
        "button_unregister_yes",
        "button_keep_group",
        "unregistered",
        "group_kept",
        "team_offer",
        "button_propose_team",
        "team_no_groups",
        "team_choose_group",
        "team_not_admin",
        "team_framing_ask",
        "button_no_framing",
        "team_framing_too_long",
        "team_sent_to_worker",
        "team_preview",
        "button_team_anonymous",
        "button_team_named",
        "button_team_edit",
        "button_team_decline",
        "team_name_in_text",
        "team_edit_ask",
        "team_edit_too_long",
        "team_preview_changed",
        "team_posted_worker",
        "team_posted_supervisor",
        "team_declined_worker",
        "team_declined_supervisor",
        "team_answered",
        "team_gone",
        "team_nothing_learned",
        "button_team_learning",
        "team_pick_reflection",
        "team_request",
        "button_team_post",
        "button_team_not_now",
        "team_requested",
        "team_request_declined_worker",
        "team_request_declined_supervisor",
        "team_shared_list",
        "button_team_withdraw",
        "team_withdraw_confirm",
        "button_team_withdraw_yes",
        "team_withdrawn",
        "team_withdrawn_notice",
        "team_kept",
        "a_team_group",
        "team_not_posted",
        "group_anonymous_admin",
    }
)


def needs_checks(inp: Input) -> bool:
    """Whether the bot layer should ask `Team.checks` at all: only for team buttons, so no
    other input costs a database read or a Bot API call."""
    return inp.kind == "button" and inp.data.startswith("t:")


@dataclass(frozen=True, slots=True)
class GroupEvent:
    """Something in a group chat the bot cares about (all else there it ignores).

    `command`: /teamgroup, with `admin` as getChatMember said just before. `left`: the bot was
    removed or left. `migrated`: the group became a supergroup; `new_chat_id` is its id now.
    """

    kind: Literal["command", "left", "migrated"]
    chat_id: int
    title: str = ""
    admin: bool = False
    new_chat_id: int | None = None
    anonymous: bool = False  # sent by an administrator who remains anonymous: nobody to check


class Team:
    def __init__(self, service: Service) -> None:
        self.svc = service

    @property
    def cat(self) -> Catalogue:
        """The wording of the person being answered (see Service.cat)."""
        return self.svc.cat

    def say(self, message: str, /, **context: Any) -> str:
        return self.cat.say(message, **context)

    def name(self, tx: Unit, person_id: int) -> str:
        return tx.name_of(person_id) or self.say("someone")

    def title(self, group: TeamGroupRow) -> str:
        return group.title or self.say("a_team_group")

    # ---- what the bot layer must ask Telegram first ---------------------------------------

    def checks(self, tx: Unit, person_id: int, inp: Input) -> list[tuple[int, int]]:
        """(group chat id, user id) pairs whose administrator status this input depends on:
        the supervisor choosing a group or posting, or the worker saying yes (the post goes
        out under the supervisor's registration, so it is the supervisor who is checked).
        Only team buttons ever need one (see `needs_checks`)."""
        if needs_checks(inp):
            parts = inp.data.split(":")
            action = parts[1] if len(parts) > 1 else ""
            numbers = [int(p) for p in parts[2:] if p.isdigit()]
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

    # ---- in the group ----------------------------------------------------------------------

    def group(self, tx: Unit, person: Person, event: GroupEvent, now: datetime) -> Outcome:
        """A group event. Replies (to /teamgroup only) are `out.replies`, for the group chat;
        they are catalogue wording, never anything a person wrote."""
        out = Outcome()
        if event.kind == "migrated" and event.new_chat_id is not None:
            team_db.team_group_migrate(tx, event.chat_id, event.new_chat_id)
        elif event.kind == "left":
            for group in team_db.team_groups_in(tx, event.chat_id):
                team_db.team_group_end(tx, group.id, "removed", now)
                html = self.say("group_removed_notice", title=self.title(group))
                gate.send(
                    tx, out, group.supervisor_id, [Reply(html)], gate.GroupNotice(group.id), now
                )
        elif event.kind == "command":
            self.register(tx, out, person, event, now)
        return out

    def register(
        self, tx: Unit, out: Outcome, person: Person, event: GroupEvent, now: datetime
    ) -> None:
        if event.anonymous:
            out.replies.append(Reply(self.say("group_anonymous_admin")))
            return
        if not event.admin:
            out.replies.append(Reply(self.say("group_not_admin")))
            return
        # Checked before anything is stored: someone unknown to the bot leaves no row behind.
        if not sup_db.supervisee_links(tx, person.id):
            out.replies.append(Reply(self.say("group_no_supervisees")))
            return
        row = tx.person(person.id, self.svc.default_timezone)
        mine = [
            g for g in team_db.team_groups_in(tx, event.chat_id) if g.supervisor_id == person.id
        ]
        if mine:
            if event.title:
                team_db.team_group_title(tx, mine[0].id, row.cipher, event.title)
            out.replies.append(Reply(self.say("group_already_registered")))
            return
        group_id = team_db.team_group_register(tx, event.chat_id, row, event.title, now)
        out.replies.append(Reply(self.say("group_registered")))
        html = self.say("group_registered_notice", title=event.title or self.say("a_team_group"))
        gate.send(tx, out, person.id, [Reply(html)], gate.GroupNotice(group_id), now)

    # ---- the supervisor's groups -------------------------------------------------------------

    def command(self, t: Turn, command: str) -> None:
        if command == GROUP_COMMAND:
            t.say(self.say("teamgroup_private"))
        else:
            self.teams(t)
        if t.conv.flow:
            t.say(self.say("still_in_flow", title=self.svc._flow_of(t).title))

    def teams(self, t: Turn) -> None:
        groups = team_db.team_groups_of(t.tx, t.person.id)
        if not groups:
            t.say(self.say("teams_empty"))
            return
        items = [{"title": self.title(g), "since": self.svc._when(t, g.created_at)} for g in groups]
        rows = [
            [
                Button(
                    render.shorten(self.say("button_unregister", title=self.title(g)), 40),
                    f"t:u:{g.id}:ask",
                )
            ]
            for g in groups
        ]
        t.say(self.say("teams_list", groups=items), rows)

    def unregister(self, t: Turn, group_id: int, stage: str) -> None:
        group = team_db.team_group(t.tx, group_id)
        if group is None or group.supervisor_id != t.person.id:
            self.svc.sup.not_found(t)
            return
        if not group.live:
            t.out.clear_buttons = True
            t.out.toast = self.say("team_gone")
            return
        if stage == "ask":
            t.say(
                self.say("unregister_confirm", title=self.title(group)),
                [
                    [Button(self.say("button_unregister_yes"), f"t:u:{group.id}:yes")],
                    [Button(self.say("button_keep_group"), f"t:u:{group.id}:no")],
                ],
            )
            return
        t.out.clear_buttons = True
        if stage != "yes":
            t.out.toast = self.say("group_kept")
            return
        team_db.team_group_end(t.tx, group.id, "unregistered", t.now)
        t.say(self.say("unregistered", title=self.title(group)))

    # ---- buttons -----------------------------------------------------------------------------

    def button(self, t: Turn, rest: str) -> None:
        """Every team button carries ids, checked against the person pressing."""
        action, _, tail = rest.partition(":")
        parts = tail.split(":")
        first = int(parts[0]) if parts and parts[0].isdigit() else None
        second = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        word = parts[1] if len(parts) > 1 else ""
        if action == "s":
            self.pick_reflection(t)
        elif first is None:
            self.svc.sup.not_found(t)
        elif action == "p":
            self.choose_group(t, first)
        elif action in {"g", "b"} and second is not None:
            self.chosen(t, first, second, action == "b")
        elif action == "r":
            self.choose_group_for_entry(t, first)
        elif action == "q" and second is not None:
            self.request(t, first, second)
        elif action in {"a", "f"} and second is not None:
            self.consent(t, first, second, "anonymous" if action == "a" else "named")
        elif action == "e":
            self.edit(t, first)
        elif action == "d":
            self.decline(t, first)
        elif action in {"o", "x"}:
            self.supervisor_answer(t, first, action == "o")
        elif action == "w":
            self.withdraw(t, first, word)
        elif action == "u":
            self.unregister(t, first, word)
        else:
            self.svc.sup.not_found(t)

    def typed(self, t: Turn, text: str) -> None:
        """Words while a framing line (supervisor) or a new version (worker) is awaited."""
        pending = dict(t.conv.pending or {})
        if pending.get("kind") == "team_framing":
            framing = " ".join(text.split())
            if len(framing) > FRAMING_LIMIT:
                t.say(self.say("team_framing_too_long", limit=FRAMING_LIMIT))
                return
            t.conv.pending = None
            self.propose(t, int(pending.get("share", 0)), int(pending.get("group", 0)), framing)
        else:
            learning = text.strip()
            if len(learning) > LEARNING_LIMIT:
                t.say(self.say("team_edit_too_long", limit=LEARNING_LIMIT))
                return
            t.conv.pending = None
            self.edited(t, int(pending.get("post", 0)), learning)

    # ---- the supervisor proposes ---------------------------------------------------------

    def offer(self, t: Turn, share_id: int) -> None:
        """Under a summary just opened from /summaries: propose it for a team group."""
        if self.visible_share(t, share_id) is None or not team_db.team_groups_of(t.tx, t.person.id):
            return
        t.say(
            self.say("team_offer"),
            [[Button(self.say("button_propose_team"), f"t:p:{share_id}")]],
        )

    def visible_share(self, t: Turn, share_id: int) -> LinkRow | None:
        """The link a summary was shared over, if this supervisor may still see it."""
        share = sup_db.share(t.tx, share_id)
        link = sup_db.link(t.tx, share.link_id) if share else None
        if share is None or link is None or share.supervisor_id != t.person.id:
            return None
        if not link.active or not share.live(t.now):
            return None
        return link

    def choose_group(self, t: Turn, share_id: int) -> None:
        if self.visible_share(t, share_id) is None:
            self.svc.sup.not_found(t)
            return
        groups = team_db.team_groups_of(t.tx, t.person.id)
        if not groups:
            t.say(self.say("team_no_groups"))
            return
        rows = [
            [Button(render.shorten(self.title(g), 40), f"t:g:{share_id}:{g.id}")] for g in groups
        ]
        t.say(self.say("team_choose_group", mine=False, name=""), rows)

    def own_group(self, t: Turn, group_id: int) -> TeamGroupRow | None:
        group = team_db.team_group(t.tx, group_id)
        if group is None or group.supervisor_id != t.person.id or not group.live:
            return None
        return group

    def chosen(self, t: Turn, share_id: int, group_id: int, without_line: bool) -> None:
        group = self.own_group(t, group_id)
        if self.visible_share(t, share_id) is None or group is None:
            self.svc.sup.not_found(t)
            return
        if group.chat_id not in t.admin_in:
            t.out.clear_buttons = True
            t.say(self.say("team_not_admin", title=self.title(group), mine=True, name=""))
            return
        if without_line:
            t.out.clear_buttons = True
            t.conv.pending = None
            self.propose(t, share_id, group_id, "")
            return
        t.out.clear_buttons = True
        t.conv.pending = {"kind": "team_framing", "share": share_id, "group": group_id}
        t.say(
            self.say("team_framing_ask", title=self.title(group), limit=FRAMING_LIMIT),
            [[Button(self.say("button_no_framing"), f"t:b:{share_id}:{group_id}")]],
        )

    def propose(self, t: Turn, share_id: int, group_id: int, framing: str) -> None:
        """Sent to the worker. (Telegram was asked whether the supervisor is an administrator
        there when they chose the group; it is asked again before anything is posted.)"""
        group = self.own_group(t, group_id)
        link = self.visible_share(t, share_id)
        share = sup_db.share(t.tx, share_id)
        if link is None or group is None or share is None:
            t.say(self.say("team_gone"))
            return
        cipher = t.tx.cipher_of(share.worker_id)
        if cipher is None:
            t.say(self.say("team_gone"))
            return
        learning = self.learning_of(t.tx, cipher, share.worker_id, share.answers)
        if not learning:
            t.say(self.say("team_nothing_learned"))
            return
        draft = TeamDraft(framing, learning)
        post_id = team_db.team_post_create(
            t.tx, group, link, t.person.id, share.id, None, cipher, draft, t.now
        )
        team_db.team_post_event(t.tx, post_id, "asked", t.now)
        post = team_db.team_post(t.tx, post_id)
        assert post is not None
        worker = t.tx.name_of(share.worker_id)
        html, buttons = self.preview(
            t.tx, post, group, draft, worker, "", by=self.name(t.tx, t.person.id)
        )
        gate.send(
            t.tx, t.out, share.worker_id, [Reply(html, buttons)], gate.TeamProposal(post_id), t.now
        )
        t.say(
            self.say(
                "team_sent_to_worker",
                name=self.name(t.tx, share.worker_id),
                title=self.title(group),
            )
        )

    def learning_of(
        self, tx: Unit, cipher: Cipher, worker_id: int, answers: list[tuple[int, str]]
    ) -> str:
        """The words to start from: the shared "what I learned" answers, else every shared
        written answer. Only answers that were shared; the worker can change it all."""
        texts: list[tuple[bool, str]] = []
        for entry_id, key in answers:
            entry = tx.entry(worker_id, entry_id)
            if entry is None:
                continue
            flow = self.cat.flows.get(entry.flow)
            step = flow.steps.get(content.base(key)) if flow else None
            if step is not None and step.input == "choice":
                continue
            collapsed = content.collapse(flow, tx.answers(cipher, entry_id))
            if key in collapsed:
                texts.append((content.base(key) in LEARNING_STEPS, collapsed[key].strip()))
        learned = [text for is_learning, text in texts if is_learning and text]
        chosen = learned or [text for _, text in texts if text]
        return render.shorten("\n\n".join(chosen), LEARNING_LIMIT) if chosen else ""

    # ---- the worker decides ----------------------------------------------------------------

    def post_html(self, draft: TeamDraft, name: str | None) -> str:
        return self.say("team_post", name=name, framing=draft.framing, learning=draft.learning)

    def preview(
        self,
        tx: Unit,
        post: TeamPostRow,
        group: TeamGroupRow,
        draft: TeamDraft,
        name: str,
        username: str,
        by: str,
    ) -> tuple[str, list[list[Button]]]:
        """Exactly what would be posted (anonymous), what to look out for, and the choices."""
        html = self.post_html(draft, None)
        plain = render.to_plain(html)
        kinds = [self.say(f"kind_{k}") for k in identifying.kinds(plain)]
        named = gate.mentions(plain, [name, username])
        text = self.say(
            "team_preview",
            by=by,
            mine=post.proposed_by == post.worker_id,
            title=self.title(group),
            post=html,
            kinds=kinds,
            named=bool(named),
        )
        v = post.version
        rows = [
            [Button(self.say("button_team_anonymous"), f"t:a:{post.id}:{v}")],
            [Button(self.say("button_team_named"), f"t:f:{post.id}:{v}")],
            [
                Button(self.say("button_team_edit"), f"t:e:{post.id}"),
                Button(self.say("button_team_decline"), f"t:d:{post.id}"),
            ],
        ]
        return text, rows

    def worker_post(self, t: Turn, post_id: int) -> TeamPostRow | None:
        """The post, if it is this worker's; otherwise "not found"."""
        post = team_db.team_post(t.tx, post_id)
        if post is None or post.worker_id != t.person.id:
            self.svc.sup.not_found(t)
            return None
        return post

    def still_open(self, t: Turn, post: TeamPostRow) -> TeamGroupRow | None:
        """The group, if the proposal can still go ahead; otherwise a kind word why not."""
        group = team_db.team_group(t.tx, post.group_id)
        link = sup_db.link(t.tx, post.link_id)
        if not post.open or (post.state == "consented" and post.proposed_by == post.worker_id):
            t.out.clear_buttons = True
            t.out.toast = self.say("team_answered")
            return None
        if group is None or not group.live or link is None or not link.active:
            t.out.clear_buttons = True
            t.say(self.say("team_gone"))
            return None
        return group

    def show_again(self, t: Turn, post: TeamPostRow, group: TeamGroupRow) -> None:
        draft = team_db.team_draft(t.tx, t.row.cipher, post.id)
        if draft is None:
            t.say(self.say("team_gone"))
            return
        fresh = team_db.team_post(t.tx, post.id)
        assert fresh is not None
        html, rows = self.preview(
            t.tx,
            fresh,
            group,
            draft,
            t.row.name,
            t.person.username,
            self.name(t.tx, post.supervisor_id),
        )
        t.say(html, rows)

    def consent(self, t: Turn, post_id: int, version: int, mode: str) -> None:
        post = self.worker_post(t, post_id)
        if post is None:
            return
        group = self.still_open(t, post)
        if group is None:
            return
        if version != post.version:
            t.out.clear_buttons = True
            t.say(self.say("team_preview_changed"))
            self.show_again(t, post, group)
            return
        draft = team_db.team_draft(t.tx, t.row.cipher, post.id)
        if draft is None:
            t.say(self.say("team_gone"))
            return
        avoid = [t.row.name, t.person.username] if mode == "anonymous" else []
        html = self.post_html(draft, None if mode == "anonymous" else t.row.name)
        if mode == "anonymous" and gate.mentions(render.to_plain(html), avoid):
            t.out.toast = self.say("team_name_in_text")
            return
        mine = post.proposed_by == post.worker_id
        if not mine and group.chat_id not in t.admin_in:
            t.out.clear_buttons = True
            t.say(
                self.say(
                    "team_not_admin",
                    title=self.title(group),
                    mine=False,
                    name=self.name(t.tx, post.supervisor_id),
                )
            )
            return
        team_db.team_consent(t.tx, t.row.cipher, post.id, html, [w for w in avoid if w])
        team_db.team_post_event(t.tx, post.id, "consented", t.now, mode)
        supervisor = post.supervisor_id
        name = self.name(t.tx, supervisor)
        if mine:
            buttons = [
                [Button(self.say("button_team_post"), f"t:o:{post.id}")],
                [Button(self.say("button_team_not_now"), f"t:x:{post.id}")],
            ]
            request = self.say(
                "team_request",
                name=self.name(t.tx, t.person.id),
                title=self.title(group),
                anonymous=mode == "anonymous",
                post=html,
            )
            gate.send(
                t.tx, t.out, supervisor, [Reply(request, buttons)], gate.TeamRequest(post.id), t.now
            )
            t.out.replace = Reply(self.say("team_requested", name=name, title=self.title(group)))
            return
        self.post(t.tx, t.out, post.id, group, html, t.now)
        t.out.replace = Reply(
            self.say("team_posted_worker", title=self.title(group), anonymous=mode == "anonymous")
        )
        self.svc.sup.notice(
            t.tx,
            t.out,
            post.link_id,
            supervisor,
            "team_posted_supervisor",
            t.now,
            t.person.id,
            title=self.title(group),
            anonymous=mode == "anonymous",
            mine=False,
        )

    def post(
        self, tx: Unit, out: Outcome, post_id: int, group: TeamGroupRow, html: str, now: datetime
    ) -> None:
        team_db.team_post_event(tx, post_id, "posted", now)
        gate.send(tx, out, group.chat_id, [Reply(html)], gate.TeamPost(post_id), now)

    def edit(self, t: Turn, post_id: int) -> None:
        post = self.worker_post(t, post_id)
        if post is None or self.still_open(t, post) is None:
            return
        draft = team_db.team_draft(t.tx, t.row.cipher, post.id)
        if draft is None:
            t.say(self.say("team_gone"))
            return
        t.out.clear_buttons = True
        t.conv.pending = {"kind": "team_edit", "post": post.id}
        words = "\n\n".join(w for w in (draft.framing, draft.learning) if w)
        t.say(self.say("team_edit_ask", limit=LEARNING_LIMIT, words=words))

    def edited(self, t: Turn, post_id: int, learning: str) -> None:
        """The worker's own version replaces all the words, the supervisor's line too (it is
        shown to them to copy, keep or change): what is posted is theirs to decide."""
        post = team_db.team_post(t.tx, post_id)
        if post is None or post.worker_id != t.person.id:
            t.say(self.say("team_gone"))  # typed words get a reply, never a silent toast
            return
        if post.state not in {"asked", "edited"}:
            t.say(self.say("team_answered"))
            return
        group = self.still_open(t, post)
        draft = team_db.team_draft(t.tx, t.row.cipher, post_id)
        if group is None or draft is None:
            return
        if not learning:
            t.say(self.say("empty_answer"))
            return
        team_db.team_draft_set(t.tx, t.row.cipher, post.id, TeamDraft("", learning))
        team_db.team_post_event(t.tx, post.id, "edited", t.now)
        self.show_again(t, post, group)

    def decline(self, t: Turn, post_id: int) -> None:
        post = self.worker_post(t, post_id)
        if post is None:
            return
        if not post.open:
            t.out.clear_buttons = True
            t.out.toast = self.say("team_answered")
            return
        group = team_db.team_group(t.tx, post.group_id)
        team_db.team_post_end(t.tx, post.id, "declined", t.now)
        t.out.replace = Reply(self.say("team_declined_worker"))
        if post.proposed_by == post.supervisor_id:
            self.svc.sup.notice(
                t.tx,
                t.out,
                post.link_id,
                post.supervisor_id,
                "team_declined_supervisor",
                t.now,
                t.person.id,
                title=self.title(group) if group else self.say("a_team_group"),
            )

    # ---- the worker starts it: /share → Team learning --------------------------------------

    def wanting(self, t: Turn) -> list[Any]:
        """Reflections whose last answer said they would like to share their learning."""
        key, value = WANTS_TO_SHARE
        found = []
        for entry in t.tx.entries(t.person.id, limit=50, flows=["reflection"], statuses=("saved",)):
            if t.tx.answers(t.row.cipher, entry.id).get(key) == value:
                found.append(entry)
            if len(found) == 5:
                break
        return found

    def share_menu_rows(self, t: Turn, link: LinkRow) -> list[list[Button]]:
        """A Team learning row for /share, for a worker who said they would like that."""
        if not team_db.team_groups_of(t.tx, link.supervisor_id) or not self.wanting(t):
            return []
        return [[Button(self.say("button_team_learning"), "t:s")]]

    def pick_reflection(self, t: Turn) -> None:
        link = sup_db.supervisor_link(t.tx, t.person.id)
        entries = self.wanting(t) if link else []
        if link is None or not entries or not team_db.team_groups_of(t.tx, link.supervisor_id):
            t.say(self.say("team_gone"))
            return
        rows = [[Button(self.svc._entry_label(t, e), f"t:r:{e.id}")] for e in entries]
        t.say(self.say("team_pick_reflection", name=self.name(t.tx, link.supervisor_id)), rows)

    def choose_group_for_entry(self, t: Turn, entry_id: int) -> None:
        link = sup_db.supervisor_link(t.tx, t.person.id)
        entry = t.tx.entry(t.person.id, entry_id)
        if link is None or entry is None or entry.status != "saved":
            self.svc.sup.not_found(t)
            return
        groups = team_db.team_groups_of(t.tx, link.supervisor_id)
        if not groups:
            t.say(self.say("team_gone"))
            return
        rows = [
            [Button(render.shorten(self.title(g), 40), f"t:q:{entry.id}:{g.id}")] for g in groups
        ]
        t.say(
            self.say("team_choose_group", mine=True, name=self.name(t.tx, link.supervisor_id)), rows
        )

    def request(self, t: Turn, entry_id: int, group_id: int) -> None:
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
            self.svc.sup.not_found(t)
            return
        flow = self.cat.flows.get(entry.flow)
        keys = content.collapse(flow, t.tx.answers(t.row.cipher, entry.id))
        learning = self.learning_of(t.tx, t.row.cipher, t.person.id, [(entry.id, k) for k in keys])
        if not learning:
            t.say(self.say("team_nothing_learned"))
            return
        t.out.clear_buttons = True
        draft = TeamDraft("", learning)
        post_id = team_db.team_post_create(
            t.tx, group, link, t.person.id, None, entry.id, t.row.cipher, draft, t.now
        )
        team_db.team_post_event(t.tx, post_id, "asked", t.now)
        post = team_db.team_post(t.tx, post_id)
        assert post is not None
        html, rows = self.preview(
            t.tx,
            post,
            group,
            draft,
            t.row.name,
            t.person.username,
            self.name(t.tx, link.supervisor_id),
        )
        t.say(html, rows)

    def supervisor_answer(self, t: Turn, post_id: int, post_it: bool) -> None:
        """The supervisor posts (or not) what the worker asked, and already said yes to."""
        post = team_db.team_post(t.tx, post_id)
        if post is None or post.supervisor_id != t.person.id or post.proposed_by != post.worker_id:
            self.svc.sup.not_found(t)
            return
        group = team_db.team_group(t.tx, post.group_id)
        link = sup_db.link(t.tx, post.link_id)
        t.out.clear_buttons = True
        if post.state != "consented":
            t.out.toast = self.say("team_answered")
            return
        if group is None or not group.live or link is None or not link.active:
            t.say(self.say("team_gone"))
            return
        if not post_it:
            team_db.team_post_end(t.tx, post.id, "declined", t.now)
            t.say(self.say("team_request_declined_supervisor"))
            self.svc.sup.notice(
                t.tx,
                t.out,
                post.link_id,
                post.worker_id,
                "team_request_declined_worker",
                t.now,
                t.person.id,
                title=self.title(group),
            )
            return
        if group.chat_id not in t.admin_in:
            t.say(self.say("team_not_admin", title=self.title(group), mine=True, name=""))
            return
        consented = team_db.team_consented(t.tx, post.id)
        if consented is None:
            t.say(self.say("team_gone"))
            return
        self.post(t.tx, t.out, post.id, group, consented[0], t.now)
        t.say(
            self.say(
                "team_posted_supervisor",
                title=self.title(group),
                anonymous=post.mode == "anonymous",
                mine=True,
                name=self.name(t.tx, post.worker_id),
            )
        )
        self.svc.sup.notice(
            t.tx,
            t.out,
            post.link_id,
            post.worker_id,
            "team_posted_worker",
            t.now,
            t.person.id,
            title=self.title(group),
            anonymous=post.mode == "anonymous",
            by=True,
        )

    # ---- after posting: the worker's list and withdrawal ------------------------------------

    def has_posts(self, t: Turn) -> bool:
        return bool(team_db.team_posts_by_worker(t.tx, t.person.id))

    def shared(self, t: Turn) -> None:
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
                    "title": self.title(group) if group else self.say("a_team_group"),
                    "when": self.svc._when(t, post.created_at),
                    "state": post.state,
                    "anonymous": post.mode == "anonymous",
                }
            )
            if post.state in {"posted", "consented"}:
                label = self.say("button_team_withdraw", number=number)
                rows.append([Button(label, f"t:w:{post.id}:ask")])
        t.say(self.say("team_shared_list", items=items), rows)

    def withdraw(self, t: Turn, post_id: int, stage: str) -> None:
        post = self.worker_post(t, post_id)
        if post is None:
            return
        if post.state not in {"posted", "consented"}:
            t.out.clear_buttons = True
            t.out.toast = self.say("already_over")
            return
        group = team_db.team_group(t.tx, post.group_id)
        title = self.title(group) if group else self.say("a_team_group")
        if stage == "ask":
            t.say(
                self.say("team_withdraw_confirm", title=title, posted=post.posted),
                [
                    [Button(self.say("button_team_withdraw_yes"), f"t:w:{post.id}:yes")],
                    [Button(self.say("button_keep_shared"), f"t:w:{post.id}:no")],
                ],
            )
            return
        t.out.clear_buttons = True
        if stage != "yes":
            t.out.toast = self.say("team_kept")
            return
        kept = self.end_post(t.tx, t.out, post, group, t.now)
        t.say(self.say("team_withdrawn", title=title, kept=kept, posted=post.posted))

    def end_post(
        self,
        tx: Unit,
        out: Outcome,
        post: TeamPostRow,
        group: TeamGroupRow | None,
        now: datetime,
    ) -> int:
        """Withdrawn: a new row, the words deleted, the group's copy deleted where Telegram
        still allows it (and the bot is still there, in the same chat). Returns how many copies
        were left for the supervisor to delete."""
        copies = team_db.team_post_end(tx, post.id, "withdrawn", now)
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
        if post.posted:
            self.svc.sup.notice(
                tx,
                out,
                post.link_id,
                post.supervisor_id,
                "team_withdrawn_notice",
                now,
                post.worker_id,
                title=self.title(group) if group else self.say("a_team_group"),
                kept=kept,
                when=post.at.strftime("%-d %b"),
            )
        return kept

    def not_posted(self, tx: Unit, out: Outcome, post_id: int, chat_id: int, now: datetime) -> None:
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
            self.svc.sup.notice(
                tx,
                out,
                post.link_id,
                person,
                "team_not_posted",
                now,
                person,
                title=self.title(group),
            )

    def before_forget(self, t: Turn) -> None:
        """Erasing everything withdraws every post (deleting copies where allowed) and ends the
        person's own registrations, before the rows go."""
        for post in team_db.team_posts_by_worker(t.tx, t.person.id):
            if post.state in {"posted", "consented"}:
                self.end_post(t.tx, t.out, post, team_db.team_group(t.tx, post.group_id), t.now)
        for group in team_db.team_groups_of(t.tx, t.person.id):
            team_db.team_group_end(t.tx, group.id, "unregistered", t.now)

    # ---- /export -------------------------------------------------------------------------

    def export(self, tx: Unit, worker_id: int) -> list[dict[str, Any]]:
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
