"""Linking a worker and a supervisor, with consent on both sides: invites and their codes, the
supervisor's confirmation, the worker's yes, unlinking, and the notices either side gets."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from flows.features.account.settings import timezone_offer
from flows.features.supervision import db as sup_db
from flows.features.supervision import extend, steps
from flows.features.supervision.db import LinkRow
from flows.features.supervision.extend import MAY_SUPERVISE
from flows.kernel import gate
from flows.kernel.model import Button, Outcome, Reply
from flows.kernel.turn import Turn, msg, name_of
from flows.store import audit
from flows.store.unit import Unit

INVITE_TTL = timedelta(hours=72)


WRONG_CODES_ALLOWED = 5  # in any hour; more are refused until the oldest is an hour old


WRONG_CODE_WINDOW = timedelta(hours=1)


def new_code() -> str:
    """80 random bits, in capitals and digits a person can read aloud or type."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")


def normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> bytes:
    return hashlib.sha256(normalise(code).encode("ascii", "ignore")).digest()


def show_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def may_supervise(t: Turn, person_id: int) -> bool:
    """Whether they may accept an invite (an organisation may approve supervisors first)."""
    return all(approved(t, person_id) for approved in t.also(MAY_SUPERVISE))


def menu(t: Turn) -> None:
    mine = sup_db.supervisor_link(t.tx, t.person.id)
    theirs = sup_db.supervisee_links(t.tx, t.person.id)
    rows: list[list[Button]] = []
    if mine is not None:
        name = name_of(t.tx, mine.supervisor_id)
        rows += steps.done_buttons(t, mine)
        rows.append([steps.ask_button(mine)])
        rows.append([Button(msg("button_unlink", name=name), f"n:{mine.id}:ask")])
    else:
        rows.append([Button(msg("button_invite"), "g:invite")])
    if len(theirs) > 2:  # each person's own screen has theirs: this one stays small
        rows.append([Button(msg("button_people"), "sv:p0")])
    for link in theirs if len(theirs) <= 2 else []:
        name = name_of(t.tx, link.worker_id)
        rows.append([Button(msg("button_unlink", name=name), f"n:{link.id}:ask")])
    t.say(
        msg(
            "supervisor_menu",
            supervisor=name_of(t.tx, mine.supervisor_id) if mine else None,
            since=t.when(mine.created_at) if mine else "",
            supervisees=[name_of(t.tx, link.worker_id) for link in theirs],
            steps=steps.lines(t, mine) if mine else [],
        ),
        rows,
    )


