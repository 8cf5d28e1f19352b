"""No words reach a team group without a live registration, a proposal and the worker's yes to
exactly those words; an anonymous post never names its worker: a property test.

Two workers (Alex, Bea; each with a username) and their supervisors (Sam, Tom), two groups. In
random orders: groups are registered (by an administrator or not), unregistered, lose the bot,
become supergroups; supervisors stop (or start) being administrators without the bot being told;
workers write notes (every one carries a canary word, some with their own name or username in
it) and share them; supervisors propose a summary for a group with or without a framing line
(which has its own canary, and may name the worker); workers press "Share anonymously" or
"Share with my first name" on any preview they were ever shown (stale ones too), edit, decline,
withdraw from /shared, unlink; workers whose reflection said yes ask their supervisor to post
their learning (/share → Team learning), and the supervisor presses "Post it" on any request
they ever got; time passes. The model says after each action exactly which
posts may have appeared, and where, and which deleted; every call into a group is checked:

- only /teamgroup replies (no canary, not protected) and consented posts (protected) are ever
  sent to a group, and deletions only on withdrawal, of copies under 48 hours old in the chat
  the group still has;
- a post appears only on the worker's press of the latest preview of an open proposal (or the
  supervisor's first "Post it" under a request the worker said yes to), with the registration
  live, the link active and the supervisor an administrator right then, and carries exactly
  the canaries that preview showed;
- an anonymous post never contains the worker's first name or username, in any case;
- no worker ever sees another worker's words, nor does the other supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.drivers import Chat, Clock, Group, Harness, link
from tests.offline import Person
from tests.test_supervision_property import Errors, started

OFFER = "Could this help your team learn?"

CANARY = re.compile(r"\bq[js][a-z]{4}\b")
SENDS = {"sendMessage", "sendDocument", "sendPhoto"}
DELETE_WINDOW = timedelta(hours=48)
WORKERS = (("Alex", "alex_pw"), ("Bea", "bea_peer"))
SUPERVISORS = ("Sam", "Tom")
GROUPS = ((-4001, "Forum one"), (-4002, "Forum two"))


@dataclass
class Post:
    id: int
    worker: int
    group: int
    registration: int
    version: int = 0
    words: frozenset[str] = frozenset()  # the canaries it shows now
    names: bool = False  # it contains the worker's name or username
    state: str = "open"  # open, consented (a worker's request), posted, declined, withdrawn
    anonymous: bool = True
    request: bool = False  # started by the worker (/share → Team learning): the supervisor posts
    copies: list[tuple[int, int, datetime]] = field(default_factory=list)


@dataclass
class Preview:
    post: int
    version: int
    message_id: int
    buttons: dict[str, str]
    words: frozenset[str]


class World:
    def __init__(self, bot: Harness, clock: Clock) -> None:
        self.bot, self.clock = bot, clock
        self.workers = [
            Chat(bot, Person(1001 + n, name, username=user))
            for n, (name, user) in enumerate(WORKERS)
        ]
        self.supervisors = [Chat(bot, Person(2001 + n, name)) for n, name in enumerate(SUPERVISORS)]
        self.groups = [Group(bot, chat_id=c, title=title) for c, title in GROUPS]
        self.linked = [True, True]  # worker n is linked with supervisor n until unlinked
        self.admin: dict[tuple[int, int], bool] = {}
        self.bot_in = [True, True]
        self.registration: dict[tuple[int, int], int] = {}  # (supervisor, group) -> live id
        self.gone: set[int] = set()  # registrations that ended with the bot removed
        self.count = 0
        self.shares: list[tuple[int, int, str, bool]] = []  # share id, worker, canary, names
        self.reflections: dict[int, list[str]] = {0: [], 1: []}  # "Yes, I'd like to" ones
        self.requests: list[tuple[int, int, str]] = []  # post, message id, "Post it" data
        self.posts: dict[int, Post] = {}
        self.previews: dict[int, list[Preview]] = {0: [], 1: []}
        self.owner: dict[str, int] = {}
        self.names: dict[str, bool] = {}
        self.message_ids: dict[int, int] = {}
        self.seen = 0

    # -- helpers --

    def canary(self, worker: int, kind: str = "j") -> str:
        n = len(self.owner)
        word = f"q{kind}" + "".join(chr(97 + (n // 26**k) % 26) for k in (3, 2, 1, 0))
        self.owner[word] = worker
        return word

    def words_with(self, worker: int, named: int, kind: str = "j") -> tuple[str, str]:
        word = self.canary(worker, kind)
        name, user = WORKERS[worker]
        tail = ["went well", f"thanks to {name}", f"thanks to @{user.upper()}"][named]
        self.names[word] = named > 0
        return word, f"{word} {tail}"

    def newest(self, table: str) -> int:
        with sqlite3.connect(self.bot.config.data_dir / "coreflect.db") as db:
            return int(db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])

    def live(self, post: Post) -> bool:
        """The proposal's registration is still live and its link still active."""
        s = post.worker  # worker n's supervisor is supervisor n
        return self.registration.get((s, post.group)) == post.registration and self.linked[s]

    def record_preview(self, worker: int) -> None:
        message_id, buttons = self.workers[worker].keyboard()
        data = dict(buttons)
        assert "Share anonymously" in data, buttons
        _, _, post_id, version = data["Share anonymously"].split(":")
        text = self.workers[worker].sent_texts()[-1]
        words = frozenset(CANARY.findall(text))
        post = self.posts[int(post_id)]
        assert int(version) == post.version and words == post.words, (words, post)
        self.previews[worker].append(Preview(post.id, post.version, message_id, data, words))

    # -- the property, after every action --

    def audit(
        self,
        posted: list[tuple[Post, int, frozenset[str], bool]] | None = None,
        deletes: set[tuple[int, int]] | None = None,
        replies_in: int | None = None,
    ) -> None:
        """`posted`: (post, chat, canaries, anonymous) of the posts this action made, in order.
        `deletes`: (chat, message id) it deleted. `replies_in`: the group chat that may get a
        /teamgroup reply now."""
        calls = self.bot.request.calls[self.seen :]
        self.seen += len(calls)
        got: list[tuple[int, frozenset[str], int, str]] = []  # chat, canaries, message id, text
        deleted: set[tuple[int, int]] = set()
        people = {c.chat_id: n for n, c in enumerate(self.workers)}
        overseers = {c.chat_id: n for n, c in enumerate(self.supervisors)}
        for call in calls:
            params = call.params
            chat = int(params["chat_id"]) if "chat_id" in params else None
            if chat is not None and call.method in SENDS:
                self.message_ids[chat] = self.message_ids.get(chat, 0) + 1
            text = str(params.get("text", ""))
            found = frozenset(c for c in CANARY.findall(text) if c in self.owner)
            if chat is None:
                assert not found, f"someone's words in a {call.method}"
            elif chat < 0:
                assert call.method in {"getChatMember", "sendMessage", "deleteMessage"}, call
                if call.method == "deleteMessage":
                    deleted.add((chat, int(params["message_id"])))
                elif params.get("protect_content"):
                    got.append((chat, found, self.message_ids[chat], text))
                elif call.method == "sendMessage":
                    assert chat == replies_in and not found, f"a message in group {chat}: {text}"
            elif chat in people:
                strangers = {c for c in found if self.owner[c] != people[chat]}
                assert not strangers, f"a worker saw another worker's words {strangers}"
            elif chat in overseers:
                strangers = {c for c in found if self.owner[c] != overseers[chat]}
                assert not strangers, "a supervisor saw words of someone they don't supervise"
        expected = posted or []
        assert [(c, w) for c, w, _, _ in got] == [(c, w) for _, c, w, _ in expected], (
            "posts other than the consented ones"
        )
        for (chat, _, message_id, text), (post, _, _, anonymous) in zip(got, expected, strict=True):
            if anonymous:
                name, user = WORKERS[post.worker]
                assert not re.search(rf"\b{name}\b", text, re.IGNORECASE), "it names them"
                assert user not in text.lower(), "it has their username"
            post.copies.append((chat, message_id, self.clock.now))
        assert deleted == (deletes or set()), "deleted other than the withdrawn post's copies"

    # -- actions --

    async def register(self, s: int, g: int, as_admin: bool) -> None:
        if not self.bot_in[g]:
            return
        group, supervisor = self.groups[g], self.supervisors[s]
        self.admin[(s, g)] = as_admin
        group.admin(supervisor.person, "administrator" if as_admin else "member")
        replies = await group.send(supervisor.person, "/teamgroup@coreflect_test_bot")
        if not self.linked[s]:  # supervising nobody: a stranger here, at most one reply a while
            assert all("first link with someone you supervise" in r for r in replies), replies
            assert len(replies) <= 1, replies
        elif not as_admin:
            assert "Only an administrator" in replies[-1]
        elif (s, g) in self.registration:
            assert "already registered" in replies[-1]
        else:
            assert "now registered" in replies[-1]
            self.count += 1
            self.registration[(s, g)] = self.count
        self.audit(replies_in=group.chat_id)

    async def unregister(self, s: int, g: int) -> None:
        supervisor = self.supervisors[s]
        await supervisor.send("/teams")
        label = f"Unregister {GROUPS[g][1]}"
        if (s, g) in self.registration:
            await supervisor.press(label)
            await supervisor.press("Unregister")
            del self.registration[(s, g)]
        else:
            markup = supervisor.sent()[-1].params.get("reply_markup") or {}
            assert label not in str(markup)
        self.audit()

    async def removed(self, g: int) -> None:
        if not self.bot_in[g]:
            return
        await self.groups[g].bot_removed(self.supervisors[0].person)
        self.bot_in[g] = False
        for key in [k for k in self.registration if k[1] == g]:
            self.gone.add(self.registration.pop(key))
        self.audit()

    async def migrate(self, g: int) -> None:
        group = self.groups[g]
        if not self.bot_in[g] or group.kind == "supergroup":
            return
        await group.migrate(self.supervisors[0].person, -1_000_000_000 + group.chat_id)
        self.audit()

    async def admin_now(self, s: int, g: int, yes: bool) -> None:
        self.admin[(s, g)] = yes
        self.groups[g].admin(self.supervisors[s].person, "administrator" if yes else "left")

    async def note(self, w: int, named: int) -> None:
        worker = self.workers[w]
        word, text = self.words_with(w, named)
        await worker.send(text)
        if self.linked[w]:
            await worker.send("/share")
            await worker.press("One entry")
            await worker.press(worker.buttons()[0])
            await worker.press(f"Share with {SUPERVISORS[w]}")
            self.shares.append((self.newest("shares"), w, word, named > 0))
        self.audit()

    async def propose(self, s: int, pick: int, g: int, framing: int) -> None:
        supervisor = self.supervisors[s]
        mine = [x for x in self.shares if x[1] == s]  # supervisor n supervises worker n
        if not mine or not self.linked[s]:
            return
        share_id, w, word, names = mine[pick % len(mine)]
        g = s if g > 1 else g  # 2: the supervisor's own group, the likeliest choice
        await supervisor.send("/summaries")
        opened = await supervisor.press_data(f"m:{share_id}", message_id=supervisor.keyboard()[0])
        registered = {gg for (ss, gg) in self.registration if ss == s}
        if not registered:
            assert not any(OFFER in text for text in opened)
            self.audit()
            return
        # The summary comes with its own buttons (acknowledging it): the offer is its own message.
        await supervisor.press_under(OFFER, "Propose for team")
        title = GROUPS[g][1]
        if g not in registered:
            assert title not in supervisor.buttons()
            self.audit()
            return
        await supervisor.press(title)
        if not self.admin.get((s, g)):
            assert "not an administrator" in supervisor.read()[-1]
            self.audit()
            return
        words, with_names = {word}, names
        if framing == 0:
            await supervisor.press("No line, send it")
        else:
            line, text = self.words_with(w, framing - 1, "s")
            await supervisor.send(text)
            words.add(line)
            with_names = with_names or framing > 1
        post_id = self.newest("team_posts")
        self.posts[post_id] = Post(
            post_id, w, g, self.registration[(s, g)], 0, frozenset(words), with_names
        )
        self.record_preview(w)
        self.audit()

    async def consent(self, w: int, pick: int, anonymous: bool) -> None:
        if not self.previews[w]:
            return
        preview = self.previews[w][pick % len(self.previews[w])]
        post = self.posts[preview.post]
        label = "Share anonymously" if anonymous else "Share with my first name"
        worker = self.workers[w]
        await worker.press_data(preview.buttons[label], message_id=preview.message_id)
        ok = (
            post.state == "open"
            and self.live(post)
            and preview.version == post.version
            and (post.request or self.admin.get((w, post.group), False))
            and not (anonymous and post.names)
        )
        if post.state == "open" and self.live(post) and preview.version != post.version:
            self.record_preview(w)  # "That preview has changed since": shown again
        if not ok:
            event("consent: nothing posted")
            self.audit()
            return
        if post.request:  # the yes goes to the supervisor, who posts it
            event("consent: request sent to the supervisor")
            post.state, post.words = "consented", preview.words
            post.anonymous = anonymous
            message_id, buttons = self.supervisors[w].keyboard()
            self.requests.append((post.id, message_id, dict(buttons)["Post it"]))
            self.audit()
            return
        event("consent: posted anonymously" if anonymous else "consent: posted with a name")
        post.state = "posted"
        self.audit(posted=[(post, self.groups[post.group].chat_id, preview.words, anonymous)])

    async def edit(self, w: int, pick: int, named: int) -> None:
        if not self.previews[w]:
            return
        preview = self.previews[w][pick % len(self.previews[w])]
        post = self.posts[preview.post]
        worker = self.workers[w]
        await worker.press_data(preview.buttons["Edit"], message_id=preview.message_id)
        if post.state != "open" or not self.live(post):
            self.audit()
            return
        word, text = self.words_with(w, named)
        await worker.send(text)
        # The worker's version replaces all the words, the supervisor's line too.
        post.words, post.names = frozenset({word}), named > 0
        post.version += 1
        self.record_preview(w)
        self.audit()

    async def reflect(self, w: int) -> None:
        """A reflection whose learning the worker would like to share with the team."""
        worker = self.workers[w]
        word = self.canary(w)
        self.names[word] = False
        await worker.send("/reflect")
        await worker.send("fine")
        for _ in range(2):
            await worker.send("/skip")
        await worker.send(f"{word} learned")
        await worker.press("Yes, I'd like to")
        self.reflections[w].append(word)
        self.audit()

    async def request(self, w: int, g: int) -> None:
        """/share → Team learning → the newest such reflection → a group of their supervisor's."""
        worker = self.workers[w]
        registered = {gg for (ss, gg) in self.registration if ss == w}
        await worker.send("/share")
        if not (self.linked[w] and registered and self.reflections[w]):
            assert "Team learning" not in str(worker.sent()[-1].params.get("reply_markup"))
            self.audit()
            return
        await worker.press("Team learning")
        await worker.press(worker.buttons()[0])
        g = w if g > 1 else g
        if g not in registered:
            assert GROUPS[g][1] not in worker.buttons()
            self.audit()
            return
        await worker.press(GROUPS[g][1])
        post_id = self.newest("team_posts")
        words = frozenset({self.reflections[w][-1]})
        self.posts[post_id] = Post(post_id, w, g, self.registration[(w, g)], 0, words, request=True)
        self.record_preview(w)
        self.audit()

    async def post_it(self, s: int, pick: int) -> None:
        """The supervisor presses "Post it" under one of the requests they ever received."""
        mine = [r for r in self.requests if self.posts[r[0]].worker == s]
        if not mine:
            return
        post_id, message_id, data = mine[pick % len(mine)]
        post = self.posts[post_id]
        await self.supervisors[s].press_data(data, message_id=message_id)
        if post.state != "consented" or not self.live(post) or not self.admin.get((s, post.group)):
            self.audit()
            return
        event("request: posted by the supervisor")
        post.state = "posted"
        chat = self.groups[post.group].chat_id
        self.audit(posted=[(post, chat, post.words, post.anonymous)])

    async def decline(self, w: int, pick: int) -> None:
        if not self.previews[w]:
            return
        preview = self.previews[w][pick % len(self.previews[w])]
        post = self.posts[preview.post]
        await self.workers[w].press_data(preview.buttons["Decline"], message_id=preview.message_id)
        if post.state == "open" or (post.request and post.state == "consented"):
            post.state = "declined"
        self.audit()

    async def withdraw(self, w: int, pick: int) -> None:
        worker = self.workers[w]
        await worker.send("/shared")
        mine = [
            p
            for p in self.posts.values()
            if p.worker == w and (p.state == "posted" or (p.request and p.state == "consented"))
        ]
        if not mine:
            self.audit()
            return
        post = mine[pick % len(mine)]
        message_id, buttons = worker.keyboard()
        await worker.press_data(dict((d, d) for _, d in buttons)[f"t:w:{post.id}:ask"], message_id)
        await worker.press("Withdraw it")
        post.state = "withdrawn"
        now = self.clock.now
        chat = self.groups[post.group].chat_id
        deletes = {
            (c, m)
            for c, m, at in post.copies
            if now - at < DELETE_WINDOW and c == chat and post.registration not in self.gone
        }
        event("withdrawn: post deleted" if deletes else "withdrawn: post kept")
        self.audit(deletes=deletes)

    async def unlink(self, w: int) -> None:
        if not self.linked[w]:
            return
        worker = self.workers[w]
        await worker.send("/supervisor")
        await worker.press(f"Unlink {SUPERVISORS[w]}")
        # Summaries shared with the supervisor are left with them (withdrawing them at unlink
        # is tests/test_unlinking.py's and the supervision model's): team posts are the point.
        leave = f"Unlink, leave it with {SUPERVISORS[w]}"
        await worker.press(leave if leave in worker.buttons() else "Unlink")
        self.linked[w] = False
        self.audit()

    async def later(self, hours: int) -> None:
        self.clock.advance(hours=hours)


