"""The one way anything reaches another person's chat.

Every message the engine sends to someone other than the person it is answering is queued here,
and only after the reason for it is checked against the database inside the same transaction:

- `Share`: a summary (worker's words) to a supervisor. Needs an active link, a share record
  that is neither withdrawn nor expired, and the recipient to be that share's supervisor.
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

A failed check is a bug, not a person's mistake: it raises, and the whole unit of work rolls back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flows.features.supervision import db as sup_db
from flows.features.team import db as team_db
from flows.kernel import render
from flows.kernel.model import Outcome, Reply
from flows.store.unit import Unit


class GateRefused(Exception):
    """Something tried to reach another person without a reason the database backs."""


@dataclass(frozen=True, slots=True)
class Share:
    share_id: int


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


Basis = (
    Share
    | Reveal
    | LinkRequest
    | Notice
    | Removal
    | TeamProposal
    | TeamRequest
    | TeamPost
    | TeamRemoval
    | GroupNotice
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
    tx: Unit, out: Outcome, to: int, replies: list[Reply], basis: Basis, now: datetime
) -> None:
    """Queue `replies` for `to`'s chat if `basis` holds right now; otherwise refuse loudly."""
    check(tx, to, basis, now)
    if isinstance(basis, TeamPost):
        _check_post_text(tx, basis.post_id, replies)
    for reply in replies:
        if isinstance(basis, Share):
            reply.share_id = basis.share_id
            reply.protect = True
        if isinstance(basis, Reveal):
            reply.protect = True
        if isinstance(basis, TeamPost | TeamRequest):
            reply.team_post_id = basis.post_id  # checked again before sending; its id kept
            reply.protect = True
        out.others.append((to, reply))


def check(tx: Unit, to: int, basis: Basis, now: datetime) -> None:
    if isinstance(basis, Share):
        share = sup_db.share(tx, basis.share_id)
        link = sup_db.link(tx, share.link_id) if share else None
        if share is None or link is None or not link.active:
            raise GateRefused("a summary without an active link")
        if not share.live(now) or to != share.supervisor_id:
            raise GateRefused("a summary that is not shared with this person now")
    elif isinstance(basis, Reveal):
        found = sup_db.round(tx, basis.round_id)
        link = sup_db.link(tx, found.link_id) if found else None
        if found is None or link is None or not link.active or found.outcome is not None:
            raise GateRefused("a reveal without an open round on an active link")
        if to not in found.parts or len(found.parts) != 2:
            raise GateRefused("a reveal to someone outside the round")
        if not all(p.finished and p.reveal is True for p in found.parts.values()):
            raise GateRefused("a reveal without both people's yes")
    elif isinstance(basis, LinkRequest):
        invite = sup_db.invite(tx, basis.invite_id)
        if invite is None or invite.closed or invite.supervisor_id is None:
            raise GateRefused("a link request without a confirmed invite")
        if invite.expires_at <= now or to not in {invite.worker_id, invite.supervisor_id}:
            raise GateRefused("a link request to someone outside the invite")
    elif isinstance(basis, Notice):
        link = sup_db.link(tx, basis.link_id)
        if link is None or to not in {link.worker_id, link.supervisor_id}:
            raise GateRefused("a notice to someone outside the link")
    elif isinstance(basis, Removal):
        share = sup_db.share(tx, basis.share_id)
        if share is None or share.live(now) or to != share.supervisor_id:
            raise GateRefused("removing a copy of a share that is still live")
    elif isinstance(basis, GroupNotice):
        group = team_db.team_group(tx, basis.group_id)
        if group is None or to != group.supervisor_id:
            raise GateRefused("a group notice to someone who did not register it")
    else:
        _check_team(tx, to, basis)


def _check_team(
    tx: Unit, to: int, basis: TeamProposal | TeamRequest | TeamPost | TeamRemoval
) -> None:
    post = team_db.team_post(tx, basis.post_id)
    group = team_db.team_group(tx, post.group_id) if post else None
    link = sup_db.link(tx, post.link_id) if post else None
    if post is None or group is None or link is None:
        raise GateRefused("a team post that does not exist")
    if isinstance(basis, TeamRemoval):
        if post.state != "withdrawn" or not (to < 0 or to == post.supervisor_id):
            raise GateRefused("removing a team post that is not withdrawn")
        return
    if not link.active or not group.live or group.supervisor_id != link.supervisor_id:
        raise GateRefused("a team post without an active link and a live registration")
    if isinstance(basis, TeamProposal):
        if not post.open or post.proposed_by != post.supervisor_id or to != post.worker_id:
            raise GateRefused("a team proposal to someone other than its worker")
    elif isinstance(basis, TeamRequest):
        if not post.open or post.proposed_by != post.worker_id or to != post.supervisor_id:
            raise GateRefused("a team request to someone other than the supervisor")
    elif post.state != "posted" or to != group.chat_id or to >= 0:
        raise GateRefused("a team post without its consent, or to another chat")
    elif team_db.team_post_history(tx, post.id)[-2:] != ["consented", "posted"]:
        raise GateRefused("a team post posted twice on one yes")


def _check_post_text(tx: Unit, post_id: int, replies: list[Reply]) -> None:
    """The one message must be exactly the text the worker said yes to; anonymous: unnamed."""
    consented = team_db.team_consented(tx, post_id)
    post = team_db.team_post(tx, post_id)
    if consented is None or post is None or [r.html for r in replies] != [consented[0]]:
        raise GateRefused("a team post whose text is not what the worker said yes to")
    if post.mode == "anonymous":
        avoid = [*consented[1], tx.name_of(post.worker_id)]
        if mentions(render.to_plain(consented[0]), avoid):
            raise GateRefused("an anonymous team post that names the worker")
