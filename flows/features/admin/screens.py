"""/admin, for the people COREFLECT_ADMINS names: counts only (never anything anyone wrote, no
worker's name), join codes, and the supervisors. Everyone else is told there is no such command.

    /admin                     counts, and buttons for the rest
    /admin code [N]            a new join code for N people (default 1)
    /admin revoke ID           revoke join code ID
    /admin approve PERSON      mark a Telegram user id as a supervisor
    /admin unapprove PERSON    withdraw that (their links as supervisor end, as an unlink would)
    /admin left PERSON         mark someone as having left (their links end; erased later)
"""

from __future__ import annotations

from datetime import timedelta

from flows.features.admin import db, people
from flows.features.admin.access import JOIN_PREFIX
from flows.features.admin.policy import Organisation
from flows.features.supervision.links import code_hash, new_code, show_code
from flows.kernel import ids
from flows.kernel.model import Button
from flows.kernel.turn import Turn, msg
from flows.store import audit

MAX_USES = 500


def _known(t: Turn, text: str) -> int | None:
    person_id = ids.number(text.strip(), 15)
    if person_id is None or t.tx.one("SELECT 1 FROM people WHERE id = ?", (person_id,)) is None:
        return None
    return person_id


def command(org: Organisation, t: Turn, args: str) -> None:
    if t.person.id not in org.admins:
        t.say(msg("unknown_command", command="admin"))
        t.resume()
        return
    verb, _, rest = args.strip().partition(" ")
    verb = verb.lower()
    if verb == "":
        home(org, t)
    elif verb == "code":
        uses = ids.number(rest.strip() or "1", 3)
        new_join_code(org, t, uses if uses and 0 < uses <= MAX_USES else 1)
    elif verb == "revoke" and (code_id := ids.number(rest.strip())) is not None:
        revoke(t, code_id)
    elif verb in {"approve", "unapprove", "left"} and (person_id := _known(t, rest)) is not None:
        mark(org, t, verb, person_id)
    elif verb in {"approve", "unapprove", "left", "revoke"}:
        t.say(msg("not_found"))
    else:
        t.say(msg("admin_usage"))
    t.still_in_flow()


def home(org: Organisation, t: Turn) -> None:
    audit.record(t.tx, "admin_viewed", t.person.id)
    t.say(
        msg(
            "admin_home",
            counts=db.counts(t.tx, t.now),
            invite=org.invite_only,
            approved=org.approved_supervisors,
            retention=org.retention_days,
        ),
        [
            [Button(msg("button_admin_new_code"), "ad:new")],
            [Button(msg("button_admin_codes"), "ad:codes")],
            [Button(msg("button_admin_supervisors"), "ad:sup")],
        ],
    )


def new_join_code(org: Organisation, t: Turn, uses: int) -> None:
    code = new_code()
    expires = t.now + timedelta(days=org.join_code_days)
    code_id = db.code_create(t.tx, code_hash(code), t.now, expires, uses)
    audit.record(t.tx, "join_code_created", t.person.id, detail=f"code {code_id}, {uses} uses")
    username = t.bot_username
    t.say(
        msg(
            "admin_code_ready",
            code=show_code(code),
            url=f"https://t.me/{username}?start={JOIN_PREFIX}{code}" if username else "",
            uses=uses,
            until=t.when(expires),
            id=code_id,
        )
    )


def codes(t: Turn) -> None:
    live = db.live_codes(t.tx, t.now)
    rows = [[Button(msg("button_admin_revoke", id=c["id"]), f"ad:rv:{c['id']}")] for c in live]
    listed = [
        {"id": c["id"], "left": c["uses"] - c["used"], "until": c["expires_at"][:10]} for c in live
    ]
    t.say(msg("admin_codes", codes=listed), rows)


def revoke(t: Turn, code_id: int) -> None:
    if db.code_revoke(t.tx, code_id, t.now):
        audit.record(t.tx, "join_code_revoked", t.person.id, detail=f"code {code_id}")
        t.say(msg("admin_code_revoked", id=code_id))
    else:
        t.say(msg("not_found"))


def supervisors(org: Organisation, t: Turn) -> None:
    approved = db.approved_supervisors(t.tx)
    linked = db.linked_supervisors(t.tx)
    listed = [
        {"name": t.name_of(p), "id": p, "approved": p in approved, "linked": p in linked}
        for p in dict.fromkeys([*approved, *linked])
    ]
    rows = [
        [Button(msg("button_admin_unapprove", name=s["name"]), f"ad:wd:{s['id']}")]
        for s in listed
        if s["approved"]
    ]
    t.say(msg("admin_supervisors", supervisors=listed, approved=org.approved_supervisors), rows)


def mark(org: Organisation, t: Turn, verb: str, person_id: int) -> None:
    if verb == "approve":
        db.approve(t.tx, person_id, t.now)
        audit.record(t.tx, "supervisor_approved", t.person.id, person_id)
        t.say(msg("admin_approved", name=t.name_of(person_id)))
    elif verb == "unapprove":
        ended = people.withdraw_approval(t.tx, t.out, person_id, t.now)
        if ended is None:
            t.say(msg("not_found"))
            return
        audit.record(t.tx, "supervisor_withdrawn", t.person.id, person_id, f"{ended} links")
        t.say(msg("admin_unapproved", name=t.name_of(person_id), links=ended))
    elif people.mark_left(t.tx, t.out, person_id, t.now, org.leaver_days):
        audit.record(t.tx, "leaver_marked", t.person.id, person_id)
        t.say(msg("admin_left", days=org.leaver_days))
    else:
        t.say(msg("admin_left_already"))


def button(org: Organisation, t: Turn, rest: str) -> None:
    if t.person.id not in org.admins:
        t.not_found()
        return
    what, _, tail = rest.partition(":")
    number = ids.number(tail)
    if what == "new":
        new_join_code(org, t, 1)
    elif what == "codes":
        codes(t)
    elif what == "sup":
        supervisors(org, t)
    elif what == "rv" and number is not None:
        revoke(t, number)
    elif what == "wd" and number is not None:
        mark(org, t, "unapprove", number)
    else:
        t.not_found()
