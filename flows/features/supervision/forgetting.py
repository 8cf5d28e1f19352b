"""/forget and supervision: what erasing everything will also do, said before they choose, and
done with one message to each person on the other side of a link.

Before the rows go: every live summary on their links is withdrawn, shared by them or with them
(copies deleted where Telegram allows), team
learning withdraws its posts (through `extend.BEFORE_LINKS_END`, which returns what it did), and
every link ends, the other person told once, in one message that says all of it.
"""

from __future__ import annotations

from typing import Any

from flows.features.supervision import db as sup_db
from flows.features.supervision.extend import BEFORE_LINKS_END
from flows.features.supervision.links import end_link, links_of
from flows.features.supervision.sharing import end_share
from flows.kernel.turn import Turn, name_of


def forget_also(t: Turn) -> list[dict[str, Any]]:
    """For /forget's "are you sure?": each link it ends, and the summaries it withdraws."""
    also: list[dict[str, Any]] = []
    for link in links_of(t):
        name = name_of(t.tx, link.other(t.person.id))
        also.append({"what": "link", "name": name, "count": 1})
        count = len(live_on(t, [link]))
        if count:
            what = "summaries" if link.worker_id == t.person.id else "received"
            also.append({"what": what, "name": name, "count": count})
    return also


def live_on(t: Turn, links: list[sup_db.LinkRow]) -> list[sup_db.ShareRow]:
    """The summaries still live on these links, whoever of the two this person is."""
    ids = {link.id for link in links}
    return [
        share
        for worker_id in {link.worker_id for link in links}
        for share in sup_db.shares_by_worker(t.tx, worker_id, -1, 0)
        if share.link_id in ids and share.live(t.now)
    ]


def before_forget(t: Turn) -> None:
    """Erasing everything withdraws every live summary and ends every link, telling each
    person on the other side once, before the rows go."""
    withdrawn: dict[int, int] = {}
    kept: dict[int, int] = {}
    links = links_of(t)
    # Summaries shared on each link, by this person or with them: a supervisor who leaves takes
    # no copy of their supervisees' words along (deleted from their chat, as /unlink does).
    for share in live_on(t, links):
        old = end_share(t.tx, t.out, share, "withdrawn", t.now, tell=False)
        withdrawn[share.link_id] = withdrawn.get(share.link_id, 0) + 1
        kept[share.link_id] = kept.get(share.link_id, 0) + old
    # What other features did as they let go (team posts withdrawn…): said in the same message.
    extra: dict[str, int] = {}
    for hook in t.also(BEFORE_LINKS_END):
        for key, value in (hook(t) or {}).items():
            extra[key] = extra.get(key, 0) + int(value)
    for link in links:
        worker = link.worker_id == t.person.id
        context = {
            "worker": worker,
            "withdrawn": withdrawn.get(link.id, 0),
            "kept": kept.get(link.id, 0) + (extra.get("kept", 0) if worker else 0),
            "posts": extra.get("posts", 0) if worker else 0,
            "sessions": extra.get("sessions", 0) if worker else 0,
        }
        end_link(t.tx, t.out, link, t.person.id, t.now, "forgotten_notice", **context)
