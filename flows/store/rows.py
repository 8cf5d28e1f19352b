"""Rows every part shares: the person, where they are in a conversation, journal entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flows.kernel.crypto import Cipher


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(slots=True)
class Conversation:
    """Where a person is. Stored after every input, so a restart resumes at the same question."""

    person_id: int
    flow: str | None = None
    step: str | None = None
    entry_id: int | None = None
    turn: int = 0
    history: list[str] = field(default_factory=list)
    pending: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: int
    timezone: str
    welcomed: bool
    cipher: Cipher
    created_at: datetime
    name: str = ""  # their Telegram first name, as last seen: shown to people they link with


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    flow: str
    status: str
    episode_id: int
    created_at: datetime
    flagged: bool = False
    updated_at: datetime | None = None
    proctor: str | None = None  # the supervision pack section the worker chose, if they did
    superseded_at: datetime | None = None  # an earlier version of a plan, kept since then
