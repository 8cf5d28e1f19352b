"""/entries: a page of the journal, a #tag, words to search for, or what is marked for
supervision."""

from __future__ import annotations

from flows.kernel.model import Button
from flows.kernel.turn import Turn, flow_list, msg, wording
from flows.questions import answers as content

ENTRIES_PAGE = 5  # fits a phone screen with its buttons


def entries(t: Turn, query: str, page: int) -> None:
    """A page of the journal: everything, a #tag, words to search for, or `supervision`."""
    query = " ".join(query.split())
    if query.lower() == "supervision":
        mode = "flagged"
    elif query.startswith("#") and " " not in query:
        mode = "tag"
    else:
        mode = "search" if query else "all"
    start = page * ENTRIES_PAGE
    if mode in {"all", "flagged"}:
        rows = t.tx.entries(
            t.person.id, limit=ENTRIES_PAGE + 1, offset=start, flagged=mode == "flagged"
        )
    else:
        # Search decrypts and matches per person: nothing searchable is stored in the clear.
        # It stops as soon as this page (and a sign of one more) is found.
        test = content.matcher(query)
        found = t.tx.search(t.row.cipher, t.person.id, test, start, ENTRIES_PAGE + 1)
        rows = [e for i in found if (e := t.tx.entry(t.person.id, i)) is not None]
    older, rows = len(rows) > ENTRIES_PAGE, rows[:ENTRIES_PAGE]
    shown = query[1:] if mode == "tag" else query
    if not rows:
        if mode == "all" and page == 0:
            t.say(msg("entries_empty", flows=flow_list()))
        else:
            t.say(msg("nothing_found", mode=mode, query=shown))
        return
    items = []
    for number, entry in enumerate(rows, start=start + 1):
        flow = wording().flows.get(entry.flow)
        # A plan is listed once (its latest version), with the date it was last looked over.
        reviewed = t.when(entry.updated_at) if flow and flow.plan and entry.updated_at else ""
        items.append(
            {
                "number": number,
                "draft": entry.status == "draft",
                "reviewed": reviewed,
                **t.recognisable(entry),
            }
        )
    # Each carries where it was opened from, so the entry can lead back to this page.
    buttons = [
        Button(str(i["number"]), open_data(e.id, page, query))
        for i, e in zip(items, rows, strict=True)
    ]
    keyboard = [buttons]
    paging = []
    if page > 0:
        paging.append(Button(msg("button_newer"), page_data(page - 1, query)))
    if older:
        paging.append(Button(msg("button_older"), page_data(page + 1, query)))
    if paging:
        keyboard.append(paging)
    heading = msg("entries_heading", mode=mode, query=shown, page=page)
    t.say(heading + "\n\n" + msg("entries_list", items=items), keyboard)


def open_data(entry_id: int, page: int, query: str) -> str:
    """Callback data to open an entry from a page of /entries (the query cut to fit 64 bytes)."""
    prefix = f"o:{entry_id}:{page}:"
    room = 64 - len(prefix.encode())
    return prefix + query.encode()[:room].decode("utf-8", "ignore")


def page_data(page: int, query: str) -> str:
    """Callback data for a page of /entries: the query rides along, cut to fit 64 bytes."""
    prefix = f"e:{page}:"
    room = 64 - len(prefix.encode())
    cut = query.encode()[:room].decode("utf-8", "ignore")
    return prefix + cut
