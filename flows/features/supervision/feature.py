"""Supervision as a feature: its commands, buttons and hooks."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from flows.features.account.feature import FORGET_ALSO
from flows.features.journal.entry import CAN_SHARE, SHARE_ENTRY
from flows.features.supervision import acks, steps
from flows.features.supervision import db as sup_db
from flows.features.supervision.coreflection import completed, coreflect, coreflect_on, round_button
from flows.features.supervision.extend import (
    has_other_shared,
    shared_extras,
    summary_opened,
)
from flows.features.supervision.forgetting import before_forget, forget_also
from flows.features.supervision.links import (
    arrived,
    invite,
    menu,
    supervisor_answer,
    worker_answer,
)
from flows.features.supervision.sharing import (
    preview,
    preview_button,
    share_menu,
    share_pick,
    shared,
    sweep,
    unlink,
    withdraw,
)
from flows.features.supervision.supervisor import open_summary, person, summaries, supervisees
from flows.kernel import export, ids
from flows.kernel.feature import Feature, Guard
from flows.kernel.model import Outcome
from flows.kernel.turn import Turn
from flows.store.rows import EntryRow
from flows.store.unit import Unit


def _command(command: str, t: Turn, args: str) -> None:
    if command == "supervisor":
        menu(t)
    elif command == "link":
        arrived(t, args)  # someone new is greeted as a supervisor, as by the invite link
    elif command == "share":
        share_menu(t)
    elif command == "shared":
        shared(t, 0, team=has_other_shared(t))
        shared_extras(t)
    elif command == "supervisees":
        supervisees(t)
    else:
        summaries(t, 0)
    t.still_in_flow()


def _button(kind: str, t: Turn, rest: str) -> None:
    """Buttons that carry an id: each is checked against the person pressing it."""
    head, _, tail = rest.partition(":")
    number = ids.number(head)
    if kind == "g":
        invite(t)
    elif kind == "j" and number is not None:
        worker_answer(t, number, tail)
    elif kind == "n" and number is not None:
        unlink(t, number, tail)
    elif kind == "h":
        share_pick(t, head, tail)
    elif kind == "w" and number is not None:
        withdraw(t, number, tail)
    elif kind == "d" and (page := ids.number(head, 6)) is not None:
        shared(t, page)
    elif kind == "y" and (page := ids.number(head, 6)) is not None:
        link_id = ids.number(tail) if tail else None
        if tail and link_id is None:
            t.not_found()
        else:
            summaries(t, page, link_id)
    elif kind == "sv" and head.startswith("p") and (page := ids.number(head[1:], 4)) is not None:
        supervisees(t, page)
    elif kind == "sv" and number is not None:
        person(t, number)
    elif kind == "m" and number is not None:
        open_summary(t, number)
        summary_opened(t, number)
    elif kind == "st":
        steps.button(t, head, tail)
    elif kind == "ak" and number is not None:
        acks.press(t, number, tail)
    elif kind == "q" and number is not None:
        coreflect_on(t, number)
    elif kind == "r" and number is not None:
        round_button(t, number, tail)
    else:
        t.not_found()


def _confirming_link(t: Turn, value: str) -> None:
    if (t.conv.pending or {}).get("kind") != "link_confirm":
        t.stale()
    else:
        supervisor_answer(t, value)


def _previewing(t: Turn, value: str) -> None:
    if (t.conv.pending or {}).get("kind") != "share_preview":
        t.stale()
    else:
        preview_button(t, value)


def _sweep(tx: Unit, out: Outcome, now: datetime) -> None:
    sweep(tx, out, now)
    sup_db.prune_share_lists(tx, now - timedelta(days=1))


def _together(t: Turn, command: str, args: str) -> bool:
    """A question set marked `together` (co-reflection) starts a round, not a lone entry."""
    flow = t.cat.by_command(command)
    if flow is None or not flow.together:
        return False
    coreflect(t)
    return True


def _export(tx: Unit, person_id: int, now: datetime) -> dict[str, Any]:
    """Supervision's part of /export: every summary shared, and how it stands."""
    shares = [
        export.ExportShare(
            id=share.id,
            kind=share.kind,
            with_id=share.supervisor_id,
            with_name=tx.name_of(share.supervisor_id) or "",
            answers=tuple(share.answers),
            shared_at=share.created_at,
            expires_at=share.expires_at,
            # Past its expiry but not yet swept is expired all the same.
            ended=share.ended or (None if share.live(now) else "expired"),
            ended_at=share.ended_at or (None if share.live(now) else share.expires_at),
        )
        for share in sup_db.shares_by_worker(tx, person_id, -1, 0)
    ]
    return {"shares": shares}


def _can_share(t: Turn) -> bool:
    return sup_db.supervisor_link(t.tx, t.person.id) is not None


def _share_entry(t: Turn, entry: EntryRow) -> None:
    preview(t, "entry", entry.id, [entry])


FEATURE = Feature(
    name="supervision",
    commands={
        name: functools.partial(_command, name)
        for name in ("supervisor", "link", "share", "shared", "supervisees", "summaries")
    },
    menu=("share", "shared", "supervisor"),
    supervisor_menu=("supervisees", "summaries", "link"),
    deep_links={"link_": arrived},
    greets=frozenset({"link_", "/link"}),
    buttons={kind: functools.partial(_button, kind) for kind in [*"gjnhwdymqr", "sv", "ak", "st"]},
    turn_buttons={"k": _confirming_link, "p": _previewing},
    pending=frozenset({"link_confirm", "share_preview", "step_text"}),
    typed={"step_text": steps.typed},
    dynamic_command=_together,
    completed=completed,
    before_forget=before_forget,
    sweep=_sweep,
    export=_export,
    extends={CAN_SHARE: _can_share, SHARE_ENTRY: _share_entry, FORGET_ALSO: forget_also},
    guards={
        "share": Guard(
            live=lambda tx, share_id, chat, html, now: sup_db.share_sendable(tx, share_id, now),
            sent=sup_db.record_share_message,
        ),
        "share_list": Guard(
            live=lambda tx, list_id, chat, html, now: sup_db.share_list_sendable(tx, list_id, now),
            sent=sup_db.record_share_list_message,
        ),
    },
)
