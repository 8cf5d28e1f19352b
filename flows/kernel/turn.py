"""One input being handled: who, where they are, and what we will say.

Also the wording in force: the catalogue (locale) of the person being answered, set for the length
of one unit of work by the engine, so code that has no `Turn` (a reminder being rendered, a
summary expiring) still speaks in the right words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.kernel import render
from flows.kernel.model import Button, Outcome, Person, Reply
from flows.questions import answers
from flows.questions.catalogue import Catalogue
from flows.questions.sets import Flow, Step
from flows.store.rows import Conversation, EntryRow, PersonRow
from flows.store.unit import Unit


class Desk(Protocol):
    """What a turn may ask of the dispatcher (flows.kernel.feature.Dispatcher is one)."""

    def resume(self, t: Turn) -> None: ...
    def command(self, t: Turn, command: str, args: str = "") -> None: ...
    def hooks(self, name: str) -> list[Any]: ...
    def extensions(self, point: str) -> list[Callable[..., Any]]: ...


CONFIRM = "confirm"  # the pending kind of an "are you sure?" (see Turn.confirmed)

_WORDING: ContextVar[Catalogue | None] = ContextVar("coreflect_wording", default=None)


def wording() -> Catalogue:
    """The catalogue in force for this unit of work (see `speaking`)."""
    cat = _WORDING.get()
    assert cat is not None, "wording() outside a unit of work"
    return cat


def msg(message: str, /, **context: Any) -> str:
    """A message from the catalogue in force, rendered."""
    return wording().say(message, **context)


@contextmanager
def speaking(cat: Catalogue) -> Iterator[None]:
    """Use `cat`'s wording until the block ends (it runs on the database's thread)."""
    token = _WORDING.set(cat)
    try:
        yield
    finally:
        _WORDING.reset(token)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/London")


def name_of(tx: Unit, person_id: int) -> str:
    """Someone's first name as last seen, or a kind stand-in."""
    return tx.name_of(person_id) or msg("someone")


def title_of(flow_name: str) -> str:
    flow = wording().flows.get(flow_name)
    return flow.title if flow else flow_name


def label_of(flow: Flow | None, key: str) -> str:
    """The heading of an answer: its step's label, or "Note" for a note added later."""
    b = answers.base(key)
    if b == answers.NOTE:
        return msg("note_label")
    step = flow.steps.get(b) if flow else None
    return step.label if step else b


def flow_list() -> list[dict[str, str]]:
    """The question sets a person can start, for /help and the welcome."""
    shown = [f for f in wording().flows.values() if not f.together]
    return [{"command": f.command, "menu": f.menu} for f in shown]


@dataclass(slots=True)
class Turn:
    """One input being handled: who, where they are, and what we will say."""

    tx: Unit
    person: Person
    row: PersonRow
    conv: Conversation
    out: Outcome
    now: datetime
    desk: Desk
    message_id: int | None = None
    support_entry: int | None = None  # free text was saved here that sounded distressed
    support_level: int = 0  # how it sounded: 1 distressed, 2 acute (see Support.concern)
    support_at: int = 0  # where in the replies the support line goes: straight after the words
    # Team groups where Telegram (asked by the bot layer just before) says the supervisor is admin.
    admin_in: frozenset[int] = frozenset()
    bot_username: str | None = None  # from getMe: makes invite codes into links
    first_contact: bool = False  # the person's very first input (they were just welcomed)
    deep_link: str = ""  # a /start deep link whose feature greets someone new itself ("link_ABCD…")

    @property
    def cat(self) -> Catalogue:
        return wording()

    def say(self, html: str, buttons: list[list[Button]] | None = None) -> None:
        """Queue a message; one too long for Telegram is split, its buttons on the last part."""
        parts = (
            render.pack([html]) if render.telegram_length(html) > render.MESSAGE_LIMIT else [html]
        )
        for part in parts[:-1]:
            self.out.replies.append(Reply(part))
        self.out.replies.append(Reply(parts[-1], buttons or []))

    # ---- what every feature needs --------------------------------------------------------

    @property
    def flow(self) -> Flow:
        """The question set the person is in (only while they are in one)."""
        assert self.conv.flow is not None
        return wording().flows[self.conv.flow]

    @property
    def step(self) -> Step:
        assert self.conv.step is not None
        return self.flow.steps[self.conv.step]

    def when(self, moment: datetime) -> str:
        return moment.astimezone(zone(self.row.timezone)).strftime("%a %-d %b, %H:%M")

    def entry_label(self, entry: EntryRow) -> str:
        local = entry.created_at.astimezone(zone(self.row.timezone))
        return f"{title_of(entry.flow)} · {local.strftime('%-d %b %H:%M')}"

    def recognisable(self, entry: EntryRow) -> dict[str, Any]:
        """What picks an entry out in a list, as /entries shows it: when, its set, first words."""
        flow, raw = wording().flows.get(entry.flow), self.tx.answers(self.row.cipher, entry.id)
        return {
            "when": self.when(entry.created_at),
            "title": title_of(entry.flow),
            "with": answers.in_list(flow, raw),
            "first_words": render.shorten(answers.first_words(flow, raw), 60),
        }

    def picker(
        self, heading: str, found: list[tuple[dict[str, Any], str]], start: int = 1
    ) -> tuple[str, list[list[Button]]]:
        """A list to pick from (entries, episodes): each item recognisable by its first words
        and dates (see `recognisable`), numbered, with one number button each, in one row."""
        items = [{"number": n, **item} for n, (item, _) in enumerate(found, start=start)]
        buttons = [Button(str(n), data) for n, (_, data) in enumerate(found, start=start)]
        text = heading + "\n\n" + msg("picker_list", items=items)
        return text, [buttons] if buttons else []

    def name_of(self, person_id: int) -> str:
        return name_of(self.tx, person_id)

    def not_found(self) -> None:
        """A button naming something that is not (or no longer) this person's."""
        self.out.toast = msg("not_found")

    def asking_to_confirm(self, action: str) -> None:
        """An "are you sure?" about `action` (say "x:12:delete") is on its way: only a yes
        pressed while it is the last thing asked (see `confirmed`) goes ahead."""
        self.conv.pending = {"kind": CONFIRM, "action": action}

    def confirmed(self, action: str) -> bool:
        """Whether the yes just pressed answers the "are you sure?" asked about `action`; a
        yes forged or pressed out of turn does not (ask again instead)."""
        pending = self.conv.pending or {}
        if pending.get("kind") == CONFIRM and pending.get("action") == action:
            self.conv.pending = None
            return True
        return False

    def resume(self) -> None:
        """Show the question they were on again, if they are in a question set."""
        self.desk.resume(self)

    def stale(self) -> None:
        """A button from an earlier moment: say so, and put them back where they are."""
        self.out.toast = msg("stale_toast")
        self.out.clear_buttons = True
        if self.conv.flow is not None:
            self.conv.pending = None
            self.resume()
        else:
            self.say(msg("stale_no_flow"))

    def still_in_flow(self) -> None:
        """After a command answered in the middle of a question set: where they still are."""
        if self.conv.flow:
            self.say(msg("still_in_flow", title=self.flow.title))

    def command(self, command: str, args: str = "") -> None:
        """Run a command as if they had typed it (a reminder's "Prepare now", say)."""
        self.desk.command(self, command, args)

    def also(self, point: str) -> list[Callable[..., Any]]:
        """What other features contribute at `point`, an extension point a feature names."""
        return self.desk.extensions(point)
