"""Where other features add to supervision's screens without supervision importing them.

A feature fills these points through its `Feature.extends` (team learning does); supervision calls
the helpers below and never knows who answered.
"""

from __future__ import annotations

from datetime import datetime

from flows.features.supervision.db import LinkRow
from flows.kernel.model import Button
from flows.kernel.turn import Turn

SHARE_MENU_ROWS = "supervision.share_menu_rows"  # (t, link) -> rows of buttons under /share
HAS_SHARED = "supervision.has_shared"  # (t) -> bool: something else shared, for /shared
SHARED = "supervision.shared"  # (t) -> None: its part of /shared, after the summaries
SUMMARY_OPENED = "supervision.summary_opened"  # (t, share id) -> None: after a summary is shown
# (t) -> {"posts", "kept", "sessions": counts} or None: /forget, before links end; the counts
# go into the one message the other side of the link gets (see forgetting.py).
BEFORE_LINKS_END = "supervision.before_links_end"
MAY_SUPERVISE = "supervision.may_supervise"  # (t, person id) -> bool: may they accept an invite
LINKED = "supervision.linked"  # (t, link) -> None: a link was just made
NEXT_SESSION = "supervision.next_session"  # (t, worker id) -> datetime | None: their next one
PERSON_LINES = "supervision.person_lines"  # (t, link) -> lines for a supervisee's own screen
PERSON_BUTTONS = "supervision.person_buttons"  # (t, link) -> rows of buttons on that screen


def share_menu_extras(t: Turn, link: LinkRow) -> list[list[Button]]:
    return [row for hook in t.also(SHARE_MENU_ROWS) for row in hook(t, link)]


def has_other_shared(t: Turn) -> bool:
    return any(hook(t) for hook in t.also(HAS_SHARED))


def shared_extras(t: Turn) -> None:
    for hook in t.also(SHARED):
        hook(t)


def summary_opened(t: Turn, share_id: int) -> None:
    for hook in t.also(SUMMARY_OPENED):
        hook(t, share_id)


def person_lines(t: Turn, link: LinkRow) -> list[str]:
    return [line for hook in t.also(PERSON_LINES) for line in hook(t, link)]


def person_buttons(t: Turn, link: LinkRow) -> list[list[Button]]:
    return [row for hook in t.also(PERSON_BUTTONS) for row in hook(t, link)]


def next_session(t: Turn, worker_id: int) -> datetime | None:
    found = [when for hook in t.also(NEXT_SESSION) if (when := hook(t, worker_id)) is not None]
    return min(found, default=None)


def linked(t: Turn, link: LinkRow) -> None:
    for hook in t.also(LINKED):
        hook(t, link)
