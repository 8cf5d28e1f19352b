"""The engine: one input in, replies out, state saved in the same transaction.

Telegram, the console and the tests all call `Engine.handle`. It loads the person's state, lets the
dispatcher route the input to the feature that owns it, writes every change and commits before
returning, so the reply is only ever sent for an answer already on disk. Everything runs inside
one unit of work per message, on the database's own thread.

The engine knows no feature by name: what the bot layer needs from them (reminders falling due,
upkeep, group chats, the guards on messages waiting in the outbox) comes through their hooks.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flows.kernel.feature import Dispatcher, Feature
from flows.kernel.model import (
    Document,
    GroupEvent,
    Input,
    Outcome,
    Person,
    Photo,
    Reply,
    reply_to_json,
)
from flows.kernel.turn import Turn, speaking
from flows.questions.catalogue import Catalogue
from flows.questions.sets import PromptError
from flows.store.core import Store
from flows.store.unit import Unit

INBOX_PRUNE_EVERY = timedelta(hours=1)

T = TypeVar("T")


class Engine:
    def __init__(
        self,
        store: Store,
        catalogue: Catalogue,
        features: tuple[Feature, ...],
        default_timezone: str = "Europe/London",
    ) -> None:
        self.desk = Dispatcher(features)
        clash = set(self.desk.commands) & {f.command for f in catalogue.flows.values()}
        if clash:
            raise PromptError(
                f"a question set uses a built-in command: /{', /'.join(sorted(clash))}"
            )
        for check in self.desk.hooks("check"):
            check(catalogue)
        self.store = store
        self.catalogue = catalogue  # the default locale; each person's is chosen per input
        self.default_timezone = default_timezone
        store.default_timezone = default_timezone
        self.bot_username: str | None = None  # from getMe; makes invite codes into links
        self._pruned_at: datetime | None = None  # the handled inbox, last pruned by `sweep`

    @property
    def cat(self) -> Catalogue:
        return self.catalogue

    @property
    def menu(self) -> tuple[str, ...]:
        """The built-in commands for Telegram's command menu, in order."""
        return self.desk.menu

    @property
    def supervisor_menu(self) -> tuple[str, ...]:
        """Commands added to the menu of someone who supervises (set for their chat alone)."""
        return self.desk.supervisor_menu

    @property
    def menu_first(self) -> tuple[str, ...]:
        """Built-in commands shown at the top of the menu, before the question sets (/support)."""
        return self.desk.menu_first

    @property
    def group_commands(self) -> tuple[str, ...]:
        return self.desk.group_commands

    def clock(self) -> datetime:
        """Now, by the store's clock (tests move it on to reach expiries and time limits)."""
        return self.store.clock()

    async def _run(self, work: Callable[[Unit], T], cat: Catalogue | None = None) -> T:
        """A unit of work in `cat`'s wording (the default locale's unless said)."""
        wording = cat or self.catalogue

        def in_wording(tx: Unit) -> T:
            with speaking(wording):
                return work(tx)

        return await self.store.run(in_wording)

    async def handle(
        self,
        person: Person,
        inp: Input,
        update_id: int | None = None,
        outbox_chat: int | None = None,
        pressed: int | None = None,
    ) -> Outcome:
        """Handle one input; everything it changes is committed before this returns.

        With `outbox_chat`, the replies are saved in the same transaction too, so a crash before
        they are sent cannot leave the person waiting for a question that never comes; with
        `pressed` (the message whose button this was), so is the new text for that message.
        """
        outcome = await self._run(
            lambda tx: self._handle(tx, person, inp, update_id, outbox_chat, pressed),
            self.catalogue.for_language(person.language_code),
        )
        if update_id is not None and not outcome.reads:
            self.store.marked.add(update_id)
        # A heavy read (an export) leaves its update unhandled until all of it, files and
        # all, has gone: the consumer marks it then, and a crash part-way does it all again.
        if outcome.forgot or outcome.scrub:
            await self.store.scrub()
        try:
            if outcome.reads:
                await self._read_on(person, outcome, outbox_chat)
            if outcome.documents or outcome.photos:
                await _make_files(outcome)
        except BaseException:
            # What was saved goes with the next flush (the files are lost: /export again).
            extra = [] if outcome.replace_id is None else [outcome.replace_id]
            self.store.sending_done([*outcome.outbox_ids, *outcome.others_ids, *extra])
            raise
        return outcome

    async def _read_on(self, person: Person, outcome: Outcome, outbox_chat: int | None) -> None:
        """The rest of a heavy read (`Outcome.reads`), a page per unit of work: between pages
        the store runs whatever else is waiting, so one long journal holds up nobody. Work a
        read hands over (`Outcome.off_thread`) runs in a worker thread before the next read."""
        reads, outcome.reads = collections.deque(outcome.reads), []
        cat = self.catalogue.for_language(person.language_code)
        while reads:
            read = reads.popleft()

            def page(tx: Unit, read: Callable[[Any, Outcome], bool] = read) -> tuple[bool, Outcome]:
                late = Outcome()
                done = read(tx, late)
                _queue(tx, late, outbox_chat, person.id)  # what it says, saved before it is sent
                return done, late

            done = False
            while not done:
                done, late = await self._run(page, cat)
                outcome.replies += late.replies
                outcome.outbox_ids += late.outbox_ids
                outcome.documents += late.documents
                outcome.photos += late.photos
                for work in late.off_thread:
                    await asyncio.to_thread(work)
                reads.extend(late.reads)

    def _deep_link(self, inp: Input) -> str:
        """What followed /start (or the command, as `/link CODE`), when its feature greets
        someone new itself (a supervisor's invite) rather than with the welcome."""
        if inp.kind != "command" or not inp.args:
            return ""
        if inp.command != "start":
            return inp.args if f"/{inp.command}" in self.desk.greeting_commands else ""
        return inp.args if inp.args.startswith(self.desk.greeting_links) else ""

    def _handle(
        self,
        tx: Unit,
        person: Person,
        inp: Input,
        update_id: int | None,
        outbox_chat: int | None,
        pressed: int | None,
    ) -> Outcome:
        if self.desk.hooks("door") and not tx.one(
            "SELECT 1 FROM people WHERE id = ?", (person.id,)
        ):
            for door in self.desk.hooks("door"):
                refused: Outcome | None = door(tx, person, inp, self.clock())
                if refused is not None:  # someone new turned away: nothing of theirs is stored
                    if update_id is not None:
                        tx.inbox_mark_handled(update_id)
                    if outbox_chat is not None:
                        _queue(tx, refused, outbox_chat)
                    return refused
        row = tx.person(person.id, self.default_timezone)
        if person.first_name and person.first_name != row.name:
            tx.set_name(row.cipher, person.id, person.first_name)
        turn = Turn(
            tx,
            person,
            row,
            tx.conversation(person.id),
            Outcome(),
            self.clock(),
            self.desk,
            inp.message_id,
            admin_in=inp.admin_in,
            bot_username=self.bot_username,
            first_contact=not row.welcomed,
            deep_link=self._deep_link(inp),
        )
        if not row.welcomed:
            for welcome in self.desk.hooks("welcome"):
                welcome(turn)
        # A bare /start from someone new is answered by the welcome alone.
        if row.welcomed or inp.kind != "command" or inp.command != "start" or inp.args:
            self.desk.dispatch(turn, inp)
        for after in self.desk.hooks("after"):
            after(turn)
        if not turn.out.forgot:
            tx.save_conversation(turn.conv)
        if update_id is not None and not turn.out.reads:  # a heavy read: once it is all done
            tx.inbox_mark_handled(update_id)
        if outbox_chat is not None:
            if pressed is not None and turn.out.replace is not None:
                edit = dataclasses.replace(turn.out.replace, edit_message=pressed)
                (turn.out.replace_id,) = tx.outbox_add(
                    outbox_chat, [reply_to_json(edit)], sealed_for=person.id
                )
                turn.out.replace = edit
            _queue(tx, turn.out, outbox_chat, person.id)
        return turn.out

    async def handle_group(
        self, person: Person, event: GroupEvent, update_id: int | None = None
    ) -> Outcome:
        """Something in a group chat (a group command, the bot removed, a supergroup migration).
        Replies go to that group chat, in the same transaction as everything else."""

        def work(tx: Unit) -> Outcome:
            groups = self.desk.hooks("group")  # one feature answers in groups
            out = groups[0](tx, person, event, self.clock()) if groups else Outcome()
            if out.ask_admin:
                return out  # nothing done: asked again with Telegram's answer
            if update_id is not None:
                tx.inbox_mark_handled(update_id)
            _queue(tx, out, event.chat_id)
            return out

        outcome = await self._run(work)
        if update_id is not None and not outcome.ask_admin:
            self.store.marked.add(update_id)
        return outcome

    async def strays(self) -> list[int]:
        """Group chats the bot should leave (added, and nobody registered them in time);
        each is named once."""
        now = self.clock()
        return await self._run(
            lambda tx: [chat for strays in self.desk.hooks("strays") for chat in strays(tx, now)]
        )

    # ---- what the bot layer asks between inputs ------------------------------------------

    async def due(self) -> list[tuple[int, int, Reply]]:
        """Messages falling due now (reminders), moved into the outbox in the same transaction
        that marks them sent: (outbox id, chat, reply)."""
        now = self.clock()
        return await self._run(
            lambda tx: [row for due in self.desk.hooks("due") for row in due(tx, now)]
        )

    async def next_wake(self) -> datetime | None:
        """When something next falls due, if anything will."""

        def work(tx: Unit) -> datetime | None:
            times = [t for wake in self.desk.hooks("next_wake") if (t := wake(tx)) is not None]
            if (waiting := tx.outbox_next_wait()) is not None:
                times.append(waiting)  # a message waiting for the end of someone's quiet hours
            return min(times, default=None)

        return await self._run(work)

    async def sweep(self) -> Outcome:
        """Periodic upkeep (shares past their expiry end, old records go); the handled inbox
        is pruned once an hour; whatever this deleted leaves no copy in the WAL."""
        now = self.clock()

        def work(tx: Unit) -> Outcome:
            out = Outcome()
            for sweep in self.desk.hooks("sweep"):
                sweep(tx, out, now)
            for erasures in self.desk.hooks("erasures"):
                for person_id in erasures(tx, out, now):
                    self._erase(tx, out, person_id, now)
            _queue(tx, out, None)
            return out

        out = await self._run(work)
        if self._pruned_at is None or now - self._pruned_at >= INBOX_PRUNE_EVERY:
            self._pruned_at = now
            out.scrub = await self.store.inbox_prune() > 0 or out.scrub
        if out.scrub:
            await self.store.scrub()
        return out

    def _erase(self, tx: Unit, out: Outcome, person_id: int, now: datetime) -> None:
        """Everything of someone's goes, as their own /forget would: the other side of each
        link told, live summaries withdrawn, every row and their data key."""
        row = tx.person(person_id, self.default_timezone)
        turn = Turn(tx, Person(person_id), row, tx.conversation(person_id), out, now, self.desk)
        for before in self.desk.hooks("before_forget"):
            before(turn)
        tx.forget_person(person_id)
        out.replies.clear()  # nothing goes to a chat whose person is gone
        out.forgot = True
        out.scrub = True

    async def expects_words(self, person_id: int) -> bool:
        """Whether typed words would now answer something: a question that is not a choice,
        or a reply a feature waits on (a session's day, an edit). The console then reads a bare
        number as words, never as a button."""

        def work(tx: Unit) -> bool:
            conv = tx.conversation(person_id)
            if (conv.pending or {}).get("kind") in self.desk.typed:
                return True
            flow = self.catalogue.flows.get(conv.flow or "")
            step = flow.steps.get(conv.step or "") if flow else None
            return step is not None and step.input != "choice"

        return await self._run(work)

    def needs_admin_checks(self, inp: Input) -> bool:
        """Whether this input needs Telegram asked first (only some buttons, so nothing else
        costs a database read or a Bot API call)."""
        if inp.kind != "button":
            return False
        return inp.data.partition(":")[0] in self.desk.admin_check_prefixes

    async def admin_checks(self, person_id: int, inp: Input) -> list[tuple[int, int]]:
        """Which (group, user) administrator statuses the bot layer must ask Telegram for."""
        return await self._run(
            lambda tx: [
                pair
                for checks in self.desk.hooks("admin_checks")
                for pair in checks(tx, person_id, inp)
            ]
        )

    # ---- the guards on messages waiting in the outbox ------------------------------------

    async def guard_live(self, guard: tuple[str, int], chat_id: int, html: str) -> bool:
        """Checked just before a guarded message is sent: still wanted, still consented?"""
        owner = self.desk.guards.get(guard[0])
        if owner is None:
            return False  # a kind no feature vouches for any more: never sent
        now = self.clock()
        return await self._run(lambda tx: owner.live(tx, guard[1], chat_id, html, now))

    async def guard_sent(self, guard: tuple[str, int], chat_id: int, message_id: int) -> bool:
        """Telegram took it: the owner keeps its message id. False: delete it again at once."""
        owner = self.desk.guards.get(guard[0])
        if owner is None or owner.sent is None:
            return True
        sent, now = owner.sent, self.clock()
        return await self._run(lambda tx: sent(tx, guard[1], chat_id, message_id, now))

    async def guard_refused(self, guard: tuple[str, int], chat_id: int) -> Outcome:
        """Telegram refused it outright: its owner records that, and tells whoever it should."""
        owner = self.desk.guards.get(guard[0])
        refused = owner.refused if owner is not None else None
        if refused is None:
            return Outcome()
        now = self.clock()

        def work(tx: Unit) -> Outcome:
            out = Outcome()
            refused(tx, out, guard[1], chat_id, now)
            _queue(tx, out, None)
            return out

        return await self._run(work)


