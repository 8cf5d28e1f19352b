"""/forget and sessions: the planned supervision sessions it cancels, named before they choose
and told to the supervisor in the one message /forget sends them (supervision's forgetting.py).
The rows themselves go with the person's."""

from __future__ import annotations

from typing import Any

from flows.features.sessions import db as sessions_db
from flows.kernel.turn import Turn


def planned(t: Turn) -> int:
    return sum(1 for s in sessions_db.sessions_planned(t.tx, t.person.id) if s.starts_at > t.now)


def forget_also(t: Turn) -> list[dict[str, Any]]:
    count = planned(t)
    return [{"what": "sessions", "name": "", "count": count}] if count else []


def before_links_end(t: Turn) -> dict[str, int]:
    return {"sessions": planned(t)}