def invite(t: Turn) -> None:
    mine = sup_db.supervisor_link(t.tx, t.person.id)
    if mine is not None:
        t.say(msg("invite_already_linked", name=name_of(t.tx, mine.supervisor_id)))
        return
    code = new_code()
    sup_db.invite_create(t.tx, t.person.id, code_hash(code), t.now, INVITE_TTL)
    username = t.bot_username
    t.say(
        msg(
            "invite_ready",
            code=show_code(code),
            url=f"https://t.me/{username}?start=link_{code}" if username else "",
            hours=int(INVITE_TTL.total_seconds() // 3600),
        )
    )


def arrived(t: Turn, typed: str) -> None:
    """`/start link_<code>`: someone opened an invite link. Someone new is greeted as a
    supervisor (not with the peer worker's welcome), asked about the link first, and about
    their time zone once that is answered. `/link CODE` typed by someone new comes here too."""
    if t.first_contact:
        t.say(msg("welcome_supervisor", name=t.person.first_name))
    code(t, typed)
    pending = t.conv.pending or {}
    if t.first_contact and pending.get("kind") == "link_confirm":
        pending["then_timezone"] = True
    # A code that did not work ends the reply with why, nothing more (someone who mistyped sends
    # it again; /settings changes the time zone).


def code(t: Turn, typed: str) -> None:
    """A supervisor brings an invite code (typed, or from the link)."""
    if not normalise(typed):
        t.say(msg("code_missing"))
        return
    recent = sup_db.wrong_codes_since(t.tx, t.person.id, t.now - WRONG_CODE_WINDOW)
    if recent >= WRONG_CODES_ALLOWED:
        t.say(msg("code_limit"))
        return
    invite = sup_db.invite_by_hash(t.tx, code_hash(typed))
    if invite is not None and invite.worker_id == t.person.id and not invite.closed:
        t.say(msg("code_own"))
        return
    if (
        invite is None
        or invite.closed
        or invite.supervisor_id is not None
        or invite.expires_at <= t.now
    ):
        sup_db.wrong_code(t.tx, t.person.id, t.now)
        t.say(msg("code_doesnt_work"))
        return
    current = sup_db.supervisor_link(t.tx, invite.worker_id)
    if current is not None and current.supervisor_id == t.person.id:
        t.say(msg("code_already_linked", name=name_of(t.tx, invite.worker_id)))
        return
    if not may_supervise(t, t.person.id):
        # COREFLECT_SUPERVISORS=approved: both sides are told; the invite stays open.
        t.say(msg("supervisor_not_approved"))
        gate.send(
            t.tx,
            t.out,
            invite.worker_id,
            [Reply(msg("invitee_not_approved", name=name_of(t.tx, t.person.id)))],
            gate.InviteNotice(invite.id),
            t.now,
        )
        return
    t.conv.pending = {"kind": "link_confirm", "invite": invite.id}
    t.conv.turn += 1
    t.say(
        msg("link_explain", name=name_of(t.tx, invite.worker_id)),
        [
            [Button(msg("button_link_confirm"), f"k:{t.conv.turn}:yes")],
            [Button(msg("button_not_now"), f"k:{t.conv.turn}:no")],
        ],
    )


def supervisor_answer(t: Turn, value: str) -> None:
    pending = t.conv.pending or {}
    invite_id = int(pending.get("invite", 0))
    t.conv.pending = None
    t.out.clear_buttons = True
    _supervisor_answer(t, invite_id, value)
    if pending.get("then_timezone"):
        timezone_offer(t)  # first contact through an invite link: the time zone comes next


def _supervisor_answer(t: Turn, invite_id: int, value: str) -> None:
    if value != "yes":
        t.say(msg("link_not_now"))
        return
    invite = sup_db.invite(t.tx, invite_id)
    if (
        invite is None
        or invite.expires_at <= t.now
        or not sup_db.invite_claim(t.tx, invite.id, t.person.id, t.now)
    ):
        t.say(msg("code_doesnt_work"))
        return
    worker_name = name_of(t.tx, invite.worker_id)
    supervisor_name = name_of(t.tx, t.person.id)
    gate.send(
        t.tx,
        t.out,
        invite.worker_id,
        [
            Reply(
                msg("link_request", name=supervisor_name),
                [
                    [Button(msg("button_link_yes"), f"j:{invite.id}:yes")],
                    [Button(msg("button_link_no"), f"j:{invite.id}:no")],
                ],
            )
        ],
        gate.LinkRequest(invite.id),
        t.now,
    )
    t.say(msg("link_asked", name=worker_name))


def worker_answer(t: Turn, invite_id: int, value: str) -> None:
    invite = sup_db.invite(t.tx, invite_id)
    if invite is None or invite.worker_id != t.person.id:
        t.not_found()
        return
    t.out.clear_buttons = True
    if invite.closed or invite.supervisor_id is None or invite.expires_at <= t.now:
        t.say(msg("link_request_gone"))
        return
    supervisor = invite.supervisor_id
    name = name_of(t.tx, supervisor)
    if value != "yes":
        gate.send(
            t.tx,
            t.out,
            supervisor,
            [Reply(msg("link_declined_supervisor", name=name_of(t.tx, t.person.id)))],
            gate.LinkRequest(invite.id),
            t.now,
        )
        sup_db.invite_close(t.tx, invite.id, t.now)
        t.say(msg("link_declined_worker", name=name))
        return
    current = sup_db.supervisor_link(t.tx, t.person.id)
    if current is not None:
        sup_db.invite_close(t.tx, invite.id, t.now)
        t.say(msg("invite_already_linked", name=name_of(t.tx, current.supervisor_id)))
        return
    if not may_supervise(t, supervisor):  # approval withdrawn since they used the code
        t.say(msg("invitee_not_approved", name=name))
        return
    link_id = sup_db.link_create(t.tx, t.person.id, supervisor, t.now)
    audit.record(t.tx, "linked", t.person.id, supervisor)
    sup_db.invite_close(t.tx, invite.id, t.now)
    t.out.menus[supervisor] = True  # their command menu gains the supervisor's commands
    made = sup_db.link(t.tx, link_id)
    assert made is not None
    extend.linked(t, made)  # sessions already planned: the supervisor is reminded too
    notice(t.tx, t.out, link_id, supervisor, "linked_supervisor", t.now, t.person.id)
    t.say(msg("linked_worker", name=name))


def end_link(
    tx: Unit, out: Outcome, link: LinkRow, by: int, now: datetime, message: str, **context: Any
) -> None:
    """The link ends: an open co-reflection round closes unrevealed; summaries still
    queued are dropped, and the supervisor's lists no longer show the worker's summaries.
    (Withdrawing what is still live is the caller's: see sharing.unlink.)"""
    other = link.other(by)
    notice(tx, out, link.id, other, message, now, by, **context)
    open_round = sup_db.open_round(tx, link.id)
    if open_round is not None:
        sup_db.round_close(tx, open_round.id, "withdrawn", now)
    sup_db.drop_queued_shares(tx, link.id)
    sup_db.link_end(tx, link.id, by, now)
    audit.record(tx, "unlinked", by, other, message)
    if not sup_db.supervisee_links(tx, link.supervisor_id):
        out.menus[link.supervisor_id] = False  # nobody left to supervise: everyone's menu
    out.scrub = True  # summaries dropped unsent: no copy left in the WAL either


def notice(
    tx: Unit,
    out: Outcome,
    link_id: int,
    to: int,
    message: str,
    now: datetime,
    about: int,
    buttons: list[list[Button]] | None = None,
    **context: Any,
) -> None:
    """Catalogue wording to the other side of a link: names and dates, never anyone's words.
    It waits for the end of their quiet hours, unless it tells of something taken back."""
    html = msg(message, name=name_of(tx, about), **context)
    silent = message in WITHDRAWALS
    gate.send(tx, out, to, [Reply(html, buttons or [])], gate.Notice(link_id), now, silent=silent)


# Notices of something taken back: they arrive at once, without a sound, whatever the hour.
WITHDRAWALS = frozenset(
    {
        "share_ended_notice",
        "unlinked_other",
        "forgotten_notice",
        "round_withdrawn",
        "team_withdrawn_notice",
    }
)


def links_of(t: Turn) -> list[LinkRow]:
    mine = sup_db.supervisor_link(t.tx, t.person.id)
    return ([mine] if mine else []) + sup_db.supervisee_links(t.tx, t.person.id)