who = st.integers(0, 1)
pick = st.integers(0, 20)
named = st.sampled_from([0, 0, 1, 2])
KINDS: dict[str, tuple[int, st.SearchStrategy[tuple[Any, ...]]]] = {
    "consent": (5, st.tuples(st.just("consent"), who, pick, st.booleans())),
    "propose": (
        4,
        st.tuples(
            st.just("propose"),
            who,
            pick,
            st.sampled_from([2, 2, 0, 1]),
            st.sampled_from([0, 1, 1, 2, 3]),
        ),
    ),
    "edit": (2, st.tuples(st.just("edit"), who, pick, named)),
    "withdraw": (2, st.tuples(st.just("withdraw"), who, pick)),
    "note": (2, st.tuples(st.just("note"), who, named)),
    "later": (2, st.tuples(st.just("later"), st.sampled_from([1, 47, 49]))),
    "admin now": (2, st.tuples(st.just("admin now"), who, who, st.booleans())),
    "register": (1, st.tuples(st.just("register"), who, who, st.booleans())),
    "decline": (1, st.tuples(st.just("decline"), who, pick)),
    "unregister": (1, st.tuples(st.just("unregister"), who, who)),
    "removed": (1, st.tuples(st.just("removed"), who)),
    "migrate": (1, st.tuples(st.just("migrate"), who)),
    "unlink": (1, st.tuples(st.just("unlink"), who)),
    "reflect": (1, st.tuples(st.just("reflect"), who)),
    "request": (2, st.tuples(st.just("request"), who, st.sampled_from([2, 2, 0, 1]))),
    "post it": (2, st.tuples(st.just("post it"), who, pick)),
}
actions = st.sampled_from([k for k, (n, _) in KINDS.items() for _ in range(n)]).flatmap(
    lambda kind: KINDS[kind][1]
)
START = [
    ("register", 0, 0, True),
    ("register", 1, 1, True),
    ("note", 0, 0),
    ("note", 1, 0),
    ("propose", 0, 0, 2, 1),
    ("propose", 1, 0, 2, 0),
]
scripts = st.lists(actions, min_size=3, max_size=14).map(lambda rest: [*START, *rest])

