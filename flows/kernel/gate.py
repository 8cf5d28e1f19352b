"""The one way anything reaches another person's chat.

Every message the engine sends to someone other than the person it is answering is queued here,
and only after the reason for it is checked against the database inside the same transaction:

- `Share`: a summary (worker's words) to a supervisor. Needs an active link, a share record
  that is neither withdrawn nor expired, and the recipient to be that share's supervisor.
- `ShareList`: the supervisor's list of summaries (/summaries), naming each by its first
  words: every summary it names must pass the `Share` check for that supervisor.
- `Acknowledgement`: the supervisor's answer under a summary (our wording only), to the worker
  who shared it, while it is live over an active link and once the answer is recorded.
- `StepProposal`: a next step one side wrote, to the other side of that active link, while it
  waits for their confirmation. `StepConfirmation`: "that's what we agreed", back to whoever
  wrote it, once it is agreed, over an active link.
- `Digest`: a supervisor's weekly digest (labels only), naming only people they supervise over
  links still active.
- `Reveal`: a co-reflection reveal. Needs an open round on an active link, both people
  finished, both saying yes, and the recipient to be one of the two.
- `LinkRequest`: "<name> wants to link as your supervisor", to the worker who made the invite,
  once the supervisor's side confirmed it (and the worker's no, back to that supervisor).
- `Notice`: catalogue wording only (linked, unlinked, withdrawn, a round started), never anything
  a person wrote, to someone on either side of the link it concerns.
- `Removal`: deleting a copy of a summary, once that share is over.
- `TeamProposal`: a proposed team post (the supervisor's framing line and the worker's own
  words), to that worker only, while it waits for their answer over an active link.
- `TeamRequest`: learning the worker asked to post, to their supervisor, once the worker said
  yes to its exact text, over an active link, for a group that supervisor still has registered.
- `TeamPost`: a post in a team group. Needs a live registration of that very chat by the
  supervisor of an active link, their proposal (or the worker's own request), and the worker's
  consent to exactly this text; an anonymous post must not name them. Checked again just
  before it is sent.
- `TeamRemoval`: deleting a post's copy in its group (or the worker's request in the
  supervisor's chat), once the post is withdrawn.
- `GroupNotice`: catalogue wording about a registered group, to the supervisor who registered it.
- `InviteNotice`: catalogue wording about an open invite (its invitee is not an approved
  supervisor yet), to the worker who made it.
- `OrgNotice`: catalogue wording from the organisation's side (marked as having left, approval
  withdrawn, entries about to pass the retention period), to a person the service holds.

Whatever it lets through to someone else waits for the end of that person's quiet hours (their
own /reminders setting, 21:00-08:00 until they choose), as the outbox row's `not_before`;
withdrawals and removals go at once, silently.

A failed check is a bug, not a person's mistake: it raises, and the whole unit of work rolls back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from flows.kernel import render, when
from flows.kernel.model import Outcome, Reply
from flows.store.unit import Unit


class GateRefused(Exception):
    """Something tried to reach another person without a reason the database backs."""


@dataclass(frozen=True, slots=True)
class Share:
    share_id: int


@dataclass(frozen=True, slots=True)
class ShareList:
    list_id: int


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    share_id: int


@dataclass(frozen=True, slots=True)
class StepProposal:
    step_id: int


@dataclass(frozen=True, slots=True)
class StepConfirmation:
    step_id: int


@dataclass(frozen=True, slots=True)
class Digest:
    link_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Reveal:
    round_id: int


@dataclass(frozen=True, slots=True)
class LinkRequest:
    invite_id: int


@dataclass(frozen=True, slots=True)
class Notice:
    link_id: int


@dataclass(frozen=True, slots=True)
class Removal:
    share_id: int


@dataclass(frozen=True, slots=True)
class TeamProposal:
    post_id: int


@dataclass(frozen=True, slots=True)
class TeamRequest:
    post_id: int


@dataclass(frozen=True, slots=True)
class TeamPost:
    post_id: int


@dataclass(frozen=True, slots=True)
class TeamRemoval:
    post_id: int


@dataclass(frozen=True, slots=True)
class GroupNotice:
    group_id: int


@dataclass(frozen=True, slots=True)
class InviteNotice:
    invite_id: int


@dataclass(frozen=True, slots=True)
class OrgNotice:
    person_id: int


Basis = (
    Share
    | ShareList
    | Acknowledgement
    | StepProposal
    | StepConfirmation
    | Digest
    | Reveal
    | LinkRequest
    | Notice
    | Removal
    | TeamProposal
    | TeamRequest
    | TeamPost
    | TeamRemoval
    | GroupNotice
    | InviteNotice
    | OrgNotice
)


def mentions(text: str, words: list[str]) -> list[str]:
    """Which of `words` (a first name, a username) appear in `text` as whole words, in any
    case; a username with or without its @."""
    spaced = text.casefold().replace("@", " ")
    found = []
    for word in words:
        wanted = word.strip().lstrip("@").casefold()
        if wanted and re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", spaced):
            found.append(word)
    return found


def send(
    tx: Unit,
    out: Outcome,
    to: int,
    replies: list[Reply],
    basis: Basis,
    now: datetime,
    *,
    asked: bool = False,
    silent: bool = False,
) -> None:
    """Queue `replies` for `to`'s chat if `basis` holds right now; otherwise refuse loudly.

    The other person's hours: what reaches someone else waits for the end of their quiet hours
    (see `not_before`), unless they `asked` for it just now (a supervisor opening a summary, or
    told of what they just did themselves, as registering a group), or
    it takes something back (`silent`: a withdrawal, arriving at once without a sound; removals
    of a copy always do)."""
    check(tx, to, basis, now)
    if isinstance(basis, TeamPost):
        _check_post_text(tx, basis.post_id, replies)
    owner = words_of(tx, to, basis)
    for reply in replies:
        reply.sealed_for = owner  # their /forget shreds the copy waiting in the outbox too
    removal = isinstance(basis, Removal | TeamRemoval)
    now_anyway = asked or silent or removal
    wait = None if now_anyway else not_before(tx, to, now)
    for reply in replies:
        reply.not_before = wait
        reply.silent = silent or removal
        if isinstance(basis, Share):
            reply.guard = ("share", basis.share_id)
            reply.protect = True
        if isinstance(basis, ShareList):
            reply.guard = ("share_list", basis.list_id)
            reply.protect = True
        if isinstance(basis, Reveal):
            reply.protect = True
        if isinstance(basis, TeamPost | TeamRequest):
            reply.guard = ("team_post", basis.post_id)  # checked again before sending
            reply.protect = True
        out.others.append((to, reply))


DEFAULT_QUIET = ("21:00", "08:00")  # a person's quiet hours until they choose (/reminders)


def not_before(tx: Unit, to: int, now: datetime) -> datetime | None:
    """When a message to `to` may arrive: None now, else the end of their own quiet hours (in
    their time zone). A group chat (a negative id) has none."""
    if to < 0:
        return None
    row = tx.one("SELECT quiet_start, quiet_end FROM reminder_settings WHERE person_id = ?", (to,))
    start, end = (str(row[0]), str(row[1])) if row else DEFAULT_QUIET
    later = when.out_of_quiet(now, tx.timezone_of(to), start, end)
    return later if later > now else None


def check(tx: Unit, to: int, basis: Basis, now: datetime) -> None:
    if isinstance(basis, Share | Removal):
        share = _share(tx, basis.share_id, now)
        if share is None:
            raise GateRefused("a summary that does not exist")
        live, supervisor_id, link_id = share
        if isinstance(basis, Removal):
            if live or to != supervisor_id:
                raise GateRefused("removing a copy of a share that is still live")
            return
        link = _link(tx, link_id)
        if link is None or not link[2]:
            raise GateRefused("a summary without an active link")
        if not live or to != supervisor_id:
            raise GateRefused("a summary that is not shared with this person now")
    elif isinstance(basis, ShareList):
        row = tx.one("SELECT share_ids FROM share_lists WHERE id = ?", (basis.list_id,))
        if row is None or not json.loads(row[0]):
            raise GateRefused("a list of summaries that does not exist")
        for share_id in json.loads(row[0]):
            check(tx, to, Share(int(share_id)), now)
    elif isinstance(basis, Acknowledgement):
        share = _share(tx, basis.share_id, now)
        link = _link(tx, share[2]) if share else None
        acked = tx.one("SELECT 1 FROM share_acks WHERE share_id = ?", (basis.share_id,))
        if share is None or link is None or not link[2] or not share[0] or acked is None:
            raise GateRefused("an acknowledgement without a live share and its answer")
        if to != link[0] or share[1] != link[1]:
            raise GateRefused("an acknowledgement to someone other than the worker who shared")
    elif isinstance(basis, StepProposal | StepConfirmation):
        row = tx.one(
            "SELECT link_id, proposed_by, state FROM agreed_steps WHERE id = ?", (basis.step_id,)
        )
        link = _link(tx, row[0]) if row else None
        if row is None or link is None or not link[2] or row[1] not in link[:2]:
            raise GateRefused("a next step without an active link")
        wanted = "proposed" if isinstance(basis, StepProposal) else "agreed"
        other = link[1] if row[1] == link[0] else link[0]
        if row[2] != wanted or to != (other if wanted == "proposed" else row[1]):
            raise GateRefused("a next step to someone it is not waiting on")
    elif isinstance(basis, Digest):
        links = [_link(tx, link_id) for link_id in basis.link_ids]
        if not links or not all(link and link[2] and link[1] == to for link in links):
            raise GateRefused("a digest naming someone its reader does not supervise")
    elif isinstance(basis, Reveal):
        found = tx.one("SELECT link_id, outcome FROM coreflections WHERE id = ?", (basis.round_id,))
        link = _link(tx, found[0]) if found else None
        if found is None or link is None or not link[2] or found[1] is not None:
            raise GateRefused("a reveal without an open round on an active link")
        parts = tx.conn.execute(
            "SELECT person_id, finished_at IS NOT NULL AND reveal = 1 FROM coreflection_parts"
            " WHERE round_id = ?",
            (basis.round_id,),
        ).fetchall()
        if to not in {p[0] for p in parts} or len(parts) != 2:
            raise GateRefused("a reveal to someone outside the round")
        if not all(p[1] for p in parts):
            raise GateRefused("a reveal without both people's yes")
    elif isinstance(basis, LinkRequest):
        invite = tx.one(
            "SELECT worker_id, supervisor_id, expires_at, closed_at FROM invites WHERE id = ?",
            (basis.invite_id,),
        )
        if invite is None or invite[3] is not None or invite[1] is None:
            raise GateRefused("a link request without a confirmed invite")
        if datetime.fromisoformat(invite[2]) <= now or to not in {invite[0], invite[1]}:
            raise GateRefused("a link request to someone outside the invite")
    elif isinstance(basis, Notice):
        link = _link(tx, basis.link_id)
        if link is None or to not in {link[0], link[1]}:
            raise GateRefused("a notice to someone outside the link")
    elif isinstance(basis, InviteNotice):
        invite = tx.one(
            "SELECT worker_id, expires_at, closed_at FROM invites WHERE id = ?", (basis.invite_id,)
        )
        if invite is None or invite[2] is not None or datetime.fromisoformat(invite[1]) <= now:
            raise GateRefused("an invite notice without an open invite")
        if to != invite[0]:
            raise GateRefused("an invite notice to someone other than who made the invite")
    elif isinstance(basis, OrgNotice):
        if to != basis.person_id or tx.one("SELECT 1 FROM people WHERE id = ?", (to,)) is None:
            raise GateRefused("an organisation notice to someone the service does not hold")
    elif isinstance(basis, GroupNotice):
        group = _group(tx, basis.group_id)
        if group is None or to != group[1]:
            raise GateRefused("a group notice to someone who did not register it")
    else:
        _check_team(tx, to, basis)


def words_of(tx: Unit, to: int, basis: Basis) -> int | None:
    """Whose words a message on this basis carries: a summary and a team post carry the
    worker's, a reveal the other person's; a notice or a removal carries nobody's."""
    if isinstance(basis, Share):
        share = tx.one("SELECT worker_id FROM shares WHERE id = ?", (basis.share_id,))
        return None if share is None else int(share[0])
    if isinstance(basis, Reveal):
        parts = tx.conn.execute(
            "SELECT person_id FROM coreflection_parts WHERE round_id = ? AND person_id != ?",
            (basis.round_id, to),
        ).fetchall()
        return int(parts[0][0]) if len(parts) == 1 else None
    if isinstance(basis, TeamProposal | TeamRequest | TeamPost):
        post = _post(tx, basis.post_id)
        return None if post is None else post.worker_id
    return None


