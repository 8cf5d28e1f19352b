"""The console, in process (issue 18): buttons numbered across every message of an answer, so
the /moment link offer can be pressed; a typed answer to a text question is never a press; and
while it is open, reminders fall due and print in the chat, as on Telegram."""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
from collections.abc import AsyncIterator

from bot.console import run_console, to_input
from flows.kernel.model import Button, Input
from tests.drivers import Clock, Harness
from tests.test_nudges import START, move_to


@contextlib.asynccontextmanager
async def console(bot: Harness) -> AsyncIterator[Terminal]:
    """The console open on the test's engine; closed (with /quit) however the test ends."""
    terminal = Terminal()
    task = asyncio.create_task(run_console(bot.service, terminal, terminal.out))  # type: ignore[arg-type]
    try:
        yield terminal
    finally:
        terminal.lines.put("/quit\n")
        await asyncio.wait_for(task, 10)


class Terminal:
    """A person at the console: types a line, waits for the answer (the next prompt)."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.out = io.StringIO()

    def readline(self) -> str:
        return self.lines.get()

    def shown(self) -> str:
        return self.out.getvalue()

    async def type(self, line: str) -> str:
        before = self.shown()
        prompts = before.count("\n> ") + before.startswith("> ")
        self.lines.put(line + "\n")
        for _ in range(2000):
            now = self.shown()
            if now.count("\n> ") + now.startswith("> ") > prompts or "Bye for now" in now:
                return now[len(before) :]
            await asyncio.sleep(0.005)
        raise AssertionError(f"no answer to {line!r}: {self.shown()[-500:]}")

    async def until(self, words: str) -> None:
        for _ in range(2000):
            if words in self.shown():
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"never printed {words!r}: {self.shown()[-500:]}")


async def test_the_link_offer_can_be_pressed_and_a_typed_number_is_an_answer(
    bot: Harness, clock: Clock
) -> None:
    async with console(bot) as terminal:
        await in_the_moment(terminal)


async def in_the_moment(terminal: Terminal) -> None:
    await terminal.type("/start")
    await terminal.type("1")  # Yes, that's right: no question is waiting for words
    await terminal.type("/prepare")
    for answer in ["Growing up with a parent who was unwell", *["/skip"] * 6]:
        await terminal.type(answer)
    await terminal.type("What I'd keep to myself")
    assert "Saved to your journal" in await terminal.type("/skip")
    shown = await terminal.type("/moment")
    # The link offer and the first question's Skip, numbered across both messages.
    assert "[1] 1" in shown and "[2] Skip" in shown
    assert "Growing up with a parent who was unwell" in shown  # the offer, recognisable
    assert "[1] with its brackets presses a button" in shown  # a text question: say how
    shown = await terminal.type("[1]")
    assert "(Linked to Preparation" in shown
    shown = await terminal.type("2")  # the answer to "What are you about to share?"
    assert "Who are you about to share it with?" in shown and "Skipped" not in shown
    shown = await terminal.type("2")  # a choice question: a bare number presses
    assert "→ A colleague" in shown


async def test_reminders_print_in_the_console_while_it_is_open(bot: Harness, clock: Clock) -> None:
    clock.now = START
    async with console(bot) as terminal:
        await reminded(terminal, clock)


async def reminded(terminal: Terminal, clock: Clock) -> None:
    await terminal.type("/start")
    await terminal.type("1")
    await terminal.type("/supervision")
    await terminal.type("1")  # Set my next session
    await terminal.type("Fri 14:00")
    shown = await terminal.type("1")  # Just this once
    assert "Saved: supervision on Fri 4 Dec at 14:00." in shown
    move_to(clock, "2026-12-03 14:00")  # a day before
    await terminal.type("/help")  # the console looks again after each input
    await terminal.until("Your supervision is tomorrow at 14:00.")
    assert "[1] Get ready" in terminal.shown().split("Your supervision is tomorrow")[1]
    shown = await terminal.type("3")  # Not this time, pressed from the reminder
    assert shown.strip()


def test_a_bracketed_number_always_presses_and_a_bare_one_only_without_words() -> None:
    buttons = [Button("Yes", "a:1:yes"), Button("No", "a:1:no")]
    assert to_input("2\n", buttons, words=True) == Input(kind="text", text="2")
    assert to_input("[2]\n", buttons, words=True) == Input(kind="button", data="a:1:no")
    assert to_input("[2]\n", buttons) == Input(kind="button", data="a:1:no")
    assert to_input("[3]\n", buttons).kind == "text"