EVERYWHERE = [
    ("register", 0, 0, True),
    ("register", 1, 1, True),
    ("note", 0, 0),
    ("note", 1, 0),
    ("register", 1, 0, False),  # Tom isn't an administrator of Forum one
    ("propose", 0, 0, 0, 3),  # Sam's line has Alex's @username in it
    ("consent", 0, 0, True),  # anonymous: refused, it names them
    ("edit", 0, 0, 0),
    ("consent", 0, 0, True),  # the old preview: nothing
    ("consent", 0, 1, True),  # the new one: posted
    ("note", 0, 1),  # Alex's own name in the note
    ("propose", 0, 1, 0, 1),
    ("consent", 0, 2, True),  # refused: it names them
    ("consent", 0, 2, False),  # with the first name: posted
    ("later", 47),
    ("withdraw", 0, 1),  # the first post, within 48 hours of it
    ("migrate", 0),
    ("propose", 0, 0, 0, 0),
    ("admin now", 0, 0, False),
    ("consent", 0, 3, False),  # Sam is no longer an administrator: nothing
    ("admin now", 0, 0, True),
    ("consent", 0, 3, False),  # now it goes, to the supergroup
    ("later", 49),
    ("withdraw", 0, 0),  # over 48 hours: not deleted
    ("propose", 1, 0, 1, 2),
    ("removed", 1),
    ("consent", 1, 0, False),  # the group is gone: nothing
    ("propose", 0, 0, 0, 1),
    ("unlink", 0),
    ("decline", 0, 4),
    ("consent", 0, 4, False),  # unlinked: nothing
    ("reflect", 1),
    ("register", 1, 0, True),
    ("request", 1, 0),  # Bea asks Tom to post it in Forum one
    ("post it", 1, 0),  # not yet consented: nothing
    ("consent", 1, 1, True),  # Bea's yes goes to Tom
    ("admin now", 1, 0, False),
    ("post it", 1, 0),  # Tom is no longer an administrator: nothing
    ("admin now", 1, 0, True),
    ("post it", 1, 0),  # posted
    ("post it", 1, 0),  # once
    ("withdraw", 1, 0),
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(script=EVERYWHERE)
@given(script=scripts)
def test_nothing_reaches_a_group_without_consent_to_those_words(
    script: list[tuple[Any, ...]],
) -> None:
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
        for n in range(2):
            await link(world.workers[n], world.supervisors[n])
        world.audit()
        for action, *args in script:
            await getattr(world, action.replace(" ", "_"))(*args)