# The gate reads the records it checks itself, in this one file: a change to a feature's own
# queries cannot loosen a check. Each returns a plain tuple.


def _share(tx: Unit, share_id: int, now: datetime) -> tuple[bool, int, int] | None:
    """(live, supervisor, link) of a share: live while neither withdrawn nor expired."""
    row = tx.one(
        "SELECT s.supervisor_id, s.link_id, s.expires_at, e.event FROM shares s"
        " LEFT JOIN share_events e ON e.share_id = s.id WHERE s.id = ?",
        (share_id,),
    )
    if row is None:
        return None
    live = row[3] is None and (row[2] is None or datetime.fromisoformat(row[2]) > now)
    return live, int(row[0]), int(row[1])


def _link(tx: Unit, link_id: int) -> tuple[int, int, bool] | None:
    """(worker, supervisor, active) of a link."""
    row = tx.one("SELECT worker_id, supervisor_id, ended_at FROM links WHERE id = ?", (link_id,))
    return None if row is None else (int(row[0]), int(row[1]), row[2] is None)


def _group(tx: Unit, group_id: int) -> tuple[int, int, bool] | None:
    """(chat, supervisor, live) of a team group registration."""
    row = tx.one(
        "SELECT chat_id, supervisor_id, ended_at FROM team_groups WHERE id = ?", (group_id,)
    )
    return None if row is None else (int(row[0]), int(row[1]), row[2] is None)


