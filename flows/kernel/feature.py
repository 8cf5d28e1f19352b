"""What a feature is, and the dispatcher that routes a person's input to the feature that owns it.

A `Feature` is a value: its name, the commands it answers, the button prefixes it owns, the
pending-input kinds it waits on, and the hooks it fills. The `Dispatcher` is built once from a
tuple of features (see `flows.app`); it derives every list from them and refuses to start on a
clash, naming both owners. Nothing here knows any feature by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flows.kernel import allowance
from flows.kernel.ids import number
from flows.kernel.model import GroupEvent, Input, Outcome, Person, Reply, Voice
from flows.kernel.turn import Turn, msg
from flows.questions.catalogue import Catalogue
from flows.store.unit import Unit

Handler = Callable[[Turn, str], None]


class FeatureClash(Exception):
    """Two features claim the same command, button prefix or pending kind."""


@dataclass(frozen=True, slots=True)
class Guard:
    """How a feature vouches for a message of its own waiting in the outbox (a summary, a team
    post, a reminder): checked just before it is sent, and told the message id it got."""

    live: Callable[[Unit, int, int, str, datetime], bool]  # (tx, id, chat, html, now)
    sent: Callable[[Unit, int, int, int, datetime], bool] | None = None  # False: delete it again
    refused: Callable[[Unit, Outcome, int, int, datetime], None] | None = None  # Telegram said no


@dataclass(frozen=True, slots=True)
class Feature:
    """One thing a person can do, and everything the rest of the engine needs to know of it."""

    name: str
    check: Callable[[Catalogue], None] | None = None  # at start-up: can it work with prompts/?
    commands: Mapping[str, Handler] = field(default_factory=dict)  # /command → handler(t, args)
    menu: tuple[str, ...] = ()  # its commands in Telegram's command menu, in order
    menu_first: tuple[str, ...] = ()  # commands shown at the very top, before the question sets
    # Commands added to the menu of someone who supervises (a per-chat menu, set once they do)
    supervisor_menu: tuple[str, ...] = ()
    deep_links: Mapping[str, Handler] = field(default_factory=dict)  # /start <prefix>…
    # Its deep links (or "/command"s, given with words) that greet someone new themselves, in
    # place of the welcome: an invite link, or `/link CODE` typed
    greets: frozenset[str] = frozenset()
    # Buttons that carry their own ids, each checked against the person pressing: prefix → (t, rest)
    buttons: Mapping[str, Handler] = field(default_factory=dict)
    # Buttons valid only for the current turn ("prefix:turn:value"): prefix → (t, value)
    turn_buttons: Mapping[str, Handler] = field(default_factory=dict)
    pending: frozenset[str] = frozenset()  # the pending kinds it sets and answers
    typed: Mapping[str, Handler] = field(default_factory=dict)  # pending kind → (t, text)
    interrupted: Mapping[str, Callable[[Turn], None]] = field(default_factory=dict)
    text: Callable[[Turn, str], bool] | None = None  # typed words with nothing pending
    voice: Callable[[Turn, Voice], bool] | None = None  # a voice note (nothing pending now)
    dynamic_command: Callable[[Turn, str, str], bool] | None = None  # commands from prompts/
    edited: Callable[[Turn, Input], None] | None = None  # an edited message
    resume: Callable[[Turn], None] | None = None  # show where they are again
    welcome: Callable[[Turn], None] | None = None  # first contact
    after: Callable[[Turn], None] | None = None  # at the end of every turn
    completed: Callable[[Turn, int, str], None] | None = None  # (t, entry id, question set)
    timezone_changed: Callable[[Turn], None] | None = None
    before_forget: Callable[[Turn], None] | None = None
    export: Callable[[Unit, int, datetime], dict[str, Any]] | None = None  # part of /export
    sweep: Callable[[Unit, Outcome, datetime], None] | None = None  # periodic upkeep
    # Before anyone new is stored: an Outcome refuses them (nothing of theirs is kept), None admits
    door: Callable[[Unit, Person, Input, datetime], Outcome | None] | None = None
    # In the periodic upkeep: people whose everything is now erased as /forget would
    erasures: Callable[[Unit, Outcome, datetime], list[int]] | None = None
    due: Callable[[Unit, datetime], list[tuple[int, int, Reply]]] | None = None  # into outbox
    next_wake: Callable[[Unit], datetime | None] | None = None
    group_commands: tuple[str, ...] = ()  # commands it answers in group chats
    group: Callable[[Unit, Person, GroupEvent, datetime], Outcome] | None = None
    strays: Callable[[Unit, datetime], list[int]] | None = None  # group chats to leave
    # Buttons that need Telegram asked first (is this supervisor still a group's admin?)
    admin_check_prefixes: tuple[str, ...] = ()
    admin_checks: Callable[[Unit, int, Input], list[tuple[int, int]]] | None = None
    guards: Mapping[str, Guard] = field(default_factory=dict)  # outbox guard kind → Guard
    extends: Mapping[str, Callable[..., Any]] = field(default_factory=dict)  # see Turn.also
    storage_bytes: int | None = None  # the most one person may store (flows/kernel/allowance.py)


def _claim(seen: dict[str, str], what: str, key: str, owner: str) -> None:
    if key in seen and seen[key] != owner:
        raise FeatureClash(f"{what} {key!r} is claimed by both {seen[key]} and {owner}")
    seen[key] = owner


class Dispatcher:
    """Routes one input to the feature that owns it; built once from the app's features."""

    def __init__(self, features: tuple[Feature, ...]) -> None:
        self.features = features
        owners: dict[str, dict[str, str]] = {}
        for f in features:
            for what, keys in (
                ("command", [*f.commands, *f.group_commands]),
                ("deep link", list(f.deep_links)),
                ("button prefix", [*f.buttons, *f.turn_buttons]),
                ("pending kind", [*f.pending, *f.typed, *f.interrupted]),
                ("outbox guard", list(f.guards)),
                ("group chat answerer", ["group"] if f.group else []),
            ):
                seen = owners.setdefault(what, {})
                for key in dict.fromkeys(keys):
                    _claim(seen, what, key, f.name)
            for key in f.buttons:
                if key in f.turn_buttons:
                    raise FeatureClash(f"button prefix {key!r} is claimed twice by {f.name}")
        self.commands: dict[str, Handler] = {c: h for f in features for c, h in f.commands.items()}
        self.deep_links = {p: h for f in features for p, h in f.deep_links.items()}
        greets = [p for f in features for p in f.greets]
        self.greeting_links = tuple(p for p in greets if not p.startswith("/"))
        self.greeting_commands = frozenset(p for p in greets if p.startswith("/"))
        self.buttons = {p: h for f in features for p, h in f.buttons.items()}
        self.turn_buttons = {p: h for f in features for p, h in f.turn_buttons.items()}
        self.typed = {k: h for f in features for k, h in f.typed.items()}
        self.interrupted = {k: h for f in features for k, h in f.interrupted.items()}
        self.guards = {k: g for f in features for k, g in f.guards.items()}
        self.menu = tuple(c for f in features for c in f.menu)
        self.menu_first = tuple(c for f in features for c in f.menu_first)
        self.supervisor_menu = tuple(c for f in features for c in f.supervisor_menu)
        self.group_commands = tuple(c for f in features for c in f.group_commands)
        self.admin_check_prefixes = tuple(p for f in features for p in f.admin_check_prefixes)
        self._hooks: dict[str, list[Any]] = {}
        self._extensions: dict[str, list[Callable[..., Any]]] = {}
        for f in features:
            for point, hook in f.extends.items():
                self._extensions.setdefault(point, []).append(hook)

    def hooks(self, name: str) -> list[Any]:
        """Every feature's hook `name` (a field of Feature), in the app's order. Gathered once
        per name: several are asked for on every input."""
        found = self._hooks.get(name)
        if found is None:
            found = self._hooks[name] = [
                h for f in self.features if (h := getattr(f, name)) is not None
            ]
        return found

    def extensions(self, point: str) -> list[Callable[..., Any]]:
        return self._extensions.get(point, [])

    # ---- routing -------------------------------------------------------------------------

    def dispatch(self, t: Turn, inp: Input) -> None:
        if inp.kind == "button":
            self.button(t, inp.data)
            return
        if inp.kind == "edited":
            for edited in self.hooks("edited"):
                edited(t, inp)
            return
        if inp.kind == "text" and not allowance.typed_fits(t, inp.text):
            return  # far past their storage allowance: nothing typed is kept, nothing changes
        waiting_for = (t.conv.pending or {}).get("kind")
        cancelling = inp.kind == "command" and inp.command == "cancel"
        if inp.kind == "text" and waiting_for in self.typed:
            self.typed[waiting_for](t, inp.text)
            return
        if waiting_for in self.interrupted and not cancelling:
            self.interrupted[waiting_for](t)
        if not cancelling:
            t.conv.pending = None
        if inp.kind == "unsupported":
            t.say(msg("unsupported", what=inp.what, in_flow=t.conv.flow is not None))
            t.resume()
        elif inp.kind == "voice" and inp.voice is not None:
            self.voice(t, inp.voice)
        elif inp.kind == "command":
            self.command(t, inp.command, inp.args)
        else:
            for hook in self.hooks("text"):
                if hook(t, inp.text):
                    return

    def voice(self, t: Turn, voice: Voice) -> None:
        """A voice note: too big to keep (nothing of it kept), or kept by whoever takes it."""
        if voice.too_big_mb:
            t.say(msg("voice_too_big", mb=voice.too_big_mb))
            t.resume()
            return
        if not allowance.voice_fits(t, voice):  # past their storage allowance: nothing kept
            return
        for hook in self.hooks("voice"):
            if hook(t, voice):
                return
        t.say(msg("unsupported", what="", in_flow=t.conv.flow is not None))
        t.resume()

    def command(self, t: Turn, command: str, args: str = "") -> None:
        if command == "start":
            for prefix, deep in self.deep_links.items():
                if args.startswith(prefix):
                    deep(t, args.removeprefix(prefix))
                    return
        handler = self.commands.get(command)
        if handler is not None:
            handler(t, args)
            return
        for dynamic in self.hooks("dynamic_command"):
            if dynamic(t, command, args):
                return
        t.say(msg("unknown_command", command=command))
        t.resume()

    def button(self, t: Turn, data: str) -> None:
        kind, _, rest = data.partition(":")
        handler = self.buttons.get(kind)
        if handler is not None:
            handler(t, rest)
            return
        turn_text, _, value = rest.partition(":")
        on_turn = self.turn_buttons.get(kind)
        if on_turn is None or number(turn_text) != t.conv.turn:
            t.stale()
            return
        t.out.clear_buttons = True
        on_turn(t, value)

    def resume(self, t: Turn) -> None:
        for resume in self.hooks("resume"):
            resume(t)
