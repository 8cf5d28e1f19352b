"""Team learning as a feature: its commands, buttons, hooks and what it adds to supervision."""

from __future__ import annotations

from datetime import datetime

from flows.features.account.feature import FORGET_ALSO
from flows.features.supervision.extend import (
    BEFORE_LINKS_END,
    HAS_SHARED,
    SHARE_MENU_ROWS,
    SHARED,
    SUMMARY_OPENED,
)
from flows.features.team import db as team_db
from flows.features.team.ending import (
    before_forget,
    export,
    forget_also,
    has_posts,
    not_posted,
    shared,
    withdraw,
)
from flows.features.team.groups import (
    GROUP_COMMAND,
    checks,
    group_event,
    strays,
    teams,
    unregister,
)
from flows.features.team.proposals import choose_group, chosen, consent, decline, edit, offer, typed
from flows.features.team.requests import (
    choose_group_for_entry,
    pick_reflection,
    request,
    share_menu_rows,
    supervisor_answer,
)
from flows.kernel.feature import Feature, Guard
from flows.kernel.ids import number
from flows.kernel.model import Outcome
from flows.kernel.turn import Turn, msg
from flows.store.unit import Unit


def button(t: Turn, rest: str) -> None:
    """Every team button carries ids, checked against the person pressing."""
    action, _, tail = rest.partition(":")
    parts = tail.split(":")
    first = number(parts[0])
    second = number(parts[1]) if len(parts) > 1 else None
    word = parts[1] if len(parts) > 1 else ""
    if action == "s":
        pick_reflection(t)
    elif first is None:
        t.not_found()
    elif action == "p":
        choose_group(t, first)
    elif action in {"g", "b"} and second is not None:
        chosen(t, first, second, action == "b")
    elif action == "r":
        choose_group_for_entry(t, first)
    elif action == "q" and second is not None:
        request(t, first, second)
    elif action in {"a", "f"} and second is not None:
        consent(t, first, second, "anonymous" if action == "a" else "named")
    elif action == "e":
        edit(t, first)
    elif action == "d":
        decline(t, first)
    elif action in {"o", "x"}:
        supervisor_answer(t, first, action == "o")
    elif action == "w":
        withdraw(t, first, word)
    elif action == "u":
        unregister(t, first, word)
    else:
        t.not_found()


def _command(t: Turn, args: str) -> None:
    teams(t)
    t.still_in_flow()


def _group_command_here(t: Turn, args: str) -> None:
    """/teamgroup belongs in the group itself."""
    t.say(msg("teamgroup_private"))
    t.still_in_flow()


def _refused(tx: Unit, out: Outcome, post_id: int, chat_id: int, now: datetime) -> None:
    if chat_id < 0:  # the post itself, in its group (the bot is no longer there, say)
        not_posted(tx, out, post_id, chat_id, now)


FEATURE = Feature(
    name="team",
    commands={"teams": _command, GROUP_COMMAND: _group_command_here},
    supervisor_menu=("teams",),
    buttons={"t": button},
    pending=frozenset({"team_framing", "team_edit"}),
    typed={"team_framing": typed, "team_edit": typed},
    export=lambda tx, person_id, now: {"team_posts": export(tx, person_id)},
    group_commands=(GROUP_COMMAND,),
    group=group_event,
    strays=strays,
    admin_check_prefixes=("t",),
    admin_checks=checks,
    guards={
        "team_post": Guard(
            live=lambda tx, post_id, chat, html, now: team_db.team_post_sendable(
                tx, post_id, chat, html
            ),
            sent=team_db.team_post_message,
            refused=_refused,
        )
    },
    extends={
        SHARE_MENU_ROWS: share_menu_rows,
        HAS_SHARED: has_posts,
        SHARED: shared,
        SUMMARY_OPENED: offer,
        BEFORE_LINKS_END: before_forget,
        FORGET_ALSO: forget_also,
    },
)
