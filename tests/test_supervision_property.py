"""A supervisor sees only what was consented to, while it is consented to: a property test.

Two workers and two supervisors act in random orders: link, unlink (from either side), write
entries (every answer carries its own canary word), share an entry with random answers left out
and a random expiry (or keep it private, or leave the preview open and press "Share" later),
withdraw (through /shared, or by pressing an old "Withdraw it" button), open summaries (through
/summaries, or by pressing an old or someone else's summary button), and let time pass with or
without the expiry sweep. The test keeps its own model of links and shares and checks every call
the offline request layer saw after each action against the model as it stands after it:

- a message carrying a canary reaches a supervisor's chat only as a protected sendMessage, and
  only while a live link (the very link it was shared over) and a live share (neither withdrawn
  nor past its expiry) to that supervisor include that canary among the consented answers;
- a summary, when shared or opened, carries exactly the consented canaries, none left out;
- no worker ever sees another worker's canary, and no toast carries any;
- a withdrawal or expiry deletes exactly the copies Telegram still allows deleting (48 hours);
- the database agrees with the model at the end, and the share log is append-only.

Links are always made starting from /supervisor, a command, which closes any open preview:
linking through old buttons alone while a preview is open is the test at the end.

Every example runs in a fresh database and a fresh PTB Application (the `bot` fixture is per
test, not per example). The Application is built without PTB's rate limiter, which would
otherwise hold the test to 30 calls a second; everything else is as in conftest's `bot`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.delivery import sweep
from bot.telegram_bot import build_application
from flows.app import build
from flows.kernel import gate
from flows.questions import catalogue as engine
from flows.questions.catalogue import Catalogue
from flows.store.core import Store
from tests.drivers import Chat, Clock, Harness, make_config
from tests.offline import Person, RecordingRequest

WORKER_NAMES = ("Alex", "Bea")
SUPERVISOR_NAMES = ("Sam", "Tom")
EXPIRY_DAYS = (0, 7, 30)  # what pressing the expiry button 0, 1 or 2 times chooses
DELETE_WINDOW = timedelta(hours=48)
SENDS = {"sendMessage", "sendDocument", "sendPhoto"}  # each takes the chat's next message id
CANARY = re.compile(r"\bqj[a-z]{4}\b")
NOT_FOUND = "I couldn't find that"


@functools.cache
def catalogue() -> Catalogue:
    """The question sets and wording, loaded once: they are read-only, and loading takes a
    quarter of a second, which would otherwise dominate every example."""
    return engine.load()


@asynccontextmanager
async def started(data_dir: Path) -> AsyncIterator[tuple[Harness, Clock]]:
    """conftest's `bot` and `clock`, for one example; every Bot API call checked at the end.

    Nobody here has quiet hours: these models are about consent, not about the hour (the other
    person's hours are tested in test_supervisees.py)."""
    quiet, gate.DEFAULT_QUIET = gate.DEFAULT_QUIET, ("00:00", "00:00")
    try:
        async with _started(data_dir) as started_bot:
            yield started_bot
    finally:
        gate.DEFAULT_QUIET = quiet


@asynccontextmanager
async def _started(data_dir: Path) -> AsyncIterator[tuple[Harness, Clock]]:
    config = make_config(data_dir)
    store = await Store.open(config.data_dir, config.key, config.synchronous)
    service = build(store, catalogue(), config.timezone)
    clock = Clock()
    store.clock = clock
    request = RecordingRequest()
    app = build_application(config, service, request=request, rate_limited=False)
    await app.initialize()
    try:
        yield Harness(app, request, service, config), clock
    finally:
        await app.shutdown()
        await store.close()
    request.assert_valid()


class Errors(logging.Handler):
    """Collects error logs: a handler that raised (the gate refusing, say) logs one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# ---- the model ---------------------------------------------------------------------------------


@dataclass
class Entry:
    id: int
    items: list[str | None]  # one per answer, numbered as in the preview: its canary, or None


LIST_HEADING = "newest first. Press one to see it again."


@dataclass
class Shared:
    id: int
    worker: int
    supervisor: int
    link: int  # which link (the model's own count) it was shared over
    consented: frozenset[str]
    left_out: frozenset[str]
    answers: int  # answers shared, canaries or not
    created: datetime
    expires: datetime | None
    ended: str | None = None
    copies: list[tuple[int, datetime]] = field(default_factory=list)  # message id, sent at


@dataclass
class Preview:
    entry: Entry
    out: set[int]
    days: int
    supervisor: int
    link: int


class World:
    """The people, the model of what they have agreed, and the checks after every action."""

    def __init__(self, bot: Harness, clock: Clock) -> None:
        self.bot = bot
        self.clock = clock
        self.workers = [Chat(bot, Person(1001 + n, name)) for n, name in enumerate(WORKER_NAMES)]
        self.supervisors = [
            Chat(bot, Person(2001 + n, name)) for n, name in enumerate(SUPERVISOR_NAMES)
        ]
        self.people = self.workers + self.supervisors
        self.links: dict[int, tuple[int, int]] = {}  # worker -> (supervisor, link number)
        self.link_count = 0
        self.entries: dict[int, list[Entry]] = {0: [], 1: []}
        self.shares: list[Shared] = []
        self.owner: dict[str, int] = {}  # canary -> the worker who wrote it
        self.preview: dict[int, Preview | None] = {0: None, 1: None}  # open and unanswered
        self.send_button: dict[int, tuple[int, str]] = {}  # the latest preview's Share button
        self.message_ids: dict[int, int] = {}
        self.seen = 0

    # -- helpers --

    def canary(self, worker: int) -> str:
        n = len(self.owner)
        word = "qj" + "".join(chr(97 + (n // 26**k) % 26) for k in (3, 2, 1, 0))
        self.owner[word] = worker
        return word

    def live(self, share: Shared) -> bool:
        """Neither withdrawn nor expired (whether or not the sweep has run yet)."""
        return share.ended is None and (share.expires is None or share.expires > self.clock.now)

    def visible(self, share: Shared) -> bool:
        """What its supervisor may see now: live, over the link it was shared over, still on."""
        return self.live(share) and self.links.get(share.worker) == (share.supervisor, share.link)

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.bot.config.data_dir / "coreflect.db") as db:
            return db.execute(sql, args).fetchall()

    def newest(self, table: str, where: str = "1", *args: Any) -> int:
        return int(
            self.rows(f"SELECT COALESCE(MAX(id), 0) FROM {table} WHERE {where}", *args)[0][0]
        )

    async def through_pages(self, chat: Chat, data: str) -> None:
        """Press the button with this data, paging "Older »" through a list until it shows."""
        for _ in range(100):
            message_id, buttons = chat.keyboard()
            if data in [d for _, d in buttons]:
                await chat.press_data(data, message_id=message_id)
                return
            older = [d for label, d in buttons if label == "Older »"]
            assert older, f"no button {data!r} on any page: {buttons}"
            await chat.press_data(older[0], message_id=message_id)
        raise AssertionError("too many pages")

    def end(self, share: Shared, how: str) -> set[tuple[int, int]]:
        """The model's side of a withdrawal or expiry: the copies that must be deleted."""
        share.ended = how
        chat = self.supervisors[share.supervisor].chat_id
        now = self.clock.now
        return {(chat, mid) for mid, at in share.copies if now - at < DELETE_WINDOW}

    # -- the property, checked after every action --

    def audit(
        self,
        copies_of: Shared | None = None,
        deletes: set[tuple[int, int]] | None = None,
        listed: list[Shared] | None = None,
    ) -> None:
        """Every call since the last audit, against the model as it stands now.

        `copies_of`: the one share whose summary this action should have delivered (shared or
        opened); nothing else protected may reach a supervisor. `deletes`: exactly the
        (chat, message id) pairs this action should have deleted. `listed`: the summaries a
        /summaries list just named by their first words: the list is a copy of each."""
        calls = self.bot.request.calls[self.seen :]
        self.seen += len(calls)
        worker_chats = {w.chat_id: n for n, w in enumerate(self.workers)}
        supervisor_chats = {s.chat_id: n for n, s in enumerate(self.supervisors)}
        summaries: list[tuple[int, int, set[str]]] = []  # supervisor, message id, canaries
        deleted: set[tuple[int, int]] = set()
        for call in calls:
            params = call.params
            chat = int(params["chat_id"]) if "chat_id" in params else None
            message_id = 0
            if chat is not None and call.method in SENDS:
                message_id = self.message_ids[chat] = self.message_ids.get(chat, 0) + 1
            if call.method == "deleteMessage":
                deleted.add((int(params["chat_id"]), int(params["message_id"])))
            text = f"{params.get('text', '')}\n{params.get('caption', '')}"
            found = {c for c in CANARY.findall(text) if c in self.owner}
            assert not (found and chat is None), f"someone's words in a {call.method}: {found}"
            if chat in worker_chats:
                strangers = {c for c in found if self.owner[c] != worker_chats[chat]}
                assert not strangers, f"worker {chat} saw another worker's words {strangers}"
            elif chat in supervisor_chats:
                supervisor = supervisor_chats[chat]
                protected = params.get("protect_content") is True
                if protected and LIST_HEADING in text:
                    assert listed, "a list of summaries nobody asked for"
                    assert all(
                        any(c in x.consented and self.visible(x) for x in listed) for c in found
                    ), f"a list of summaries showed words with no live consent: {found}"
                    for x in listed:
                        x.copies.append((message_id, self.clock.now))
                    continue
                if found:
                    assert call.method == "sendMessage" and protected, (call.method, params)
                    assert any(
                        self.visible(s) and s.supervisor == supervisor and found <= s.consented
                        for s in self.shares
                    ), f"{SUPERVISOR_NAMES[supervisor]} got {found} with no live consent for it"
                if call.method == "sendMessage" and protected:
                    summaries.append((supervisor, message_id, found))
            else:
                assert not found, f"a stranger's chat {chat} got {found}"
        if copies_of is None:
            assert not summaries, f"a summary nobody shared or opened just now: {summaries}"
        else:
            assert summaries, "the summary never arrived"
            assert all(s == copies_of.supervisor for s, _, _ in summaries)
            assert set().union(*(f for _, _, f in summaries)) == copies_of.consented
            copies_of.copies += [(mid, self.clock.now) for _, mid, _ in summaries]
        assert deleted == (deletes or set()), "deleted other copies than the model expected"

    # -- actions --

    async def link(self, w: int, s: int) -> None:
        worker, supervisor = self.workers[w], self.supervisors[s]
        self.preview[w] = None  # any command ends an open preview
        await worker.send("/supervisor")
        if w in self.links:
            assert f"Unlink {SUPERVISOR_NAMES[self.links[w][0]]}" in worker.buttons()
            self.audit()
            return
        text = (await worker.press("Create an invite"))[-1]
        code = re.search(r"/link ([A-Z2-7-]+)", text)
        assert code, text
        await supervisor.send(f"/link {code.group(1)}")
        await supervisor.press("Yes, link")
        await worker.press("Yes, link")
        assert f"You're linked with {SUPERVISOR_NAMES[s]}" in worker.read()[-1]
        self.link_count += 1
        self.links[w] = (s, self.link_count)
        self.audit()

    async def unlink(self, w: int, by_supervisor: bool) -> None:
        worker = self.workers[w]
        if w not in self.links:
            self.preview[w] = None
            await worker.send("/supervisor")
            assert "Create an invite" in worker.buttons()
            self.audit()
            return
        s, link = self.links[w]
        # What is still shared over this link is withdrawn with it (the worker's default).
        live = [x for x in self.shares if x.worker == w and x.link == link and self.live(x)]
        if by_supervisor:
            supervisor = self.supervisors[s]
            await supervisor.send("/supervisor")
            await supervisor.press(f"Unlink {WORKER_NAMES[w]}")
            await supervisor.press("Unlink")
        else:
            self.preview[w] = None
            await worker.send("/supervisor")
            await worker.press(f"Unlink {SUPERVISOR_NAMES[s]}")
            await worker.press("Unlink and withdraw" if live else "Unlink")
        deletes: set[tuple[int, int]] = set()
        for share in live:
            deletes |= self.end(share, "withdrawn")
        del self.links[w]
        self.audit(deletes=deletes)

    async def note(self, w: int) -> None:
        self.preview[w] = None
        word = self.canary(w)
        await self.workers[w].send(f"{word} jotted down in my journal")  # more than a few words
        entry = self.newest("entries", "person_id = ?", self.workers[w].chat_id)
        self.entries[w].append(Entry(entry, [word]))
        self.audit()

    async def reflect(self, w: int, optional: tuple[bool, bool, bool]) -> None:
        """A reflection: the first answer, then three optional ones answered or skipped, then
        the closing choice (shown in the summary as a choice, so it carries no canary)."""
        self.preview[w] = None
        worker = self.workers[w]
        await worker.send("/reflect")
        items: list[str | None] = [self.canary(w)]
        await worker.send(f"{items[0]} went fine")
        for answered in optional:
            if answered:
                items.append(self.canary(w))
                await worker.send(f"{items[-1]} noted")
            else:
                await worker.send("/skip")
        await worker.press("Maybe later")
        items.append(None)
        entry = self.newest("entries", "person_id = ?", worker.chat_id)
        assert self.rows("SELECT status FROM entries WHERE id = ?", entry) == [("saved",)]
        self.entries[w].append(Entry(entry, items))
        self.audit()

    async def share(self, w: int, pick: int, out: frozenset[int], presses: int, how: str) -> None:
        worker = self.workers[w]
        self.preview[w] = None
        replies = await worker.send("/share")
        if w not in self.links:
            assert "haven't linked a supervisor" in replies[-1]
            event("/share: not linked")
            self.audit()
            return
        if not self.entries[w]:
            event("/share: nothing written")
            assert "nothing in your journal" in (await worker.press("One entry"))[-1]
            self.audit()
            return
        entry = self.entries[w][pick % len(self.entries[w])]
        await worker.press("One entry")
        await self.through_pages(worker, f"h:e:{entry.id}")
        _, controls = worker.keyboard()
        turn = next(d for _, d in controls if d.endswith(":send")).split(":")[1]

        def toggles() -> dict[int, tuple[int, str]]:
            """Answer number → (message id, label) of this preview's "Leave out" buttons."""
            return {
                int(d.rsplit(":t", 1)[1]): (message_id, label)
                for message_id, (_, buttons) in worker.messages().items()
                for label, d in buttons
                if d.startswith(f"p:{turn}:t")
            }

        assert sorted(toggles()) == list(range(len(entry.items)))
        assert all(label.startswith("Leave out: ") for _, label in toggles().values())
        left_out = {n for n in out if n < len(entry.items)}
        for n in sorted(left_out):
            await worker.press_data(f"p:{turn}:t{n}", message_id=toggles()[n][0])
        controls_id = max(toggles().values())[0] + 1  # the controls come after the entry
        for k in range(1, presses + 1):
            await worker.press_data(f"p:{turn}:x{EXPIRY_DAYS[k]}", message_id=controls_id)
        s, link = self.links[w]
        shown = toggles()
        assert [shown[n][1].split(":")[0] for n in range(len(entry.items))] == [
            "Put back" if n in left_out else "Leave out" for n in range(len(entry.items))
        ]
        _, buttons = worker.messages()[controls_id]
        message_id = controls_id
        days = EXPIRY_DAYS[presses]
        expiry = f"✓ For {days} days" if days else "✓ Until I withdraw it"
        assert [label for label, d in buttons if label.startswith("✓")] == [expiry]
        self.send_button[w] = (message_id, dict(buttons)[f"Share with {SUPERVISOR_NAMES[s]}"])
        self.preview[w] = Preview(entry, left_out, days, s, link)
        self.audit()  # a preview: nothing reaches anyone else
        if how == "keep":
            await worker.press_data(f"p:{turn}:keep", message_id=controls_id)
            assert worker.edits()[-1].startswith("Kept private")
            self.preview[w] = None
            self.audit()
        elif how == "unlinked meanwhile":
            await self.unlink(w, by_supervisor=True)
            await self.press_share(w)
        elif how == "send":
            await self.press_share(w)
        # "leave open": the preview waits; press_share may come later

    async def press_share(self, w: int) -> None:
        """Press "Share with …" on the latest preview, whether it is still open or not."""
        if w not in self.send_button:
            return
        message_id, data = self.send_button[w]
        worker = self.workers[w]
        before = len(self.bot.request.calls)
        await worker.press_data(data, message_id=message_id)
        preview = self.preview[w]
        if preview is None or self.links.get(w) != (preview.supervisor, preview.link):
            # Answered, replaced, or the link it named is over: nothing is shared.
            event("Share pressed: nothing to share" if preview is None else "Share: link over")
            self.preview[w] = None
            self.audit()
            return
        kept = [c for n, c in enumerate(preview.entry.items) if n not in preview.out]
        if not kept:
            event("Share pressed: every answer left out")
            assert worker.toasts()[-1].startswith("Leave at least one answer in")
            self.audit()
            return
        newest = self.newest("shares")
        assert all(newest != s.id for s in self.shares), "nothing was shared"
        now = self.clock.now
        share = Shared(
            newest,
            w,
            preview.supervisor,
            preview.link,
            frozenset(c for c in kept if c),
            frozenset(c for n, c in enumerate(preview.entry.items) if n in preview.out and c),
            len(kept),
            now,
            now + timedelta(days=preview.days) if preview.days else None,
        )
        self.shares.append(share)
        event("Share pressed: shared")
        self.preview[w] = None
        edits = [
            c for c in self.bot.request.calls[before:] if c.method == "editMessageText"
        ]  # the controls become "Shared with …"
        assert edits and f"Shared with <b>{SUPERVISOR_NAMES[share.supervisor]}" in str(
            edits[-1].params["text"]
        )
        self.audit(copies_of=share)

    async def withdraw(self, w: int, pick: int) -> None:
        worker = self.workers[w]
        self.preview[w] = None
        replies = await worker.send("/shared")
        mine = [s for s in self.shares if s.worker == w]
        if not mine:
            assert "You haven't shared anything" in replies[-1]
            self.audit()
            return
        share = mine[pick % len(mine)]
        if not self.live(share):
            self.audit()  # no button for it; pressing an old one is old_withdraw's part
            return
        await self.through_pages(worker, f"w:{share.id}:ask")
        await worker.press("Withdraw it")
        assert worker.read()[-1].startswith("Withdrawn.")
        self.audit(deletes=self.end(share, "withdrawn"))

    async def old_withdraw(self, p: int, pick: int) -> None:
        """Someone presses an old (or someone else's) "Withdraw it" button."""
        if not self.shares:
            return
        share = self.shares[pick % len(self.shares)]
        p = share.worker if p < 0 else p
        chat = self.people[p]
        before = len(chat.toasts())
        await chat.press_data(f"w:{share.id}:yes")
        if p != share.worker:
            self.audit()
            assert chat.toasts()[before:] and chat.toasts()[-1].startswith(NOT_FOUND)
        elif not self.live(share):
            self.audit()
            assert chat.toasts()[-1] == "That's already withdrawn"
        else:
            self.audit(deletes=self.end(share, "withdrawn"))

    async def open(self, s: int, pick: int) -> None:
        """The supervisor opens one of the summaries /summaries lists."""
        supervisor = self.supervisors[s]
        mine = sorted(
            (x for x in self.shares if x.supervisor == s and self.visible(x)),
            key=lambda x: (x.created, x.id),
            reverse=True,
        )
        replies = await supervisor.send("/summaries")
        if not mine:
            assert "Nothing has been shared with you" in replies[-1]
            self.audit()
            return
        numbers = supervisor.summary_buttons()
        assert [d for _, d in numbers] == [f"m:{x.id}" for x in mine[:5]]
        self.audit(listed=mine[:5])
        chosen = pick % len(numbers)
        await supervisor.press_data(numbers[chosen][1], message_id=supervisor.keyboard()[0])
        self.audit(copies_of=mine[chosen])

    async def old_open(self, p: int, pick: int) -> None:
        """Someone presses an old (or someone else's) summary button."""
        if not self.shares:
            return
        share = self.shares[pick % len(self.shares)]
        p = 2 + share.supervisor if p < 0 else p
        chat = self.people[p]
        await chat.press_data(f"m:{share.id}")
        if p == 2 + share.supervisor and self.visible(share):
            self.audit(copies_of=share)
        else:
            self.audit()
            assert chat.toasts()[-1].startswith(NOT_FOUND)

    async def later(self, hours: int, swept: bool) -> None:
        self.clock.advance(hours=hours)
        deletes: set[tuple[int, int]] = set()
        if swept:
            await sweep(self.bot.app.bot, self.bot.service)
            for share in self.shares:
                if share.ended is None and share.expires and share.expires <= self.clock.now:
                    deletes |= self.end(share, "expired")
        self.audit(deletes=deletes)

    # -- at the end --

    def check_database(self) -> None:
        assert self.rows(
            "SELECT id, worker_id, supervisor_id, json_array_length(answers), expires_at"
            " FROM shares ORDER BY id"
        ) == [
            (
                s.id,
                self.workers[s.worker].chat_id,
                self.supervisors[s.supervisor].chat_id,
                s.answers,
                s.expires.isoformat(timespec="microseconds") if s.expires else None,
            )
            for s in self.shares
        ]
        # Withdrawals and expiries are rows of their own; the text goes with them.
        assert self.rows("SELECT share_id, event FROM share_events ORDER BY share_id") == [
            (s.id, s.ended) for s in self.shares if s.ended
        ]
        assert self.rows("SELECT share_id FROM share_bodies ORDER BY share_id") == [
            (s.id,) for s in self.shares if not s.ended
        ]
        assert sorted(
            self.rows("SELECT worker_id, supervisor_id FROM links WHERE ended_at IS NULL")
        ) == sorted(
            (self.workers[w].chat_id, self.supervisors[s].chat_id)
            for w, (s, _) in self.links.items()
        )
        assert self.rows("SELECT COUNT(*) FROM links") == [(self.link_count,)]
        if not self.shares:
            return
        # The log is append-only: no UPDATE gets through, to the share or to its ending.
        with sqlite3.connect(self.bot.config.data_dir / "coreflect.db") as db:
            for sql in (
                "UPDATE shares SET expires_at = NULL",
                "UPDATE shares SET answers = '[]' WHERE id = 1",
                "UPDATE shares SET supervisor_id = worker_id",
            ):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    db.execute(sql)
            if any(s.ended for s in self.shares):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    db.execute("UPDATE share_events SET event = 'expired', at = at")
        assert self.rows("SELECT COUNT(*) FROM shares") == [(len(self.shares),)]


# ---- the test ----------------------------------------------------------------------------------

who = st.integers(0, 1)
# Who presses an old button: -1 is the share's own worker or supervisor, else 0 and 1 are the
# workers and 2 and 3 the supervisors.
presser = st.sampled_from([-1, 0, 1, 2, 3])
pick = st.integers(0, 50)


def writing_by(person: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.one_of(
        st.tuples(st.just("note"), person),
        st.tuples(st.just("reflect"), person, st.tuples(*[st.booleans()] * 3)),
    )


writing = writing_by(who)

# The kinds of action, weighted: sharing, withdrawing and opening are what the property is about.
WEIGHTS = {  # first is likeliest: Hypothesis leans towards the start of a sampled list
    "share": 6,
    "open": 3,
    "withdraw": 3,
    "later": 3,
    "old open": 2,
    "old withdraw": 2,
    "press share": 1,
    "write": 2,
    "unlink": 2,
    "link": 2,
}
KINDS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "link": st.tuples(st.just("link"), who, who),
    "unlink": st.tuples(st.just("unlink"), who, st.booleans()),
    "write": writing,
    "share": st.tuples(
        st.just("share"),
        who,
        pick,
        st.frozensets(st.integers(0, 4), max_size=2),  # which answers to leave out
        st.sampled_from([1, 0, 2]),  # presses of the expiry button: 7 days, none, 30 days
        st.sampled_from(["send", "send", "send", "keep", "leave open", "unlinked meanwhile"]),
    ),
    "press share": st.tuples(st.just("press share"), who),
    "withdraw": st.tuples(st.just("withdraw"), who, pick),
    "old withdraw": st.tuples(st.just("old withdraw"), presser, pick),
    "open": st.tuples(st.just("open"), who, pick),
    "old open": st.tuples(st.just("old open"), presser, pick),
    "later": st.tuples(
        st.just("later"),
        st.sampled_from([24 * 8, 49, 24 * 31, 47, 1]) | st.integers(1, 24 * 35),  # hours
        st.sampled_from([True, False]),  # and the sweep runs
    ),
}
actions = st.sampled_from([k for k, n in WEIGHTS.items() for _ in range(n)]).flatmap(
    lambda kind: KINDS[kind]
)
# Every script starts with both workers linked and having written something, so that sharing
# (and everything after it) is reached often; the actions that follow can undo any of that.
scripts = st.builds(
    lambda first, second, written, rest: [
        ("link", 0, first),
        ("link", 1, second),
        *written,
        *rest,
    ],
    who,
    who,
    st.tuples(writing_by(st.just(0)), writing_by(st.just(1))).map(list),
    st.lists(actions, min_size=4, max_size=30),
)

# One script that surely goes everywhere, whatever the random ones do.
EVERYWHERE = [
    ("link", 0, 0),
    ("link", 1, 0),
    ("reflect", 0, (True, False, True)),
    ("note", 1),
    ("share", 0, 0, frozenset({1, 3}), 1, "send"),  # 7 days, the 2nd and 4th answers left out
    ("share", 1, 0, frozenset(), 0, "leave open"),
    ("old open", 3, 0),  # the other supervisor presses Sam's summary button
    ("open", 0, 0),
    ("press share", 1),  # consent given later, on the preview as it was shown
    ("later", 47, True),
    ("withdraw", 1, 0),  # within 48 hours of the copies: deleted
    ("old open", 2, 1),  # withdrawn: not found
    ("later", 24 * 7, False),  # the 7-day share is due, but the sweep has not run yet
    ("old open", -1, 0),  # hidden already: not found
    ("old withdraw", -1, 0),  # and over already for its worker
    ("later", 1, True),  # the sweep: expired, its copies too old to delete
    ("link", 0, 1),
    ("unlink", 0, True),
    ("link", 0, 1),
    ("share", 0, 0, frozenset({0, 1, 2}), 2, "send"),  # only the closing choice: no canary
    ("share", 0, 0, frozenset({0, 1, 2, 3}), 0, "send"),  # everything left out: nothing
    ("share", 0, 0, frozenset(), 0, "send"),  # the fourth share: all of it, until withdrawn
    ("open", 1, 0),
    ("unlink", 0, False),
    ("old open", -1, 3),  # Tom, the fourth share, its link over: not found
    ("link", 0, 1),
    ("old open", -1, 3),  # linked again, but that share was over the old link
    ("open", 1, 0),
    ("withdraw", 0, 2),  # withdrawn after the unlink: Tom's copy is still deleted
    ("share", 0, 0, frozenset(), 2, "unlinked meanwhile"),
    ("later", 24 * 31, True),
    ("open", 1, 0),
]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@example(script=EVERYWHERE)
@given(script=scripts)
def test_supervisors_see_only_live_consented_answers(script: list[tuple[Any, ...]]) -> None:
    errors = Errors()
    logging.getLogger().addHandler(errors)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(Path(tmp) / "data", script))
    finally:
        logging.getLogger().removeHandler(errors)
    assert not errors.records, [r.getMessage() for r in errors.records]


