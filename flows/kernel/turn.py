"""One input being handled: who, where they are, and what we will say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.kernel import render
from flows.kernel.model import Button, Outcome, Person, Reply
from flows.store.rows import Conversation, PersonRow
from flows.store.unit import Unit


@dataclass(slots=True)
class Turn:
    """One input being handled: who, where they are, and what we will say."""

    tx: Unit
    person: Person
    row: PersonRow
    conv: Conversation
    out: Outcome
    now: datetime
    message_id: int | None = None
    support_entry: int | None = None  # free text was saved here that sounded distressed
    # Team groups where Telegram (asked by the bot layer just before) says the supervisor is admin.
    admin_in: frozenset[int] = frozenset()

    def say(self, html: str, buttons: list[list[Button]] | None = None) -> None:
        """Queue a message; one too long for Telegram is split, its buttons on the last part."""
        parts = (
            render.pack([html]) if render.telegram_length(html) > render.MESSAGE_LIMIT else [html]
        )
        for part in parts[:-1]:
            self.out.replies.append(Reply(part))
        self.out.replies.append(Reply(parts[-1], buttons or []))