def _queue(tx: Unit, out: Outcome, chat: int | None, person: int | None = None) -> None:
    """Save the replies (and anything the gate let through to others) in this transaction.
    Replies to a person are sealed with their own key (an entry shown back carries their
    words); the gate says whose words a message to someone else carries."""
    if chat is not None and out.replies:
        payloads = [reply_to_json(r) for r in out.replies]
        out.outbox_ids = tx.outbox_add(chat, payloads, sealed_for=person)
    now: list[tuple[int, Reply]] = []
    for other, reply in out.others:
        payload = reply_to_json(reply)
        ids = tx.outbox_add(other, [payload], reply.guard, reply.sealed_for, reply.not_before)
        if reply.not_before is None:
            now.append((other, reply))
            out.others_ids += ids
    # What waits for the end of someone's quiet hours is not the bot's to send now: the alarm
    # wakes for it (next_wake), and the outbox hands it over once it may go.
    # (Only ever narrowed here: nothing but the gate adds to `others`.)
    out.rearm = out.rearm or len(now) < len(out.others)
    out.others[:] = now


async def _make_files(outcome: Outcome) -> None:
    """Charts and PDFs are drawn from data read in the transaction, but after it, in a worker
    thread: a slow drawing never holds up the database thread everyone shares."""
    documents: list[Document] = []
    for document in outcome.documents:
        if document.make is not None:
            made = await asyncio.to_thread(document.make)
            document = dataclasses.replace(document, content=made, make=None)
        documents.append(document)
    photos: list[Photo] = []
    for photo in outcome.photos:
        if photo.make is not None:
            made = await asyncio.to_thread(photo.make)
            photo = dataclasses.replace(photo, content=made, make=None)
        photos.append(photo)
    outcome.documents, outcome.photos = documents, photos