async def run(data_dir: Path, script: list[tuple[Any, ...]]) -> None:
    async with started(data_dir) as (bot, clock):
        world = World(bot, clock)
        for action, *args in script:
            await getattr(world, action.replace(" ", "_"))(*args)
        # Then a month passes and the sweep runs: every expiry is due; nothing due is shown.
        await world.later(24 * 31, True)
        for supervisor in range(len(SUPERVISOR_NAMES)):
            await world.open(supervisor, 0)
        world.check_database()
    # What the examples reached (shown by pytest --hypothesis-show-statistics).
    shares = world.shares
    event(f"shares made: {min(len(shares), 3)}{'+' if len(shares) >= 3 else ''}")
    for ended in ("withdrawn", "expired"):
        if any(s.ended == ended for s in shares):
            event(f"a share {ended}")
    if any(len(s.copies) > 1 for s in shares):
        event("a summary opened again")
    if any(s.left_out for s in shares):
        event("answers left out of a share")


# ---- a bug found while writing the model ---------------------------------------------------
# The generated scripts always link starting from /supervisor, a command, which closes an open
# preview. Linking through buttons alone while a preview stays open is this test instead.


async def test_a_preview_shares_only_with_the_supervisor_it_names(bot: Harness) -> None:
    """Consent is to one person. Alex previews an entry for Sam ("Share with Sam"); Sam ends
    the link; Alex links with Tom using only buttons still on screen (the old menu's "Create an
    invite", then "Yes, link": no command, so the preview stays open); then presses "Share with
    Sam". Nothing may reach Tom, who was never named in that preview: Alex gets a fresh preview
    naming Tom instead, and only its own "Share with Tom" sends."""
    alex = Chat(bot, Person(1001, "Alex"))
    sam = Chat(bot, Person(2001, "Sam"))
    tom = Chat(bot, Person(2002, "Tom"))

    async def linked_by(supervisor: Chat, invite: str) -> None:
        code = re.search(r"/link ([A-Z2-7-]+)", invite)
        assert code, invite
        await supervisor.send(f"/link {code.group(1)}")
        await supervisor.press("Yes, link")
        await alex.press("Yes, link")
        assert f"You're linked with {supervisor.person.first_name}" in alex.read()[-1]

    await alex.send("/supervisor")
    menu, _ = alex.keyboard()  # its "Create an invite" button stays on screen
    await linked_by(sam, (await alex.press("Create an invite"))[-1])
    await alex.send("qjzzzz for Sam only")
    await alex.send("/share")
    await alex.press("One entry")
    await alex.press(alex.buttons()[0])
    preview, buttons = alex.keyboard()
    share_with_sam = dict(buttons)["Share with Sam"]

    await sam.send("/supervisor")
    await sam.press("Unlink Alex")
    await sam.press("Unlink")
    await linked_by(tom, (await alex.press_data("g:invite", message_id=menu))[-1])

    await alex.press_data(share_with_sam, message_id=preview)
    assert not any("qjzzzz" in text for text in tom.read()), "Tom got what was meant for Sam"
    assert "Something changed since that preview" in alex.read()[-4]
    _, fresh = alex.keyboard()
    assert "Share with Tom" in dict(fresh) and "Share with Sam" not in dict(fresh)
    await alex.press("Share with Tom")
    assert any("qjzzzz" in text for text in tom.read()), "the fresh preview, pressed, shares"