@dataclass(frozen=True, slots=True)
class _Post:
    group_id: int
    link_id: int
    worker_id: int
    supervisor_id: int
    proposed_by: int
    events: list[str]  # oldest first
    mode: str | None  # the latest chosen

    @property
    def state(self) -> str:
        return self.events[-1] if self.events else ""

    @property
    def open(self) -> bool:
        return self.state in {"asked", "edited"} or (
            self.state == "consented" and self.proposed_by == self.worker_id
        )


def _post(tx: Unit, post_id: int) -> _Post | None:
    row = tx.one(
        "SELECT group_id, link_id, worker_id, supervisor_id, proposed_by FROM team_posts"
        " WHERE id = ?",
        (post_id,),
    )
    if row is None:
        return None
    events = tx.conn.execute(
        "SELECT event, mode FROM team_post_events WHERE post_id = ? ORDER BY seq", (post_id,)
    ).fetchall()
    modes = [m for _, m in events if m is not None]
    group_id, link_id, worker_id, supervisor_id, proposed_by = row
    seen = [str(e) for e, _ in events]
    mode = modes[-1] if modes else None
    return _Post(group_id, link_id, worker_id, supervisor_id, proposed_by, seen, mode)


def _consented(tx: Unit, post_id: int, worker_id: int) -> tuple[str, list[str]] | None:
    """The exact text the worker said yes to, and the words an anonymous post must avoid."""
    row = tx.one(
        "SELECT b.consented, p.wrapped_key FROM team_post_bodies b JOIN people p ON p.id = ?"
        " WHERE b.post_id = ?",
        (worker_id, post_id),
    )
    if row is None or row[0] is None:
        return None
    cipher = tx.keys.person(worker_id, row[1])
    data = json.loads(cipher.open(row[0], b"team-consent:%d" % post_id))
    return str(data["html"]), [str(w) for w in data["avoid"]]


