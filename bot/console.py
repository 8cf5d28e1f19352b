"""The local console chat: the same engine and database, buttons shown as numbered choices."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from flows.app import App
from flows.kernel import render
from flows.kernel.ids import number
from flows.kernel.model import Button, Input, Outcome, Person

CONSOLE_PERSON = Person(id=1, first_name="")


def show(outcome: Outcome, out: TextIO) -> list[Button]:
    """Print the replies; return the buttons of the last message that had any, numbered from 1."""
    buttons: list[Button] = []
    if outcome.toast:
        out.write(f"  ({outcome.toast})\n")
    for reply in outcome.replies:
        out.write("\n" + render.to_plain(reply.html) + "\n")
        flat = [b for row in reply.buttons for b in row]
        if flat:
            buttons = flat
            for number, button in enumerate(flat, start=1):
                out.write(f"  [{number}] {button.label}\n")
    if outcome.replace is not None:
        out.write("\n" + render.to_plain(outcome.replace.html) + "\n")
        flat = [b for row in outcome.replace.buttons for b in row]
        if flat:
            buttons = flat
            for number, button in enumerate(flat, start=1):
                out.write(f"  [{number}] {button.label}\n")
    for chat_id, reply in outcome.others:
        # The console has one person; what would reach someone else is shown, not lost.
        if reply.delete_message is None:
            out.write(f"\n  (to {chat_id}) " + render.to_plain(reply.html) + "\n")
    for document in outcome.documents:
        path = Path.cwd() / document.filename
        path.write_bytes(document.content)
        out.write(f"  (saved {path})\n")
    for photo in outcome.photos:
        path = Path.cwd() / photo.filename
        path.write_bytes(photo.content)
        out.write(f"\n  (picture saved as {path})\n")
        if photo.caption:
            out.write(render.to_plain(photo.caption) + "\n")
        flat = [b for row in photo.buttons for b in row]
        if flat:
            buttons = flat
            for number, button in enumerate(flat, start=1):
                out.write(f"  [{number}] {button.label}\n")
    out.flush()
    return buttons


def to_input(line: str, buttons: list[Button]) -> Input:
    pick = number(line.strip(), 3)  # ASCII digits only: '²' is words, not a button
    if pick is not None and 1 <= pick <= len(buttons):
        return Input(kind="button", data=buttons[pick - 1].data)
    return Input.from_text(line.rstrip("\n"))


async def run_console(service: App, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """Read lines until end of input or /quit. A number picks a button from the last message."""
    stdout.write(
        "CoReflect console – type /start to begin, a number to press a button, /quit to leave.\n"
    )
    buttons: list[Button] = []
    loop = asyncio.get_running_loop()
    while True:
        stdout.write("> ")
        stdout.flush()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line or line.strip() in {"/quit", "/exit"}:
            stdout.write("\nBye for now.\n")
            return
        outcome = await service.handle(CONSOLE_PERSON, to_input(line, buttons))
        shown = show(outcome, stdout)
        if shown or outcome.replies or outcome.photos:
            buttons = shown
