"""The conversation engine: one input in, replies out, state saved in the same transaction.

Telegram, the console and the tests all call `Service.handle`. It loads the person's state, decides
what happens (the question sets' state machines decide where a flow goes next), writes every change
and commits before returning, so the reply is only ever sent for an answer already on disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flows import render
from flows.engine import END, Catalogue, Flow, Step
from flows.model import Button, Input, Outcome, Person, Reply, reply_to_json
from flows.store import Conversation, EntryRow, PersonRow, Store, Tx, now_utc

log = logging.getLogger(__name__)

BUILTIN_COMMANDS = ("start", "help", "settings", "cancel", "entries", "skip", "back")
NOTE_FLOW = "note"
NOTE_STEP = "text"
ENTRIES_PAGE = 8
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
        "note_title",
        "link_offer",
        "linked_toast",
        "entries_empty",
        "entries_list",
        "entry_heading",
        "entry_episode",
        "entry_gone",
        "saved_toast",
        "something_went_wrong",
    }
)


@dataclass(slots=True)
class _Turn:
    """One input being handled: who, where they are, and what we will say."""

    tx: Tx
    person: Person
    row: PersonRow
    conv: Conversation
    out: Outcome

    def say(self, html: str, buttons: list[list[Button]] | None = None) -> None:
        """Queue a message; one too long for Telegram is split, its buttons on the last part."""
        parts = (
            render.pack([html]) if render.telegram_length(html) > render.MESSAGE_LIMIT else [html]
        )
        for part in parts[:-1]:
            self.out.replies.append(Reply(part))
        self.out.replies.append(Reply(parts[-1], buttons or []))


class Service:
    def __init__(
        self, store: Store, catalogue: Catalogue, default_timezone: str = "Europe/London"
    ) -> None:
        clash = set(BUILTIN_COMMANDS) & {f.command for f in catalogue.flows.values()}
        if clash:
            from flows.engine import PromptError

            raise PromptError(
                f"a question set uses a built-in command: /{', /'.join(sorted(clash))}"
            )
        self.store = store
        self.cat = catalogue
        self.default_timezone = default_timezone

    async def handle(
        self,
        person: Person,
        inp: Input,
        update_id: int | None = None,
        outbox_chat: int | None = None,
    ) -> Outcome:
        """Handle one input; everything it changes is committed before this returns.

        With `outbox_chat`, the replies are saved in the same transaction too, so a crash before
        they are sent cannot leave the person waiting for a question that never comes.
        """
        outcome = await self.store.run(
            lambda tx: self._handle(tx, person, inp, update_id, outbox_chat)
        )
        if update_id is not None:
            self.store.marked.add(update_id)
        return outcome

    def _handle(
        self,
        tx: Tx,
        person: Person,
        inp: Input,
        update_id: int | None,
        outbox_chat: int | None,
    ) -> Outcome:
        row = tx.person(person.id, self.default_timezone)
        turn = _Turn(tx, person, row, tx.conversation(person.id), Outcome())
        if not row.welcomed:
            self._welcome(turn)
        if row.welcomed or inp.kind != "command" or inp.command != "start":
            self._dispatch(turn, inp)
        tx.save_conversation(turn.conv)
        if update_id is not None:
            tx.inbox_mark_handled(update_id)
        if outbox_chat is not None and turn.out.replies:
            turn.out.outbox_ids = tx.outbox_add(
                outbox_chat, [reply_to_json(r) for r in turn.out.replies]
            )
        return turn.out

    # ---- dispatch ------------------------------------------------------------------------

    def _dispatch(self, t: _Turn, inp: Input) -> None:
        if inp.kind == "button":
            self._button(t, inp.data)
            return
        if inp.kind == "edited":
            t.say(self.cat.say("edited"))
            return
        waiting_for = (t.conv.pending or {}).get("kind")
        if inp.kind == "text" and waiting_for == "timezone":
            self._typed_timezone(t, inp.text)
            return
        if inp.kind != "command" or inp.command != "cancel":
            t.conv.pending = None
        if inp.kind == "unsupported":
            t.say(self.cat.say("unsupported", what=inp.what, in_flow=t.conv.flow is not None))
            self._ask_again(t)
        elif inp.kind == "command":
            self._command(t, inp.command)
        else:
            self._text(t, inp.text)

    def _command(self, t: _Turn, command: str) -> None:
        flow = self.cat.by_command(command)
        if flow is not None:
            self._flow_command(t, flow)
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
        elif command == "entries":
            self._entries(t)
            if t.conv.flow:
                t.say(self.cat.say("still_in_flow", title=self._flow_of(t).title))
        elif command == "skip":
            self._skip(t)
        elif command == "back":
            self._back(t)
        else:
            t.say(self.cat.say("unknown_command", command=command))
            self._ask_again(t)

    def _text(self, t: _Turn, text: str) -> None:
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
        self._answer(t, text.strip())

    def _button(self, t: _Turn, data: str) -> None:
        kind, _, rest = data.partition(":")
        if kind == "o":
            self._open_entry(t, rest)
            return
        if kind == "l":
            self._link(t, rest)
            return
        turn_text, _, value = rest.partition(":")
        if not turn_text.isdigit() or int(turn_text) != t.conv.turn:
            self._stale(t)
            return
        t.out.clear_buttons = True
        pending = (t.conv.pending or {}).get("kind")
        if kind == "a" and t.conv.flow and pending is None:
            step = self._step_of(t)
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
        self._stale(t)

    # ---- flows ---------------------------------------------------------------------------

    def _flow_command(self, t: _Turn, flow: Flow) -> None:
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

    def _start_flow(self, t: _Turn, flow: Flow) -> None:
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
                since=now_utc() - LINK_WINDOW,
                statuses=("saved",),
            )
            if recent:
                intro += "\n\n" + self.cat.say("link_offer")
                buttons = [
                    [Button(self._entry_label(t, e), f"l:{entry_id}:{e.id}")] for e in recent
                ]
        t.say(intro, buttons)
        self._ask(t)

    def _ask(self, t: _Turn) -> None:
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
            shown = self._display(step, earlier)
            text += "\n\n" + self.cat.say("previous_answer", answer=render.shorten(shown, 600))
        rows = _choice_rows([Button(c.label, f"a:{t.conv.turn}:{c.value}") for c in step.choices])
        if step.optional:
            rows.append([Button(self.cat.say("skip_button"), f"a:{t.conv.turn}:skip")])
        t.say(text, rows)

    def _ask_again(self, t: _Turn) -> None:
        if t.conv.flow is not None:
            self._ask(t)

    def _answer(self, t: _Turn, value: str | None) -> None:
        """Save (or, when skipped, clear) the current step's answer, then move on."""
        flow, step = self._flow_of(t), self._step_of(t)
        assert t.conv.entry_id is not None
        if value is None:
            t.tx.delete_answer(t.conv.entry_id, step.id)
        else:
            t.tx.put_answer(t.row.cipher, t.conv.entry_id, step.id, value)
        following = flow.advance(step.id, value)
        t.conv.history.append(step.id)
        if following == END:
            self._complete(t, flow)
        else:
            t.conv.step = following
            self._ask(t)

    def _complete(self, t: _Turn, flow: Flow) -> None:
        entry_id = t.conv.entry_id
        assert entry_id is not None
        answers = t.tx.answers(t.row.cipher, entry_id)
        for step_id in set(answers) - set(t.conv.history):
            # An answer left on a branch the person went back from is not part of this entry.
            t.tx.delete_answer(entry_id, step_id)
            del answers[step_id]
        t.tx.set_entry_status(entry_id, "saved")
        summary = render.tidy(flow.summary.render(**self._context(flow, answers, shorten=True)))
        self._reset(t)
        for chunk in render.pack([summary, self.cat.say("saved")]):
            t.say(chunk)

    def _reset(self, t: _Turn) -> None:
        t.conv.flow = t.conv.step = None
        t.conv.entry_id = None
        t.conv.history, t.conv.pending = [], None

    def _skip(self, t: _Turn) -> None:
        if t.conv.flow is None:
            t.say(self.cat.say("nothing_to_skip"))
        elif not self._step_of(t).optional:
            t.say(self.cat.say("cannot_skip"))
            self._ask(t)
        else:
            self._answer(t, None)

    def _back(self, t: _Turn) -> None:
        if t.conv.flow is None:
            t.say(self.cat.say("nothing_to_go_back_to"))
            return
        if not t.conv.history:
            t.say(self.cat.say("back_at_start"))
        else:
            t.conv.step = t.conv.history.pop()
        self._ask(t)

    def _cancel(self, t: _Turn) -> None:
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

    def _cancel_choice(self, t: _Turn, value: str) -> None:
        t.conv.pending = None
        entry_id = t.conv.entry_id
        assert entry_id is not None
        title = self._flow_of(t).title
        if value == "keep":
            t.tx.set_entry_status(entry_id, "draft")
            self._reset(t)
            t.say(self.cat.say("cancelled_draft", title=title))
        elif value == "discard":
            t.tx.delete_entry(entry_id)
            self._reset(t)
            t.say(self.cat.say("cancelled_discarded", title=title))
        else:
            t.say(self.cat.say("carry_on"))
            self._ask(t)

    def _switch_choice(self, t: _Turn, value: str) -> None:
        target = self.cat.flows.get(str((t.conv.pending or {}).get("to")))
        t.conv.pending = None
        if value != "go" or target is None:
            t.say(self.cat.say("carry_on"))
            self._ask(t)
            return
        self._leave_as_draft(t)
        self._start_flow(t, target)

    def _leave_as_draft(self, t: _Turn) -> None:
        """Leaving a flow never loses words: anything answered stays as a draft."""
        entry_id = t.conv.entry_id
        if entry_id is None:
            return
        if t.tx.answers(t.row.cipher, entry_id):
            t.tx.set_entry_status(entry_id, "draft")
            t.say(self.cat.say("left_as_draft", title=self._flow_of(t).title))
        else:
            t.tx.delete_entry(entry_id)
        self._reset(t)

    def _stale(self, t: _Turn) -> None:
        t.out.toast = self.cat.say("stale_toast")
        t.out.clear_buttons = True
        if t.conv.flow is not None:
            t.conv.pending = None
            self._ask(t)
        else:
            t.say(self.cat.say("stale_no_flow"))

    def _link(self, t: _Turn, rest: str) -> None:
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

    def _note(self, t: _Turn, text: str) -> None:
        """Words sent outside a question set are kept as a note rather than lost."""
        if not text.strip():
            t.say(self.cat.say("empty_answer"))
            return
        entry_id = t.tx.create_entry(t.person.id, NOTE_FLOW, None)
        t.tx.put_answer(t.row.cipher, entry_id, NOTE_STEP, text.strip())
        t.tx.set_entry_status(entry_id, "saved")
        t.say(self.cat.say("note_saved", flows=self._flow_list()))

    def _entries(self, t: _Turn) -> None:
        entries = t.tx.entries(t.person.id, limit=ENTRIES_PAGE)
        if not entries:
            t.say(self.cat.say("entries_empty", flows=self._flow_list()))
            return
        items = []
        for number, entry in enumerate(entries, start=1):
            answers = t.tx.answers(t.row.cipher, entry.id)
            items.append(
                {
                    "number": number,
                    "when": self._when(t, entry.created_at),
                    "title": self._title(entry.flow),
                    "draft": entry.status == "draft",
                    "first_words": render.shorten(self._first_words(entry, answers), 60),
                }
            )
        buttons = [
            Button(str(i["number"]), f"o:{e.id}") for i, e in zip(items, entries, strict=True)
        ]
        rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
        t.say(self.cat.say("entries_list", items=items), rows)

    def _open_entry(self, t: _Turn, entry_text: str) -> None:
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
        episode = [
            e
            for e in t.tx.entries(t.person.id, limit=20, episode_id=entry.episode_id)
            if e.id != entry.id
        ]
        if episode:
            blocks.append(
                self.cat.say("entry_episode", others=[self._entry_label(t, e) for e in episode])
            )
        order = list(flow.steps) if flow else []
        for step_id in sorted(answers, key=lambda s: order.index(s) if s in order else len(order)):
            step = flow.steps.get(step_id) if flow else None
            label = step.label if step else ""
            shown = self._display(step, answers[step_id]) if step else answers[step_id]
            blocks.append(
                (f"<b>{render.escape(label)}</b>\n" if label else "") + render.escape(shown)
            )
        for chunk in render.pack(blocks):
            t.say(chunk)

    # ---- settings ------------------------------------------------------------------------

    def _welcome(self, t: _Turn) -> None:
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

    def _settings(self, t: _Turn) -> None:
        t.conv.turn += 1
        rows = [
            [Button(zone.replace("_", " "), f"z:{t.conv.turn}:{index}")]
            for index, zone in enumerate(self.cat.timezones)
        ]
        rows.append([Button(self.cat.say("button_tz_other"), f"z:{t.conv.turn}:other")])
        t.say(self.cat.say("settings", timezone=t.row.timezone), rows)

    def _timezone_button(self, t: _Turn, value: str) -> None:
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

    def _typed_timezone(self, t: _Turn, text: str) -> None:
        zone = find_timezone(text)
        if zone is None:
            t.say(self.cat.say("timezone_unknown"))
            return
        t.conv.pending = None
        self._set_timezone(t, zone)

    def _set_timezone(self, t: _Turn, zone: str) -> None:
        t.tx.set_timezone(t.person.id, zone)
        t.out.toast = zone
        t.say(self.cat.say("timezone_set", timezone=zone))
        self._ask_again(t)

    # ---- helpers -------------------------------------------------------------------------

    def _flow_of(self, t: _Turn) -> Flow:
        assert t.conv.flow is not None
        return self.cat.flows[t.conv.flow]

    def _step_of(self, t: _Turn) -> Step:
        assert t.conv.step is not None
        return self._flow_of(t).steps[t.conv.step]

    def _context(self, flow: Flow, raw: dict[str, str], shorten: bool = False) -> dict[str, Any]:
        answers: dict[str, str] = {}
        values: dict[str, str] = {}
        for step in flow.steps.values():
            if step.id not in raw:
                continue
            if step.input == "choice":
                values[step.id] = raw[step.id]
            shown = self._display(step, raw[step.id])
            answers[step.id] = render.shorten(shown, SUMMARY_ANSWER_CHARS) if shorten else shown
        cautions = [
            s for s, v in values.items() if (c := flow.steps[s].choice(v)) is not None and c.caution
        ]
        steps = {s.id: {"label": s.label} for s in flow.steps.values()}
        return {"answers": answers, "values": values, "cautions": cautions, "steps": steps}

    @staticmethod
    def _display(step: Step, stored: str) -> str:
        if step.input == "choice":
            choice = step.choice(stored)
            return choice.label if choice else stored
        return stored

    def _title(self, flow_name: str) -> str:
        if flow_name == NOTE_FLOW:
            return self.cat.say("note_title")
        flow = self.cat.flows.get(flow_name)
        return flow.title if flow else flow_name

    def _first_words(self, entry: EntryRow, answers: dict[str, str]) -> str:
        flow = self.cat.flows.get(entry.flow)
        if flow is None:
            return next(iter(answers.values()), "")
        for step in flow.steps.values():
            if step.id in answers and step.input == "text":
                return answers[step.id]
        for step in flow.steps.values():
            if step.id in answers:
                return f"{step.label}: {self._display(step, answers[step.id])}"
        return ""

    def _when(self, t: _Turn, moment: datetime) -> str:
        local = moment.astimezone(_zone(t.row.timezone))
        return local.strftime("%a %-d %b, %H:%M")

    def _entry_label(self, t: _Turn, entry: EntryRow) -> str:
        local = entry.created_at.astimezone(_zone(t.row.timezone))
        return f"{self._title(entry.flow)} · {local.strftime('%-d %b %H:%M')}"

    def _flow_list(self) -> list[dict[str, str]]:
        return [{"command": f.command, "menu": f.menu} for f in self.cat.flows.values()]

    def _help(self) -> str:
        return self.cat.say("help", flows=self._flow_list())


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
