"""Who may use CoReflect: with COREFLECT_ACCESS=invite, someone new needs a join code.

The door runs before anything about a new person is stored. Without a working code they get one
kind line; all that is kept is a keyed hash of their id and a count of tries (pruned after a day),
so repeated tries can be refused, and past a few an hour they get no answer at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flows.features.admin import db
from flows.features.admin.policy import Organisation
from flows.features.supervision.links import code_hash, normalise
from flows.kernel.model import Input, Outcome, Person, Reply
from flows.kernel.turn import Turn, msg
from flows.store import audit
from flows.store.unit import Unit

TRIES_ALLOWED = 5  # an hour, answered; more get no answer until the hour has passed
TRIES_WINDOW = timedelta(hours=1)
JOIN_PREFIX = "join_"


def code_in(inp: Input) -> str:
    """The join code someone new brought (/start join_CODE or /join CODE), or ""."""
    if inp.kind != "command":
        return ""
    if inp.command == "start" and inp.args.startswith(JOIN_PREFIX):
        return normalise(inp.args.removeprefix(JOIN_PREFIX))
    if inp.command == "join":
        return normalise(inp.args)
    return ""


def door(org: Organisation, tx: Unit, person: Person, inp: Input, now: datetime) -> Outcome | None:
    """None lets someone new in (their code's use is recorded); an Outcome turns them away."""
    if not org.invite_only or person.id in org.admins:
        return None
    who = audit.hashed(audit.person_key(tx.keys.log_key), person.id) or ""
    since = now - TRIES_WINDOW
    out = Outcome()
    if db.tries(tx, who, since) >= TRIES_ALLOWED:
        db.refused(tx, who, now, since)
        return out  # no answer: the same line again would only invite more tries
    code = code_in(inp)
    if code:
        code_id = db.code_use(tx, code_hash(code), now)
        if code_id is not None:
            audit.record(tx, "join_code_used", person.id, detail=f"code {code_id}")
            return None
    db.refused(tx, who, now, since)
    out.replies.append(Reply(msg("access_code_doesnt_work" if code else "access_private")))
    return out


def join(t: Turn, args: str) -> None:
    """/join CODE or /start join_CODE from someone already in: nothing more to do. Someone
    just let in by it has had the welcome already (this very turn)."""
    if t.row.welcomed:
        t.say(msg("already_joined"))
    t.resume()
