"""The local console chat: the same engine and database, buttons shown as numbered choices.

Every button of an answer is numbered, across all its messages (the link offer above a first
question as well as the question's Skip), and a reminder that arrives meanwhile numbers on from
there. A bare number presses a button, except when typed words would answer something (a text
question, a typed reply being waited on): then it is the answer, and `[2]` (with its brackets)
presses button 2. While the console is open it runs the same reminder scheduler as Telegram
(the engine's `due` and `next_wake`, with the same guards): reminders print in the chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO, cast

from bot.delivery import deliver
from flows.app import App
from flows.kernel import render
from flows.kernel.ids import number
from flows.kernel.model import Button, Input, Outcome, Person

CONSOLE_PERSON = Person(id=1, first_name="")
LOOK_AGAIN = 60.0  # seconds: the scheduler looks at least this often (a clock that jumps)
_BRACKETED = re.compile(r"^\[(\d{1,3})\]$")


class Screen:
    """What the console has shown: the buttons that can be pressed now, numbered from 1 across
    every message of the last answer, then on through any reminder printed since."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buttons: list[Button] = []

    def message(self, html: str, rows: list[list[Button]]) -> None:
        self.out.write("\n" + render.to_plain(html) + "\n")
        for button in (b for row in rows for b in row):
            self.buttons.append(button)
            self.out.write(f"  [{len(self.buttons)}] {button.label}\n")

    def show(self, outcome: Outcome, words: bool = False) -> list[Button]:
        """Print an answer; its buttons (if it says anything) become the ones to press."""
        if outcome.toast:
            self.out.write(f"  ({outcome.toast})\n")
        if outcome.replace is not None or outcome.replies or outcome.photos:
            self.buttons = []
        if outcome.replace is not None:  # the pressed message, as it reads now: first
            self.message(outcome.replace.html, outcome.replace.buttons)
        for reply in outcome.replies:
            self.message(reply.html, reply.buttons)
        for chat_id, reply in outcome.others:
            # The console has one person; what would reach someone else is shown, not lost.
            if reply.delete_message is None:
                self.out.write(f"\n  (to {chat_id}) " + render.to_plain(reply.html) + "\n")
        for document in outcome.documents:
            path = Path.cwd() / document.filename
            path.write_bytes(document.content)
            self.out.write(f"  (saved {path})\n")
        for photo in outcome.photos:
            path = Path.cwd() / photo.filename
            path.write_bytes(photo.content)
            self.out.write(f"\n  (picture saved as {path})\n")
            self.message(photo.caption, photo.buttons)
        if words and self.buttons:
            self.out.write(
                "  (your words answer the question; [1] with its brackets presses a button)\n"
            )
        self.out.flush()
        return self.buttons


def show(outcome: Outcome, out: TextIO) -> list[Button]:
    """Print the replies; return their buttons, numbered from 1 across all of them."""
    return Screen(out).show(outcome)


def to_input(line: str, buttons: list[Button], words: bool = False) -> Input:
    """A typed line: `[n]` presses button n; a bare n does too unless `words` (typed words
    answer something now); anything else is words or a command."""
    stripped = line.strip()
    bracketed = _BRACKETED.match(stripped)
    pick = number(bracketed.group(1) if bracketed else stripped, 3)  # ASCII digits only
    if pick is not None and 1 <= pick <= len(buttons) and (bracketed or not words):
        return Input(kind="button", data=buttons[pick - 1].data)
    return Input.from_text(line.rstrip("\n"))


class ConsoleBot:
    """Stands in for Telegram's Bot when delivering to the console: prints what it would send."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.sent = 0

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Any:
        markup = kwargs.get("reply_markup")
        rows = [
            [Button(b.text, str(b.callback_data)) for b in row]
            for row in (markup.inline_keyboard if markup is not None else ())
        ]
        self.screen.message(text, rows)
        self.screen.out.flush()
        self.sent += 1
        return SimpleNamespace(message_id=self.sent)

    async def edit_message_text(self, **kwargs: Any) -> None:
        self.screen.message(str(kwargs.get("text", "")), [])

    async def delete_message(self, **kwargs: Any) -> None:
        return None


class Reminders:
    """The reminder scheduler while the console is open: wakes when the engine says something
    next falls due (or every minute), moves what is due into the outbox and prints the console
    person's; anyone else's (a shared database) stays in the outbox for Telegram."""

    def __init__(self, service: App, screen: Screen) -> None:
        self.service = service
        self.bot = ConsoleBot(screen)
        self.next: datetime | None = None
        self._poke = asyncio.Event()
        self._stopping = False

    def poke(self) -> None:
        """Something changed (a session set, a setting): look again now."""
        self._poke.set()

    async def run_due(self) -> int:
        rows = await self.service.due()
        mine = [row for row in rows if row[1] == CONSOLE_PERSON.id]
        others = [row[0] for row in rows if row[1] != CONSOLE_PERSON.id]
        if others:
            self.service.store.sending_done(others)
        if mine:
            await deliver(cast("Any", self.bot), self.service, mine)
            await self.service.store.flush_sent()
        self.next = await self.service.next_wake()
        return len(mine)

    def stop(self) -> None:
        """Finish what it is doing (never cut off mid-transaction), then end."""
        self._stopping = True
        self._poke.set()

    async def run(self) -> None:
        while not self._stopping:
            await self.run_due()
            delay = LOOK_AGAIN
            if self.next is not None:
                delay = min(delay, max(0.0, (self.next - self.service.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), delay)
            if not self._stopping:
                self._poke.clear()


async def run_console(service: App, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """Read lines until end of input or /quit. A number picks a button (see the module notes);
    reminders print as they fall due."""
    stdout.write(
        "CoReflect console – type /start to begin, a number to press a button, /quit to leave.\n"
    )
    screen = Screen(stdout)
    reminders = Reminders(service, screen)
    scheduler = asyncio.create_task(reminders.run(), name="console-reminders")
    loop = asyncio.get_running_loop()
    words = False
    try:
        while True:
            stdout.write("> ")
            stdout.flush()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line or line.strip() in {"/quit", "/exit"}:
                stdout.write("\nBye for now.\n")
                return
            inp = to_input(line, screen.buttons, words)
            outcome = await service.handle(CONSOLE_PERSON, inp)
            words = await service.expects_words(CONSOLE_PERSON.id)
            screen.show(outcome, words)
            reminders.poke()  # a session set or moved, a reminder answered: look again
    finally:
        reminders.stop()
        await scheduler