# ---- the gate on the kinds supervision added later (issue 20) ----------------------------------
# Acknowledgements, next-step proposals and confirmations, and the weekly digest reach another
# person only through flows/kernel/gate.py. Here the gate itself is checked against an oracle
# written from its documented rules, over random records: links active or ended, summaries live,
# withdrawn or expired, answered or not, steps in every state written by either side, digests
# naming any mix of links, and any recipient (the worker, the supervisor, or a stranger).

W, S, X = 9001, 9002, 9003  # a worker, their supervisor, a stranger (who supervises someone else)
gate_case = st.fixed_dictionaries(
    {
        "active": st.booleans(),
        "share": st.sampled_from(["live", "withdrawn", "expired"]),
        "acked": st.booleans(),
        "step_by": st.sampled_from([W, S]),
        "step": st.sampled_from(["proposed", "agreed", "done"]),
        "others_link": st.booleans(),  # the digest also names the stranger's supervisee
        "other_active": st.booleans(),
        "to": st.sampled_from([W, S, X]),
    }
)


@settings(max_examples=150, deadline=None)
@given(cases=st.lists(gate_case, min_size=1, max_size=40))
def test_the_gate_on_acknowledgements_steps_and_digests(cases: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_gate_cases(Path(tmp) / "data", cases))