def _check_team(
    tx: Unit, to: int, basis: TeamProposal | TeamRequest | TeamPost | TeamRemoval
) -> None:
    post = _post(tx, basis.post_id)
    group = _group(tx, post.group_id) if post else None
    link = _link(tx, post.link_id) if post else None
    if post is None or group is None or link is None:
        raise GateRefused("a team post that does not exist")
    if isinstance(basis, TeamRemoval):
        if post.state != "withdrawn" or not (to < 0 or to == post.supervisor_id):
            raise GateRefused("removing a team post that is not withdrawn")
        return
    if not link[2] or not group[2] or group[1] != link[1]:
        raise GateRefused("a team post without an active link and a live registration")
    if isinstance(basis, TeamProposal):
        if not post.open or post.proposed_by != post.supervisor_id or to != post.worker_id:
            raise GateRefused("a team proposal to someone other than its worker")
    elif isinstance(basis, TeamRequest):
        if not post.open or post.proposed_by != post.worker_id or to != post.supervisor_id:
            raise GateRefused("a team request to someone other than the supervisor")
    elif post.state != "posted" or to != group[0] or to >= 0:
        raise GateRefused("a team post without its consent, or to another chat")
    elif post.events[-2:] != ["consented", "posted"]:
        raise GateRefused("a team post posted twice on one yes")


def _check_post_text(tx: Unit, post_id: int, replies: list[Reply]) -> None:
    """The one message must be exactly the text the worker said yes to; anonymous: unnamed."""
    post = _post(tx, post_id)
    consented = _consented(tx, post_id, post.worker_id) if post else None
    if consented is None or post is None or [r.html for r in replies] != [consented[0]]:
        raise GateRefused("a team post whose text is not what the worker said yes to")
    if post.mode == "anonymous":
        avoid = [*consented[1], tx.name_of(post.worker_id)]
        if mentions(render.to_plain(consented[0]), avoid):
            raise GateRefused("an anonymous team post that names the worker")
