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

A failed check is a bug, not a person's mistake: it raises, and the whole unit of work rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.model import Outcome, Reply
from flows.store import Tx


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


Basis = Share | Reveal | LinkRequest | Notice | Removal


def send(tx: Tx, out: Outcome, to: int, replies: list[Reply], basis: Basis, now: datetime) -> None:
    """Queue `replies` for `to`'s chat if `basis` holds right now; otherwise refuse loudly."""
    check(tx, to, basis, now)
    for reply in replies:
        if isinstance(basis, Share):
            reply.share_id = basis.share_id
            reply.protect = True
        if isinstance(basis, Reveal):
            reply.protect = True
        out.others.append((to, reply))


def check(tx: Tx, to: int, basis: Basis, now: datetime) -> None:
    if isinstance(basis, Share):
        share = tx.share(basis.share_id)
        link = tx.link(share.link_id) if share else None
        if share is None or link is None or not link.active:
            raise GateRefused("a summary without an active link")
        if not share.live(now) or to != share.supervisor_id:
            raise GateRefused("a summary that is not shared with this person now")
    elif isinstance(basis, Reveal):
        found = tx.round(basis.round_id)
        link = tx.link(found.link_id) if found else None
        if found is None or link is None or not link.active or found.outcome is not None:
            raise GateRefused("a reveal without an open round on an active link")
        if to not in found.parts or len(found.parts) != 2:
            raise GateRefused("a reveal to someone outside the round")
        if not all(p.finished and p.reveal is True for p in found.parts.values()):
            raise GateRefused("a reveal without both people's yes")
    elif isinstance(basis, LinkRequest):
        invite = tx.invite(basis.invite_id)
        if invite is None or invite.closed or invite.supervisor_id is None:
            raise GateRefused("a link request without a confirmed invite")
        if invite.expires_at <= now or to not in {invite.worker_id, invite.supervisor_id}:
            raise GateRefused("a link request to someone outside the invite")
    elif isinstance(basis, Notice):
        link = tx.link(basis.link_id)
        if link is None or to not in {link.worker_id, link.supervisor_id}:
            raise GateRefused("a notice to someone outside the link")
    else:
        share = tx.share(basis.share_id)
        if share is None or share.live(now) or to != share.supervisor_id:
            raise GateRefused("removing a copy of a share that is still live")