async def _gate_cases(data_dir: Path, cases: list[dict[str, Any]]) -> None:
    from flows.kernel.gate import GateRefused
    from flows.store.rows import iso
    from flows.store.unit import Unit

    config = make_config(data_dir)
    store = await Store.open(config.data_dir, config.key, config.synchronous)
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def refused(tx: Unit, to: int, basis: gate.Basis) -> bool:
        try:
            gate.check(tx, to, basis, now)
        except GateRefused:
            return True
        return False

    def one(tx: Unit, case: dict[str, Any]) -> None:
        for person in (W, S, X, W + 10):
            tx.person(person, "Europe/London")
        # A worker has one active link at a time: the previous case's end now.
        tx.conn.execute("UPDATE links SET ended_at = ? WHERE ended_at IS NULL", (iso(now),))
        ended = None if case["active"] else iso(now)
        link = tx.one(
            "INSERT INTO links (worker_id, supervisor_id, created_at, ended_at)"
            " VALUES (?, ?, ?, ?) RETURNING id",
            (W, S, iso(now - timedelta(days=9)), ended),
        )[0]
        expires = iso(now - timedelta(hours=1)) if case["share"] == "expired" else None
        share = tx.one(
            "INSERT INTO shares (link_id, worker_id, supervisor_id, kind, subject, answers,"
            " created_at, expires_at) VALUES (?, ?, ?, 'entry', NULL, '[]', ?, ?) RETURNING id",
            (link, W, S, iso(now - timedelta(days=1)), expires),
        )[0]
        if case["share"] == "withdrawn":
            tx.conn.execute(
                "INSERT INTO share_events (share_id, event, at) VALUES (?, 'withdrawn', ?)",
                (share, iso(now)),
            )
        if case["acked"]:
            tx.conn.execute(
                "INSERT INTO share_acks (share_id, kind, at) VALUES (?, 'read', ?)",
                (share, iso(now)),
            )
        step = tx.one(
            "INSERT INTO agreed_steps (link_id, worker_id, proposed_by, body, state, created_at)"
            " VALUES (?, ?, ?, x'00', ?, ?) RETURNING id",
            (link, W, case["step_by"], case["step"], iso(now)),
        )[0]
        links = [link]
        if case["others_link"]:  # the stranger supervises someone: a link that is not S's
            other_ended = None if case["other_active"] else iso(now)
            links.append(
                tx.one(
                    "INSERT INTO links (worker_id, supervisor_id, created_at, ended_at)"
                    " VALUES (?, ?, ?, ?) RETURNING id",
                    (W + 10, X, iso(now), other_ended),
                )[0]
            )
        to, active, live = case["to"], case["active"], case["share"] == "live"
        other_side = S if case["step_by"] == W else W
        expected: dict[gate.Basis, bool] = {
            gate.Acknowledgement(share): active and live and case["acked"] and to == W,
            gate.StepProposal(step): active and case["step"] == "proposed" and to == other_side,
            gate.StepConfirmation(step): (
                active and case["step"] == "agreed" and to == case["step_by"]
            ),
            gate.Digest(tuple(links)): active and not case["others_link"] and to == S,
        }
        for basis, allowed in expected.items():
            assert refused(tx, to, basis) is not allowed, (basis, case)
        assert refused(tx, W, gate.Digest(()))  # a digest naming nobody is refused too

    try:
        for case in cases:
            await store.run(lambda tx, case=case: one(tx, case))  # type: ignore[misc]
    finally:
        await store.close()
