"""The conversation engine: one input in, replies out, state saved in the same transaction.

Telegram, the console and the tests all call `Service.handle`. It loads the person's state, decides
what happens (the question sets' state machines decide where a flow goes next), writes every change
and commits before returning, so the reply is only ever sent for an answer already on disk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flows.features.progress import chart as progress
from flows.features.sessions import db as sessions_db
from flows.features.sessions.nudges import NUDGE_COMMANDS, NUDGE_MESSAGES, Nudges
from flows.features.supervision import db as sup_db
from flows.features.supervision.supervision import (
    SUPERVISION_COMMANDS,
    SUPERVISION_MESSAGES,
    Supervision,
)
from flows.features.team import db as team_db
from flows.features.team.team import PENDING_KINDS as TEAM_PENDING
from flows.features.team.team import TEAM_COMMANDS, TEAM_MESSAGES, GroupEvent, Team
from flows.kernel import export, identifying, render
from flows.kernel.model import Button, Document, Input, Outcome, Person, Photo, Reply, reply_to_json
from flows.kernel.turn import Turn
from flows.questions import answers as content
from flows.questions import catalogue as engine
from flows.questions.catalogue import END, Catalogue, Flow, PromptError, Step
from flows.store.core import Store
from flows.store.rows import EntryRow
from flows.store.unit import Unit

log = logging.getLogger(__name__)
# The catalogue (locale) of the person whose input is being handled, for the length of one unit.
_LOCALE: ContextVar[Catalogue | None] = ContextVar("coreflect_locale", default=None)

BUILTIN_COMMANDS = (
    "start",
    "help",
    "settings",
    "cancel",
    "entries",
    "skip",
    "back",
    "done",
    "export",
    "forget",
    "support",
    "progress",
    *SUPERVISION_COMMANDS,
    *NUDGE_COMMANDS,
    *TEAM_COMMANDS,
)
JOURNAL = "journal"  # the free-entry question set; loose messages become journal entries too
IN_THE_MOMENT = "in_the_moment"  # a check before sharing: later, one invitation to reflect
NUDGE_TYPED = {"session_when", "session_time", "weekly_time", "pause_date"}
ENTRIES_PAGE = 5  # fits a phone screen with its buttons
LINK_WINDOW = timedelta(days=14)
SUMMARY_ANSWER_CHARS = 300

REQUIRED_MESSAGES = frozenset(
    {
        "welcome",
        "welcome_back",
        "help",
        "timezone_offer",
        "button_tz_keep",
        "button_tz_other",
        "timezone_kept",
        "timezone_set",
        "timezone_ask",
        "timezone_unknown",
        "settings",
        "skip_button",
        "previous_answer",
        "saved",
        "choose_please",
        "empty_answer",
        "cannot_skip",
        "nothing_to_skip",
        "back_at_start",
        "nothing_to_go_back_to",
        "cancel_confirm",
        "button_keep_draft",
        "button_discard",
        "button_carry_on",
        "cancelled_draft",
        "cancelled_discarded",
        "cancelled_nothing_saved",
        "nothing_to_cancel",
        "carry_on",
        "switch_confirm",
        "button_switch",
        "left_as_draft",
        "already_in_flow",
        "still_in_flow",
        "unknown_command",
        "unsupported",
        "edited",
        "stale_toast",
        "stale_no_flow",
        "note_saved",
        "link_offer",
        "linked_toast",
        "entries_empty",
        "entries_list",
        "entry_heading",
        "entry_episode",
        "entry_gone",
        "saved_toast",
        "something_went_wrong",
        "journal_part_saved",
        "button_done",
        "nothing_written_yet",
        "nothing_to_finish",
        "note_label",
        "entries_heading",
        "nothing_found",
        "button_newer",
        "button_older",
        "button_edit",
        "button_delete",
        "button_flag",
        "button_unflag",
        "entry_flagged",
        "flag_on",
        "flag_off",
        "edit_choose",
        "button_add_note",
        "edit_prompt",
        "note_prompt",
        "edit_saved",
        "edited_saved",
        "delete_confirm",
        "button_delete_yes",
        "button_keep_it",
        "deleted",
        "kept_toast",
        "identifying_warning",
        "kind_nhs_number",
        "kind_phone",
        "kind_email",
        "kind_postcode",
        "kind_date_of_birth",
        "kind_name",
        "button_keep_as_written",
        "button_rewrite",
        "rewrite_prompt",
        "support",
        "support_offer",
        "export_ready",
        "forget_confirm",
        "button_forget",
        "button_keep_everything",
        "forget_really",
        "button_forget_now",
        "forgotten",
        "forget_kept",
        "episode_part",
        *SUPERVISION_MESSAGES,
        *NUDGE_MESSAGES,
        *TEAM_MESSAGES,
        *progress.PROGRESS_MESSAGES,
    }
)


class Service:
    def __init__(
        self,
        store: Store,
        catalogue: Catalogue,
        default_timezone: str = "Europe/London",
    ) -> None:
        if JOURNAL not in catalogue.flows:
            raise PromptError(
                f"{JOURNAL}.yaml: can't be switched off: loose messages are kept in it"
            )
        clash = set(BUILTIN_COMMANDS) & {f.command for f in catalogue.flows.values()}
        if clash:
            raise PromptError(
                f"a question set uses a built-in command: /{', /'.join(sorted(clash))}"
            )
        self.store = store
        self.catalogue = catalogue  # the default locale; each person's is chosen per input
        self.default_timezone = default_timezone
        self.bot_username: str | None = None  # from getMe; makes invite codes into links
        self.sup = Supervision(self)
        self.nudges = Nudges(self)
        self.team = Team(self)

    @property
    def cat(self) -> Catalogue:
        """The wording of the person being answered (their Telegram language), else the default."""
        return _LOCALE.get() or self.catalogue

    def clock(self) -> datetime:
        """Now, by the store's clock (tests move it on to reach expiries and time limits)."""
        return self.store.clock()

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
        outcome = await self.store.run(
            lambda tx: self._handle(tx, person, inp, update_id, outbox_chat, pressed)
        )
        if update_id is not None:
            self.store.marked.add(update_id)
        if outcome.forgot:
            await self.store.checkpoint()
        if outcome.documents or outcome.photos:
            await _make_files(outcome)
        return outcome

    def _handle(
        self,
        tx: Unit,
        person: Person,
        inp: Input,
        update_id: int | None,
        outbox_chat: int | None,
        pressed: int | None = None,
    ) -> Outcome:
        token = _LOCALE.set(self.catalogue.for_language(person.language_code))
        try:
            return self._handle_in_locale(tx, person, inp, update_id, outbox_chat, pressed)
        finally:
            _LOCALE.reset(token)

    def _handle_in_locale(
        self,
        tx: Unit,
        person: Person,
        inp: Input,
        update_id: int | None,
        outbox_chat: int | None,
        pressed: int | None,
    ) -> Outcome:
        row = tx.person(person.id, self.default_timezone)
        if person.first_name and person.first_name != row.name:
            tx.set_name(row.cipher, person.id, person.first_name)
        conv = tx.conversation(person.id)
        turn = Turn(tx, person, row, conv, Outcome(), self.clock(), inp.message_id)
        turn.admin_in = inp.admin_in
        if not row.welcomed:
            self._welcome(turn)
        if row.welcomed or inp.kind != "command" or inp.command != "start" or inp.args:
            self._dispatch(turn, inp)
        if turn.support_entry is not None and tx.offer_support_once(turn.support_entry):
            turn.say(self.cat.say("support_offer"))
        if not turn.out.forgot:
            tx.save_conversation(turn.conv)
        if update_id is not None:
            tx.inbox_mark_handled(update_id)
        if outbox_chat is not None:
            if pressed is not None and turn.out.replace is not None:
                edit = dataclasses.replace(turn.out.replace, edit_message=pressed)
                (turn.out.replace_id,) = tx.outbox_add(outbox_chat, [reply_to_json(edit)])
                turn.out.replace = edit
            self._queue(tx, turn.out, outbox_chat)
        return turn.out

    @staticmethod
    def _queue(tx: Unit, out: Outcome, chat: int | None) -> None:
        """Save the replies (and anything the gate let through to others) in this transaction."""
        if chat is not None and out.replies:
            out.outbox_ids = tx.outbox_add(chat, [reply_to_json(r) for r in out.replies])
        for other, reply in out.others:
            out.others_ids += tx.outbox_add(other, [reply_to_json(reply)], reply.share_id)

    async def share_live(self, share_id: int, now: datetime) -> bool:
        """Checked again just before a queued summary goes out."""
        return await self.store.run(lambda tx: sup_db.share_sendable(tx, share_id, now))

    async def record_share_message(
        self, share_id: int, chat_id: int, message_id: int, now: datetime
    ) -> bool:
        return await self.store.run(
            lambda tx: sup_db.record_share_message(tx, share_id, chat_id, message_id, now)
        )

    async def team_post_live(self, post_id: int, chat_id: int, html: str) -> bool:
        """Checked again just before a team post goes out: still consented, word for word."""
        return await self.store.run(
            lambda tx: team_db.team_post_sendable(tx, post_id, chat_id, html)
        )

    async def record_team_message(
        self, post_id: int, chat_id: int, message_id: int, now: datetime
    ) -> bool:
        return await self.store.run(
            lambda tx: team_db.team_post_message(tx, post_id, chat_id, message_id, now)
        )

    async def due_nudges(self) -> list[tuple[int, int, Reply]]:
        """Due nudges, moved into the outbox (marked sent in the same transaction)."""
        return await self.store.run(lambda tx: self.nudges.process(tx, self.clock()))

    async def next_wake(self) -> datetime | None:
        return await self.store.run(lambda tx: sessions_db.next_wake(tx))

    async def nudge_still_useful(self, nudge_id: int) -> bool:
        """Checked just before a nudge waiting in the outbox is sent (after a restart, say)."""
        return await self.store.run(lambda tx: self.nudges.still_useful(tx, nudge_id, self.clock()))

    async def sweep(self) -> Outcome:
        """Periodic upkeep: shares past their expiry end, old wrong-code records go."""
        now = self.clock()

        def work(tx: Unit) -> Outcome:
            out = Outcome()
            self.sup.sweep(tx, out, now)
            self._queue(tx, out, None)
            return out

        return await self.store.run(work)

    async def team_checks(self, person_id: int, inp: Input) -> list[tuple[int, int]]:
        """Which (group, user) administrator statuses the bot layer must ask Telegram for."""
        return await self.store.run(lambda tx: self.team.checks(tx, person_id, inp))

    async def team_not_posted(self, post_id: int, chat_id: int) -> Outcome:
        """Telegram refused a team post outright: recorded as not posted; both are told."""

        def work(tx: Unit) -> Outcome:
            out = Outcome()
            self.team.not_posted(tx, out, post_id, chat_id, self.clock())
            self._queue(tx, out, None)
            return out

        return await self.store.run(work)

    async def handle_group(
        self, person: Person, event: GroupEvent, update_id: int | None = None
    ) -> Outcome:
        """Something in a group chat: /teamgroup, the bot removed, a supergroup migration.
        Replies go to that group chat (in the same transaction as everything else)."""

        def work(tx: Unit) -> Outcome:
            out = self.team.group(tx, person, event, self.clock())
            if update_id is not None:
                tx.inbox_mark_handled(update_id)
            self._queue(tx, out, event.chat_id)
            return out

        outcome = await self.store.run(work)
        if update_id is not None:
            self.store.marked.add(update_id)
        return outcome

    # ---- dispatch ------------------------------------------------------------------------

    def _dispatch(self, t: Turn, inp: Input) -> None:
        if inp.kind == "button":
            self._button(t, inp.data)
            return
        if inp.kind == "edited":
            self._edited(t, inp)
            return
        waiting_for = (t.conv.pending or {}).get("kind")
        if inp.kind == "text" and waiting_for == "timezone":
            self._typed_timezone(t, inp.text)
            return
        if inp.kind == "text" and waiting_for in {"identifying", "rewrite", "edit"}:
            self._replace_typed(t, inp.text)
            return
        if inp.kind == "text" and waiting_for in NUDGE_TYPED:
            self.nudges.typed(t, inp.text)
            return
        if inp.kind == "text" and waiting_for in TEAM_PENDING:
            self.team.typed(t, inp.text)
            return
        if waiting_for == "identifying" and not (inp.kind == "command" and inp.command == "cancel"):
            # Moving on without answering the gentle check keeps what they wrote, as written.
            self._identifying_choice(t, "keep")
            t.out.toast = None
        if inp.kind != "command" or inp.command != "cancel":
            t.conv.pending = None
        if inp.kind == "unsupported":
            t.say(self.cat.say("unsupported", what=inp.what, in_flow=t.conv.flow is not None))
            self._ask_again(t)
        elif inp.kind == "command":
            self._command(t, inp.command, inp.args)
        else:
            self._text(t, inp.text)

    def _command(self, t: Turn, command: str, args: str = "") -> None:
        flow = self.cat.by_command(command)
        if flow is not None and flow.together:
            self.sup.coreflect(t)
        elif flow is not None:
            self._flow_command(t, flow)
        elif command == "start" and args.startswith("link_"):
            self.sup.code(t, args.removeprefix("link_"))
        elif command in SUPERVISION_COMMANDS:
            self.sup.command(t, command, args)
        elif command in NUDGE_COMMANDS:
            self.nudges.command(t, command)
        elif command in TEAM_COMMANDS:
            self.team.command(t, command)
        elif command == "start":
            t.say(self.cat.say("welcome_back", name=t.person.first_name))
            self._ask_again(t)
        elif command == "help":
            t.say(self._help())
            self._ask_again(t)
        elif command == "settings":
            self._settings(t)
        elif command == "cancel":
            self._cancel(t)
        elif command in {"entries", "support", "export", "progress"}:
            if command == "entries":
                self._entries(t, args, 0)
            elif command == "progress":
                self._progress(t, progress.DEFAULT_WEEKS)
            elif command == "support":
                self._support(t)
            else:
                self._export(t)
            if t.conv.flow:
                t.say(self.cat.say("still_in_flow", title=self._flow_of(t).title))
        elif command == "forget":
            self._forget(t, "ask")
        elif command == "done":
            self._done(t)
        elif command == "skip":
            self._skip(t)
        elif command == "back":
            self._back(t)
        else:
            t.say(self.cat.say("unknown_command", command=command))
            self._ask_again(t)

    def _text(self, t: Turn, text: str) -> None:
        if t.conv.flow is None:
            self._note(t, text)
            return
        step = self._step_of(t)
        if step.input == "choice":
            choice = step.match_typed(text)
            if choice is None:
                t.say(self.cat.say("choose_please"))
                self._ask(t)
            else:
                self._answer(t, choice.value)
            return
        if not text.strip():
            t.say(self.cat.say("empty_answer"))
            self._ask(t)
            return
        assert t.conv.entry_id is not None
        if step.input == "free":
            raw = t.tx.answers(t.row.cipher, t.conv.entry_id)
            key = content.next_key(raw, step.id)
        else:
            key = step.id
        self._save_typed(t, t.conv.entry_id, key, text.strip())
        if not self._paused_for_identifying(t, t.conv.entry_id, key, text, "flow"):
            self._carry_on_after(t, "flow", key)

    def _save_typed(self, t: Turn, entry_id: int, key: str, text: str) -> None:
        """Save typed words, remember their message (so an edit can follow), note distress."""
        t.tx.put_answer(t.row.cipher, entry_id, key, text)
        if t.message_id is not None:
            t.tx.remember_message(t.person.id, t.message_id, entry_id, key)
        if self.cat.support.sounds_distressed(text):
            t.support_entry = entry_id

    def _paused_for_identifying(
        self, t: Turn, entry_id: int, key: str, text: str, then: str, label: str = ""
    ) -> bool:
        """If the text may identify someone, say so kindly and wait: keep it, or rewrite it."""
        kinds = identifying.kinds(text)
        if not kinds:
            return False
        t.conv.pending = {
            "kind": "identifying",
            "entry": entry_id,
            "key": key,
            "then": then,
            "label": label,
        }
        t.conv.turn += 1
        t.say(
            self.cat.say("identifying_warning", kinds=[self.cat.say(f"kind_{k}") for k in kinds]),
            [
                [
                    Button(self.cat.say("button_keep_as_written"), f"i:{t.conv.turn}:keep"),
                    Button(self.cat.say("button_rewrite"), f"i:{t.conv.turn}:rewrite"),
                ]
            ],
        )
        return True

    def _carry_on_after(self, t: Turn, then: str, key: str, label: str = "") -> None:
        """What follows a saved typed answer once nothing more is asked about it."""
        if then == "flow" and t.conv.flow is not None:
            step = self._step_of(t)
            if step.input == "free":
                self._ask_more(t)
            else:
                # Branches are on choices only, so a typed answer's words never steer the flow.
                self._advance(t, key)
        elif then == "note":
            t.say(self.cat.say("note_saved", flows=self._flow_list()))
        elif then in {"edit", "edited"}:
            label = label or self.cat.say("note_label")
            t.say(self.cat.say("edit_saved" if then == "edit" else "edited_saved", label=label))
            self._ask_again(t)
        else:
            self._ask_again(t)

    def _button(self, t: Turn, data: str) -> None:
        kind, _, rest = data.partition(":")
        if kind == "o":
            self._open_entry(t, rest)
            return
        if kind == "l":
            self._link(t, rest)
            return
        if kind == "x":
            self._entry_action(t, rest)
            return
        if kind == "pg":
            weeks = int(rest) if rest.isdigit() else 0
            self._progress(t, weeks if weeks in progress.WEEKS else progress.DEFAULT_WEEKS)
            return
        if kind == "e":
            page, _, query = rest.partition(":")
            self._entries(t, query, int(page) if page.isdigit() else 0)
            return
        if kind == "t":
            self.team.button(t, rest)
            return
        if self.sup.button(t, kind, rest) or self.nudges.button(t, kind, rest):
            return
        turn_text, _, value = rest.partition(":")
        if not turn_text.isdigit() or int(turn_text) != t.conv.turn:
            self._stale(t)
            return
        t.out.clear_buttons = True
        pending = (t.conv.pending or {}).get("kind")
        if kind == "a" and t.conv.flow and pending is None:
            step = self._step_of(t)
            if value == "done" and step.input == "free":
                self._done(t)
                return
            if value == "skip" and step.optional:
                t.out.toast = self.cat.say("saved_toast")
                self._answer(t, None)
                return
            choice = step.choice(value)
            if choice is not None:
                t.out.toast = choice.label
                self._answer(t, choice.value)
                return
        elif kind == "c" and pending == "cancel":
            self._cancel_choice(t, value)
            return
        elif kind == "s" and pending == "switch":
            self._switch_choice(t, value)
            return
        elif kind == "z":
            self._timezone_button(t, value)
            return
        elif kind == "i" and pending == "identifying":
            self._identifying_choice(t, value)
            return
        elif kind == "f" and pending in {"forget", "forget_again"}:
            self._forget(t, value)
            return
        elif kind == "v" and pending == "edit":
            self._replace_choice(t, value)
            return
        elif kind in {"k", "p"} and pending in {"link_confirm", "share_preview"}:
            self.sup.turn_button(t, kind, value)
            return
        elif kind == "b" and pending in {"session_when", "session_time", "session_repeat"}:
            self.nudges.turn_button(t, value)
            return
        self._stale(t)

    # ---- flows ---------------------------------------------------------------------------

    def _flow_command(self, t: Turn, flow: Flow) -> None:
        if t.conv.flow is None:
            self._start_flow(t, flow)
        elif t.conv.flow == flow.name:
            t.say(self.cat.say("already_in_flow", title=flow.title))
            self._ask(t)
        else:
            current = self.cat.flows[t.conv.flow]
            t.conv.pending = {"kind": "switch", "to": flow.name}
            t.conv.turn += 1
            t.say(
                self.cat.say("switch_confirm", current=current.title, new=flow.title),
                [
                    [
                        Button(
                            self.cat.say("button_switch", title=flow.title), f"s:{t.conv.turn}:go"
                        )
                    ],
                    [Button(self.cat.say("button_carry_on"), f"s:{t.conv.turn}:stay")],
                ],
            )

    def _start_flow(self, t: Turn, flow: Flow) -> None:
        entry_id = t.tx.create_entry(t.person.id, flow.name, None)
        t.conv.flow, t.conv.step, t.conv.entry_id = flow.name, flow.first, entry_id
        t.conv.history, t.conv.pending = [], None
        intro = render.tidy(flow.intro.render(**self._context(flow, {})))
        buttons: list[list[Button]] = []
        if flow.link_to:
            recent = t.tx.entries(
                t.person.id,
                limit=3,
                flows=flow.link_to,
                since=t.now - LINK_WINDOW,
                statuses=("saved",),
            )
            if recent:
                intro += "\n\n" + self.cat.say("link_offer")
                buttons = [
                    [Button(self._entry_label(t, e), f"l:{entry_id}:{e.id}")] for e in recent
                ]
        t.say(intro, buttons)
        self._ask(t)

    def _ask(self, t: Turn) -> None:
        """Show the current question (again), with fresh buttons."""
        flow, step = self._flow_of(t), self._step_of(t)
        assert t.conv.entry_id is not None
        answers = t.tx.answers(t.row.cipher, t.conv.entry_id)
        t.conv.turn += 1
        context = self._context(flow, answers)
        text = render.tidy(
            step.ask.render(
                **context, step_number=flow.position(step.id), step_count=len(flow.steps)
            )
        )
        earlier = answers.get(step.id)
        if earlier is not None:
            shown = content.display(step, earlier)
            text += "\n\n" + self.cat.say("previous_answer", answer=render.shorten(shown, 600))
        rows = _choice_rows([Button(c.label, f"a:{t.conv.turn}:{c.value}") for c in step.choices])
        if step.optional:
            rows.append([Button(self.cat.say("skip_button"), f"a:{t.conv.turn}:skip")])
        if step.input == "free" and any(content.base(k) == step.id for k in answers):
            rows.append([Button(self.cat.say("button_done"), f"a:{t.conv.turn}:done")])
        t.say(text, rows)

    def _ask_more(self, t: Turn) -> None:
        """After each part of a free entry: a short nod and a Done button, not the question."""
        t.conv.turn += 1
        t.say(
            self.cat.say("journal_part_saved"),
            [[Button(self.cat.say("button_done"), f"a:{t.conv.turn}:done")]],
        )

    def _done(self, t: Turn) -> None:
        if t.conv.flow is None or self._step_of(t).input != "free":
            t.say(self.cat.say("nothing_to_finish"))
            self._ask_again(t)
            return
        assert t.conv.entry_id is not None
        step = self._step_of(t)
        if not any(content.base(k) == step.id for k in t.tx.answers(t.row.cipher, t.conv.entry_id)):
            t.say(self.cat.say("nothing_written_yet"))
            return
        self._advance(t, "done")

    def _ask_again(self, t: Turn) -> None:
        if t.conv.flow is not None:
            self._ask(t)

    def _answer(self, t: Turn, value: str | None) -> None:
        """Save (or, when skipped, clear) the current step's answer, then move on."""
        step = self._step_of(t)
        assert t.conv.entry_id is not None
        if value is None:
            t.tx.delete_answer(t.conv.entry_id, step.id)
        else:
            t.tx.put_answer(t.row.cipher, t.conv.entry_id, step.id, value)
        self._advance(t, value)

    def _advance(self, t: Turn, value: str | None) -> None:
        """Move to the step the question set's machine chooses for this answer."""
        flow, step = self._flow_of(t), self._step_of(t)
        following = flow.advance(step.id, value)
        t.conv.history.append(step.id)
        if following == END:
            self._complete(t, flow)
        else:
            t.conv.step = following
            self._ask(t)

    def _complete(self, t: Turn, flow: Flow) -> None:
        entry_id = t.conv.entry_id
        assert entry_id is not None
        answers = t.tx.answers(t.row.cipher, entry_id)
        for key in [k for k in answers if content.base(k) not in t.conv.history]:
            # An answer left on a branch the person went back from is not part of this entry.
            t.tx.delete_answer(entry_id, key)
            del answers[key]
        t.tx.set_entry_status(entry_id, "saved")
        self._refresh_search(t, entry_id, flow.name, answers)
        summary = render.tidy(flow.summary.render(**self._context(flow, answers, shorten=True)))
        self._reset(t)
        for chunk in render.pack([summary, self.cat.say("saved")]):
            t.say(chunk)
        self.sup.completed(t, entry_id)
        if flow.name == IN_THE_MOMENT:
            self.nudges.after_check(t, entry_id)

    def _reset(self, t: Turn) -> None:
        t.conv.flow = t.conv.step = None
        t.conv.entry_id = None
        t.conv.history, t.conv.pending = [], None

    def _skip(self, t: Turn) -> None:
        if t.conv.flow is None:
            t.say(self.cat.say("nothing_to_skip"))
        elif not self._step_of(t).optional:
            t.say(self.cat.say("cannot_skip"))
            self._ask(t)
        else:
            self._answer(t, None)

    def _back(self, t: Turn) -> None:
        if t.conv.flow is None:
            t.say(self.cat.say("nothing_to_go_back_to"))
            return
        if not t.conv.history:
            t.say(self.cat.say("back_at_start"))
        else:
            t.conv.step = t.conv.history.pop()
        self._ask(t)

    def _cancel(self, t: Turn) -> None:
        if (t.conv.pending or {}).get("kind") == "identifying":
            self._identifying_choice(t, "keep")  # what they wrote is saved; leave it be
            return
        if t.conv.pending is not None:
            t.conv.pending = None
            t.say(self.cat.say("carry_on"))
            self._ask_again(t)
            return
        if t.conv.flow is None:
            t.say(self.cat.say("nothing_to_cancel"))
            return
        assert t.conv.entry_id is not None
        if not t.tx.answers(t.row.cipher, t.conv.entry_id):
            t.tx.delete_entry(t.conv.entry_id)
            self._reset(t)
            t.say(self.cat.say("cancelled_nothing_saved"))
            return
        t.conv.pending = {"kind": "cancel"}
        t.conv.turn += 1
        turn = t.conv.turn
        t.say(
            self.cat.say("cancel_confirm", title=self._flow_of(t).title),
            [
                [Button(self.cat.say("button_keep_draft"), f"c:{turn}:keep")],
                [Button(self.cat.say("button_discard"), f"c:{turn}:discard")],
                [Button(self.cat.say("button_carry_on"), f"c:{turn}:stay")],
            ],
        )

    def _cancel_choice(self, t: Turn, value: str) -> None:
        t.conv.pending = None
        entry_id = t.conv.entry_id
        assert entry_id is not None
        title = self._flow_of(t).title
        if value == "keep":
            t.tx.set_entry_status(entry_id, "draft")
            self._refresh_search(t, entry_id, self._flow_of(t).name)
            self._reset(t)
            t.say(self.cat.say("cancelled_draft", title=title))
        elif value == "discard":
            t.tx.delete_entry(entry_id)
            self._reset(t)
            t.say(self.cat.say("cancelled_discarded", title=title))
        else:
            t.say(self.cat.say("carry_on"))
            self._ask(t)

    def _switch_choice(self, t: Turn, value: str) -> None:
        target = self.cat.flows.get(str((t.conv.pending or {}).get("to")))
        t.conv.pending = None
        if value != "go" or target is None:
            t.say(self.cat.say("carry_on"))
            self._ask(t)
            return
        self._leave_as_draft(t)
        self._start_flow(t, target)

    def _leave_as_draft(self, t: Turn) -> None:
        """Leaving a flow never loses words: anything answered stays as a draft."""
        entry_id = t.conv.entry_id
        if entry_id is None:
            return
        if t.tx.answers(t.row.cipher, entry_id):
            t.tx.set_entry_status(entry_id, "draft")
            self._refresh_search(t, entry_id, self._flow_of(t).name)
            t.say(self.cat.say("left_as_draft", title=self._flow_of(t).title))
        else:
            t.tx.delete_entry(entry_id)
        self._reset(t)

    def _stale(self, t: Turn) -> None:
        t.out.toast = self.cat.say("stale_toast")
        t.out.clear_buttons = True
        if t.conv.flow is not None:
            t.conv.pending = None
            self._ask(t)
        else:
            t.say(self.cat.say("stale_no_flow"))

    def _link(self, t: Turn, rest: str) -> None:
        """Join this entry to an earlier one's sharing episode."""
        entry_text, _, target_text = rest.partition(":")
        entry = t.tx.entry(t.person.id, int(entry_text)) if entry_text.isdigit() else None
        target = t.tx.entry(t.person.id, int(target_text)) if target_text.isdigit() else None
        if entry is None or target is None:
            self._stale(t)
            return
        t.tx.set_entry_episode(entry.id, target.episode_id)
        t.out.toast = self.cat.say("linked_toast", label=self._entry_label(t, target))
        t.out.clear_buttons = True

    # ---- notes, entries ------------------------------------------------------------------

    def _note(self, t: Turn, text: str) -> None:
        """Words sent outside a question set are kept as a journal entry rather than lost."""
        if not text.strip():
            t.say(self.cat.say("empty_answer"))
            return
        entry_id = t.tx.create_entry(t.person.id, JOURNAL, None)
        key = f"{self.cat.flows[JOURNAL].first}.1"
        self._save_typed(t, entry_id, key, text.strip())
        t.tx.set_entry_status(entry_id, "saved")
        self._refresh_search(t, entry_id, JOURNAL)
        if not self._paused_for_identifying(t, entry_id, key, text, "note"):
            self._carry_on_after(t, "note", key)

    def _replace_typed(self, t: Turn, text: str) -> None:
        """Text while we wait on an answer being rewritten or edited: it is the new version."""
        pending = dict(t.conv.pending or {})
        if pending.get("kind") == "identifying":
            pending["kind"] = "rewrite"  # typing instead of pressing means rewriting
        if not text.strip():
            t.say(self.cat.say("empty_answer"))
            return
        entry = t.tx.entry(t.person.id, int(pending.get("entry", 0)))
        if entry is None:
            t.conv.pending = None
            t.say(self.cat.say("entry_gone"))
            self._ask_again(t)
            return
        raw = t.tx.answers(t.row.cipher, entry.id)
        flow = self.cat.flows.get(entry.flow)
        key = str(pending["key"])
        then = str(pending.get("then", "edit"))
        if pending["kind"] == "edit":
            if key == content.NOTE:
                key = content.next_key(raw, content.NOTE)
            else:
                step = flow.steps.get(key) if flow else None
                if step is not None and step.input == "choice":
                    choice = step.match_typed(text)
                    if choice is None:
                        t.say(self.cat.say("choose_please"))
                        return
                    text = choice.value
                elif step is not None and step.input == "free":
                    for old in [k for k in raw if content.base(k) == key]:
                        t.tx.delete_answer(entry.id, old)
                    key = f"{key}.1"
        label = self._label(flow, key)
        t.conv.pending = None
        self._save_typed(t, entry.id, key, text.strip())
        if entry.status != "in_progress":
            self._refresh_search(t, entry.id, entry.flow)
        if not self._paused_for_identifying(t, entry.id, key, text, then, label):
            self._carry_on_after(t, then, key, label)

    def _identifying_choice(self, t: Turn, value: str) -> None:
        pending = dict(t.conv.pending or {})
        if value == "rewrite":
            t.conv.pending = {**pending, "kind": "rewrite"}
            t.say(self.cat.say("rewrite_prompt"))
            return
        t.conv.pending = None
        t.out.toast = self.cat.say("kept_toast")
        self._carry_on_after(
            t,
            str(pending.get("then", "")),
            str(pending.get("key", "")),
            str(pending.get("label", "")),
        )

    def _replace_choice(self, t: Turn, value: str) -> None:
        """A button pressed to replace a choice answer from an open entry."""
        pending = dict(t.conv.pending or {})
        entry = t.tx.entry(t.person.id, int(pending.get("entry", 0)))
        flow = self.cat.flows.get(entry.flow) if entry else None
        step = flow.steps.get(str(pending.get("key"))) if flow else None
        choice = step.choice(value) if step else None
        t.conv.pending = None
        if entry is None or step is None or choice is None:
            self._stale(t)
            return
        t.tx.put_answer(t.row.cipher, entry.id, step.id, choice.value)
        self._refresh_search(t, entry.id, entry.flow)
        t.out.toast = choice.label
        t.say(self.cat.say("edit_saved", label=step.label))
        self._ask_again(t)

    def _edited(self, t: Turn, inp: Input) -> None:
        """An edited Telegram message updates the answer it became, and says so."""
        found = (
            t.tx.answer_for_message(t.person.id, inp.message_id)
            if inp.message_id is not None
            else None
        )
        entry = t.tx.entry(t.person.id, found[0]) if found else None
        if found is None or entry is None or not inp.text.strip():
            t.say(self.cat.say("edited"))
            return
        key = found[1]
        label = self._label(self.cat.flows.get(entry.flow), key)
        self._save_typed(t, entry.id, key, inp.text.strip())
        if entry.status != "in_progress":
            self._refresh_search(t, entry.id, entry.flow)
        if not self._paused_for_identifying(t, entry.id, key, inp.text, "edited", label):
            t.say(self.cat.say("edited_saved", label=label))

    def _entries(self, t: Turn, query: str, page: int) -> None:
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
                t.say(self.cat.say("entries_empty", flows=self._flow_list()))
            else:
                t.say(self.cat.say("nothing_found", mode=mode, query=shown))
            return
        items = []
        for number, entry in enumerate(rows, start=start + 1):
            answers = t.tx.answers(t.row.cipher, entry.id)
            first = content.first_words(self.cat.flows.get(entry.flow), answers)
            items.append(
                {
                    "number": number,
                    "when": self._when(t, entry.created_at),
                    "title": self._title(entry.flow),
                    "draft": entry.status == "draft",
                    "first_words": render.shorten(first, 60),
                }
            )
        buttons = [Button(str(i["number"]), f"o:{e.id}") for i, e in zip(items, rows, strict=True)]
        keyboard = [buttons]
        paging = []
        if page > 0:
            paging.append(Button(self.cat.say("button_newer"), _page_data(page - 1, query)))
        if older:
            paging.append(Button(self.cat.say("button_older"), _page_data(page + 1, query)))
        if paging:
            keyboard.append(paging)
        heading = self.cat.say("entries_heading", mode=mode, query=shown, page=page)
        t.say(heading + "\n\n" + self.cat.say("entries_list", items=items), keyboard)

    def _open_entry(self, t: Turn, entry_text: str) -> None:
        entry = t.tx.entry(t.person.id, int(entry_text)) if entry_text.isdigit() else None
        if entry is None or entry.status == "in_progress":
            t.out.toast = self.cat.say("entry_gone")
            return
        answers = t.tx.answers(t.row.cipher, entry.id)
        flow = self.cat.flows.get(entry.flow)
        blocks = [
            self.cat.say(
                "entry_heading",
                title=self._title(entry.flow),
                when=self._when(t, entry.created_at),
                draft=entry.status == "draft",
            )
        ]
        if entry.flagged:
            blocks.append(self.cat.say("entry_flagged"))
            section = self.cat.say(f"proctor_{self.sup.section(entry)}")
            blocks.append(self.cat.say("entry_section", section=section))
        episode = [
            e
            for e in t.tx.entries(t.person.id, limit=20, episode_id=entry.episode_id)
            if e.id != entry.id
        ]
        if episode:
            blocks.append(
                self.cat.say("entry_episode", others=[self._entry_label(t, e) for e in episode])
            )
        blocks += self._answer_blocks(flow, answers)
        # The rest of the sharing episode (preparation, in the moment, reflection), in order.
        for other in sorted(episode, key=lambda e: e.created_at):
            other_flow = self.cat.flows.get(other.flow)
            blocks.append(
                self.cat.say(
                    "episode_part",
                    title=self._title(other.flow),
                    when=self._when(t, other.created_at),
                )
            )
            blocks += self._answer_blocks(other_flow, t.tx.answers(t.row.cipher, other.id))
        chunks = render.pack(blocks)
        for chunk in chunks[:-1]:
            t.say(chunk)
        flag = "button_unflag" if entry.flagged else "button_flag"
        t.say(
            chunks[-1],
            [
                [
                    Button(self.cat.say("button_edit"), f"x:{entry.id}:edit"),
                    Button(self.cat.say("button_delete"), f"x:{entry.id}:delete"),
                ],
                [Button(self.cat.say(flag), f"x:{entry.id}:flag")],
                *(
                    [[Button(self.cat.say("button_section"), f"x:{entry.id}:sec")]]
                    if entry.flagged
                    else []
                ),
                *(
                    [[Button(self.cat.say("button_share"), f"x:{entry.id}:share")]]
                    if sup_db.supervisor_link(t.tx, t.person.id)
                    else []
                ),
            ],
        )

    def _answer_blocks(self, flow: Flow | None, answers: dict[str, str]) -> list[str]:
        return [
            f"<b>{render.escape(self._label(flow, key))}</b>\n{render.escape(text)}"
            for key, text in content.collapse(flow, answers).items()
        ]

    def _entry_action(self, t: Turn, rest: str) -> None:
        """Buttons under an open entry. Its id is checked against the person on every press."""
        entry_text, _, action = rest.partition(":")
        entry = t.tx.entry(t.person.id, int(entry_text)) if entry_text.isdigit() else None
        if entry is None or entry.status == "in_progress":
            t.out.toast = self.cat.say("entry_gone")
            return
        flow = self.cat.flows.get(entry.flow)
        if action == "flag":
            t.tx.set_flag(entry.id, not entry.flagged)
            t.out.toast = self.cat.say("flag_off" if entry.flagged else "flag_on")
        elif action == "delete":
            t.say(
                self.cat.say("delete_confirm"),
                [
                    [Button(self.cat.say("button_delete_yes"), f"x:{entry.id}:delete_yes")],
                    [Button(self.cat.say("button_keep_it"), f"x:{entry.id}:keep")],
                ],
            )
        elif action == "delete_yes":
            t.tx.delete_entry(entry.id)  # gone from the database, its answers with it
            t.out.clear_buttons = True
            t.say(self.cat.say("deleted"))
        elif action == "keep":
            t.out.clear_buttons = True
            t.out.toast = self.cat.say("kept_toast")
        elif action == "share":
            self.sup.preview(t, "entry", entry.id, [entry])
        elif action == "sec":
            t.say(
                self.cat.say("section_choose"),
                [
                    [Button(self.cat.say(f"proctor_{s}"), f"x:{entry.id}:p:{s}")]
                    for s in engine.PROCTOR
                ],
            )
        elif action.startswith("p:") and action[2:] in engine.PROCTOR:
            t.tx.set_proctor(entry.id, action[2:])
            t.out.clear_buttons = True
            t.out.toast = self.cat.say("section_set", section=self.cat.say(f"proctor_{action[2:]}"))
        elif action == "edit":
            raw = t.tx.answers(t.row.cipher, entry.id)
            rows = [[Button(self.cat.say("button_add_note"), f"x:{entry.id}:note")]]
            for key in content.collapse(flow, raw):
                if flow is not None and key in flow.steps:
                    label = render.shorten(flow.steps[key].label, 28)
                    rows.append([Button(label, f"x:{entry.id}:r:{key}")])
            t.say(self.cat.say("edit_choose"), rows)
        elif action == "note" or action.startswith("r:"):
            key = content.NOTE if action == "note" else action[2:]
            step = flow.steps.get(key) if flow else None
            if key != content.NOTE and step is None:
                t.out.toast = self.cat.say("stale_toast")
                return
            t.conv.pending = {"kind": "edit", "entry": entry.id, "key": key, "then": "edit"}
            t.conv.turn += 1
            if step is None:
                t.say(self.cat.say("note_prompt"))
                return
            choices = [Button(c.label, f"v:{t.conv.turn}:{c.value}") for c in step.choices]
            t.say(
                self.cat.say("edit_prompt", label=step.label, choices=bool(choices)),
                _choice_rows(choices),
            )
        else:
            t.out.toast = self.cat.say("stale_toast")

    # ---- progress ------------------------------------------------------------------------

    def _progress(self, t: Turn, weeks: int) -> None:
        progress.respond(t, self.cat, _zone(t.row.timezone), weeks)

    # ---- support, export, forget ---------------------------------------------------------

    def _support(self, t: Turn) -> None:
        support = self.cat.support
        t.say(self.cat.say("support", lines=support.lines, organisation=support.organisation))

    def _export(self, t: Turn) -> None:
        """Everything held about the person, as Markdown and JSON, made in memory."""
        rows = t.tx.entries(t.person.id, limit=-1)
        entries = []
        for entry in rows:
            raw = t.tx.answers(t.row.cipher, entry.id)
            times = t.tx.answer_times(entry.id)
            flow = self.cat.flows.get(entry.flow)
            answers = tuple(
                export.ExportAnswer(
                    step=key,
                    label=self._label(flow, key),
                    text=content.display(
                        flow.steps.get(content.base(key)) if flow else None, raw[key]
                    ),
                    value=raw[key],
                    answered_at=times[key],
                )
                for key in content.ordered(flow, raw)
            )
            entries.append(
                export.ExportEntry(
                    id=entry.id,
                    flow=entry.flow,
                    title=self._title(entry.flow),
                    status=entry.status,
                    episode_id=entry.episode_id,
                    created_at=entry.created_at,
                    updated_at=entry.updated_at or entry.created_at,
                    flagged=entry.flagged,
                    tags=tuple(content.tags(content.collapse(flow, raw))),
                    answers=answers,
                )
            )
        shares = [
            export.ExportShare(
                id=share.id,
                kind=share.kind,
                with_id=share.supervisor_id,
                with_name=t.tx.name_of(share.supervisor_id) or "",
                answers=tuple(share.answers),
                shared_at=share.created_at,
                expires_at=share.expires_at,
                # Past its expiry but not yet swept is expired all the same.
                ended=share.ended or (None if share.live(t.now) else "expired"),
                ended_at=share.ended_at or (None if share.live(t.now) else share.expires_at),
            )
            for share in sup_db.shares_by_worker(t.tx, t.person.id, -1, 0)
        ]
        schedules = self.nudges.export(t.tx, t.person.id)
        person = export.ExportPerson(t.person.id, t.row.timezone, t.row.created_at)
        generated = t.now
        md_name, json_name = export.filenames(generated)
        template = self.cat.export_template
        posts = self.team.export(t.tx, t.person.id)
        markdown = export.to_markdown(
            person,
            entries,
            generated,
            template,
            shares=shares,
            schedules=schedules,
            team_posts=posts,
        )
        data = export.to_json(
            person, entries, generated, shares=shares, schedules=schedules, team_posts=posts
        )
        t.out.documents = [Document(md_name, markdown), Document(json_name, data)]
        t.say(self.cat.say("export_ready", count=len(entries)))

    def _forget(self, t: Turn, stage: str) -> None:
        """Erase everything, after asking twice; the person's data key goes with their rows."""
        if stage == "ask":
            t.conv.pending = {"kind": "forget"}
            t.conv.turn += 1
            t.say(
                self.cat.say("forget_confirm", count=t.tx.count_entries(t.person.id)),
                [
                    [Button(self.cat.say("button_forget"), f"f:{t.conv.turn}:1")],
                    [Button(self.cat.say("button_keep_everything"), f"f:{t.conv.turn}:no")],
                ],
            )
        elif stage == "1" and (t.conv.pending or {}).get("kind") == "forget":
            t.conv.pending = {"kind": "forget_again"}
            t.conv.turn += 1
            t.say(
                self.cat.say("forget_really"),
                [
                    [Button(self.cat.say("button_forget_now"), f"f:{t.conv.turn}:2")],
                    [Button(self.cat.say("button_keep_everything"), f"f:{t.conv.turn}:no")],
                ],
            )
        elif stage == "2" and (t.conv.pending or {}).get("kind") == "forget_again":
            self.sup.before_forget(t)
            t.tx.forget_person(t.person.id)
            t.out.forgot = True
            t.out.replies.clear()
            t.say(self.cat.say("forgotten"))
        else:
            t.conv.pending = None
            t.say(self.cat.say("forget_kept"))
            self._ask_again(t)

    # ---- settings ------------------------------------------------------------------------

    def _welcome(self, t: Turn) -> None:
        t.tx.set_welcomed(t.person.id)
        t.say(self.cat.say("welcome", name=t.person.first_name, flows=self._flow_list()))
        t.conv.turn += 1
        t.say(
            self.cat.say("timezone_offer", timezone=t.row.timezone),
            [
                [Button(self.cat.say("button_tz_keep"), f"z:{t.conv.turn}:keep")],
                [Button(self.cat.say("button_tz_other"), f"z:{t.conv.turn}:list")],
            ],
        )

    def _settings(self, t: Turn) -> None:
        t.conv.turn += 1
        rows = [
            [Button(zone.replace("_", " "), f"z:{t.conv.turn}:{index}")]
            for index, zone in enumerate(self.cat.timezones)
        ]
        rows.append([Button(self.cat.say("button_tz_other"), f"z:{t.conv.turn}:other")])
        t.say(self.cat.say("settings", timezone=t.row.timezone), rows)

    def _timezone_button(self, t: Turn, value: str) -> None:
        if value == "keep":
            t.out.toast = self.cat.say("timezone_kept", timezone=t.row.timezone)
            self._ask_again(t)
        elif value == "list":
            self._settings(t)
        elif value == "other":
            t.conv.pending = {"kind": "timezone"}
            t.say(self.cat.say("timezone_ask"))
        elif value.isdigit() and int(value) < len(self.cat.timezones):
            self._set_timezone(t, self.cat.timezones[int(value)])
        else:
            self._stale(t)

    def _typed_timezone(self, t: Turn, text: str) -> None:
        zone = find_timezone(text)
        if zone is None:
            t.say(self.cat.say("timezone_unknown"))
            return
        t.conv.pending = None
        self._set_timezone(t, zone)

    def _set_timezone(self, t: Turn, zone: str) -> None:
        t.tx.set_timezone(t.person.id, zone)
        t.row = dataclasses.replace(t.row, timezone=zone)
        self.nudges.timezone_changed(t)
        t.out.toast = zone
        t.say(self.cat.say("timezone_set", timezone=zone))
        self._ask_again(t)

    # ---- helpers -------------------------------------------------------------------------

    def _flow_of(self, t: Turn) -> Flow:
        assert t.conv.flow is not None
        return self.cat.flows[t.conv.flow]

    def _step_of(self, t: Turn) -> Step:
        assert t.conv.step is not None
        return self._flow_of(t).steps[t.conv.step]

    def _context(self, flow: Flow, raw: dict[str, str], shorten: bool = False) -> dict[str, Any]:
        collapsed = content.collapse(flow, raw)
        answers = {
            b: render.shorten(text, SUMMARY_ANSWER_CHARS) if shorten else text
            for b, text in collapsed.items()
            if b in flow.steps
        }
        values = {
            s.id: raw[s.id] for s in flow.steps.values() if s.input == "choice" and s.id in raw
        }
        cautions = [
            s for s, v in values.items() if (c := flow.steps[s].choice(v)) is not None and c.caution
        ]
        steps = {s.id: {"label": s.label} for s in flow.steps.values()}
        return {
            "answers": answers,
            "values": values,
            "cautions": cautions,
            "steps": steps,
            "tags": content.tags(collapsed),
        }

    def _title(self, flow_name: str) -> str:
        flow = self.cat.flows.get(flow_name)
        return flow.title if flow else flow_name

    def _label(self, flow: Flow | None, key: str) -> str:
        b = content.base(key)
        if b == content.NOTE:
            return self.cat.say("note_label")
        step = flow.steps.get(b) if flow else None
        return step.label if step else b

    def _refresh_search(
        self, t: Turn, entry_id: int, flow_name: str, raw: dict[str, str] | None = None
    ) -> None:
        raw = t.tx.answers(t.row.cipher, entry_id) if raw is None else raw
        flow = self.cat.flows.get(flow_name)
        text = content.search_text(self._title(flow_name), flow, raw)
        t.tx.set_search_text(t.row.cipher, entry_id, text)

    def _zone_of(self, t: Turn) -> ZoneInfo:
        return _zone(t.row.timezone)

    def _when(self, t: Turn, moment: datetime) -> str:
        local = moment.astimezone(_zone(t.row.timezone))
        return local.strftime("%a %-d %b, %H:%M")

    def _entry_label(self, t: Turn, entry: EntryRow) -> str:
        local = entry.created_at.astimezone(_zone(t.row.timezone))
        return f"{self._title(entry.flow)} · {local.strftime('%-d %b %H:%M')}"

    def _flow_list(self) -> list[dict[str, str]]:
        shown = [f for f in self.cat.flows.values() if not f.together]
        return [{"command": f.command, "menu": f.menu} for f in shown]

    def _help(self) -> str:
        return self.cat.say("help", flows=self._flow_list())


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


def _page_data(page: int, query: str) -> str:
    """Callback data for a page of /entries: the query rides along, cut to fit 64 bytes."""
    prefix = f"e:{page}:"
    room = 64 - len(prefix.encode())
    cut = query.encode()[:room].decode("utf-8", "ignore")
    return prefix + cut


def _choice_rows(buttons: list[Button]) -> list[list[Button]]:
    """Short labels side by side (Yes / Not sure / No), longer ones one to a row for phones."""
    if not buttons:
        return []
    if len(buttons) <= 3 and all(len(b.label) <= 14 for b in buttons):
        return [buttons]
    return [[b] for b in buttons]


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/London")


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def find_timezone(text: str) -> str | None:
    """'europe/dublin', 'Europe/Dublin' or 'Dublin' → 'Europe/Dublin'."""
    wanted = "_".join(text.strip().split()).lower()
    if not wanted:
        return None
    names = _zone_names()
    if wanted in names:
        return names[wanted]
    matches = sorted(n for k, n in names.items() if k.rsplit("/", 1)[-1] == wanted and "/" in n)
    return matches[0] if matches else None
