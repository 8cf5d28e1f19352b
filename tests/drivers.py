"""Test drivers: act as people and groups towards a real PTB Application with an offline request
layer, and read back what the bot sent. The pytest fixtures that build these are in conftest.py."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telegram import Update

from bot.app import open_service
from bot.config import Config
from bot.limits import TelegramLimits
from bot.telegram_bot import build_application
from flows.app import App
from tests.offline import BOT_USER, Call, Person, RecordingRequest, update_ids

TOKEN = "123456:TEST-token"
_TAG = re.compile(r"<[^>]*>")


def plain(markup: str) -> str:
    return html.unescape(_TAG.sub("", markup))


@dataclass
class Harness:
    app: Any
    request: RecordingRequest
    service: App
    config: Config

    async def feed(self, update: dict[str, Any]) -> None:
        await self.app.process_update(Update.de_json(update, self.app.bot))


@dataclass
class Chat:
    """One person talking to the bot: send text, press buttons, read what came back."""

    bot: Harness
    person: Person = field(default_factory=Person)

    @property
    def chat_id(self) -> int:
        return self.person.user_id

    def _mine(self) -> list[Call]:
        return [
            c for c in self.bot.request.calls if str(c.params.get("chat_id")) == str(self.chat_id)
        ]

    def sent(self) -> list[Call]:
        return [c for c in self._mine() if c.method == "sendMessage"]

    def sent_texts(self) -> list[str]:
        return [str(c.params["text"]) for c in self.sent()]

    def read(self) -> list[str]:
        """Every message sent to this chat, as the person reads it (no markup)."""
        return [plain(t) for t in self.sent_texts()]

    async def _do(self, update: dict[str, Any]) -> list[str]:
        before = len(self.sent())
        await self.bot.feed(update)
        return [plain(str(c.params["text"])) for c in self.sent()[before:]]

    async def send(self, text: str) -> list[str]:
        return await self._do(self.person.text(text))

    async def send_update(self, update: dict[str, Any]) -> list[str]:
        return await self._do(update)

    def keyboard(self) -> tuple[int, list[tuple[str, str]]]:
        """(message_id, buttons) of the message that most recently got buttons (sent or edited)."""
        markups: dict[int, Any] = {}
        touched: list[int] = []
        sends = 0
        for call in self._mine():
            if call.method in {"sendMessage", "sendDocument", "sendPhoto"}:
                sends += 1
                message_id = sends
            elif call.method in {"editMessageText", "editMessageReplyMarkup"}:
                message_id = int(call.params["message_id"])
            else:
                continue
            markups[message_id] = call.params.get("reply_markup")
            touched.append(message_id)
        for message_id in reversed(touched):
            markup = markups[message_id]
            if markup and isinstance(markup, dict):
                rows = markup["inline_keyboard"]
                return message_id, [(b["text"], b["callback_data"]) for row in rows for b in row]
        return 0, []

    def messages(self) -> dict[int, tuple[str, list[tuple[str, str]]]]:
        """Every message of the bot's in this chat as it stands now (edits applied): message id
        → (plain text, [(label, callback data)])."""
        shown: dict[int, tuple[str, list[tuple[str, str]]]] = {}
        sends = 0
        for call in self._mine():
            if call.method in {"sendMessage", "sendDocument", "sendPhoto"}:
                sends += 1
                message_id = sends
                text = plain(str(call.params.get("text", call.params.get("caption", ""))))
            elif call.method == "editMessageText":
                message_id = int(call.params["message_id"])
                text = plain(str(call.params["text"]))
            elif call.method == "editMessageReplyMarkup":
                message_id = int(call.params["message_id"])
                text = shown.get(message_id, ("", []))[0]
            else:
                continue
            markup = call.params.get("reply_markup")
            rows = markup["inline_keyboard"] if isinstance(markup, dict) else []
            shown[message_id] = (
                text,
                [(b["text"], b["callback_data"]) for row in rows for b in row],
            )
        return shown

    async def press_under(self, words: str, label: str) -> list[str]:
        """Press `label` under the newest message containing `words`, wherever it is in the chat
        (a warning a few questions back, say)."""
        for message_id, (text, buttons) in sorted(self.messages().items(), reverse=True):
            if words in text:
                matches = [data for b, data in buttons if b == label]
                assert matches, f"no button {label!r} under {text!r}: {[b for b, _ in buttons]}"
                return await self._do(self.person.press(matches[0], message_id=message_id))
        raise AssertionError(f"no message with {words!r}")

    def edits(self) -> list[str]:
        """Plain text of every message the bot rewrote in this chat, in order."""
        return [plain(str(c.params["text"])) for c in self._mine() if c.method == "editMessageText"]

    def deleted(self) -> list[int]:
        return [int(c.params["message_id"]) for c in self._mine() if c.method == "deleteMessage"]

    def buttons(self) -> list[str]:
        return [label for label, _ in self.keyboard()[1]]

    async def press(self, label: str) -> list[str]:
        message_id, buttons = self.keyboard()
        matches = [data for text, data in buttons if text == label]
        assert matches, f"no button {label!r} in {[t for t, _ in buttons]}"
        return await self._do(self.person.press(matches[0], message_id=message_id))

    async def press_data(self, data: str, message_id: int = 1) -> list[str]:
        return await self._do(self.person.press(data, message_id=message_id))

    def summary_buttons(self) -> list[tuple[str, str]]:
        """(label, data) of the summaries offered in the newest keyboard (/summaries)."""
        return [(label, data) for label, data in self.keyboard()[1] if data.startswith("m:")]

    async def press_summary(self, n: int = 1) -> list[str]:
        """Press the n-th summary (newest first) that /summaries offers."""
        data = self.summary_buttons()[n - 1][1]  # two summaries may begin with the same words
        return await self._do(self.person.press(data, message_id=self.keyboard()[0]))

    def toasts(self) -> list[str]:
        return [
            str(c.params.get("text", ""))
            for c in self.bot.request.calls
            if c.method == "answerCallbackQuery"
        ]


@dataclass
class Group:
    """A Telegram group with the bot in it: people send commands, the bot may be removed, the
    group may become a supergroup; read what the bot posted and deleted there."""

    bot: Harness
    chat_id: int = -4001
    title: str = "Peer workers forum"
    kind: str = "group"

    def chat(self) -> dict[str, Any]:
        return {"id": self.chat_id, "type": self.kind, "title": self.title}

    def admin(self, person: Person, status: str = "administrator") -> None:
        """What getChatMember says about this person here from now on."""
        self.bot.request.responder.members[(self.chat_id, person.user_id)] = status

    async def send(self, person: Person, text: str) -> list[str]:
        before = len(self.sent())
        await self.bot.feed(person.in_group(self.chat(), text))
        return [plain(str(c.params["text"])) for c in self.sent()[before:]]

    async def bot_added(self, by: Person) -> None:
        """Someone adds the bot to the group (my_chat_member: left, now a member)."""
        bot_user = {k: v for k, v in BOT_USER.items() if k in {"id", "is_bot", "first_name"}}
        update = {
            "update_id": next(update_ids),
            "my_chat_member": {
                "chat": self.chat(),
                "from": by.user(),
                "date": 1,
                "old_chat_member": {"status": "left", "user": bot_user},
                "new_chat_member": {"status": "member", "user": bot_user},
            },
        }
        await self.bot.feed(update)

    async def bot_removed(self, by: Person, status: str = "kicked") -> None:
        """Someone removes the bot (my_chat_member: the bot is now kicked, or left)."""
        bot_user = {k: v for k, v in BOT_USER.items() if k in {"id", "is_bot", "first_name"}}
        old = {"status": "member", "user": bot_user}
        new: dict[str, Any] = {"status": status, "user": bot_user}
        if status == "kicked":
            new["until_date"] = 0
        update = {
            "update_id": next(update_ids),
            "my_chat_member": {
                "chat": self.chat(),
                "from": by.user(),
                "date": 1,
                "old_chat_member": old,
                "new_chat_member": new,
            },
        }
        await self.bot.feed(update)

    async def migrate(self, by: Person, new_chat_id: int) -> None:
        """The group becomes a supergroup: a service message in each chat, as Telegram sends."""
        old = self.chat()
        members = self.bot.request.responder.members
        for (chat, user), status in list(members.items()):
            if chat == self.chat_id:
                members[(new_chat_id, user)] = status
        await self.bot.feed(by.service(old, migrate_to_chat_id=new_chat_id))
        self.chat_id, self.kind = new_chat_id, "supergroup"
        await self.bot.feed(by.service(self.chat(), migrate_from_chat_id=old["id"]))

    def calls(self) -> list[Call]:
        return [
            c for c in self.bot.request.calls if str(c.params.get("chat_id")) == str(self.chat_id)
        ]

    def sent(self) -> list[Call]:
        return [c for c in self.calls() if c.method == "sendMessage"]

    def read(self) -> list[str]:
        return [plain(str(c.params["text"])) for c in self.sent()]

    def posts(self) -> list[str]:
        """Posts (protected) in this group, as members read them."""
        return [
            plain(str(c.params["text"])) for c in self.sent() if c.params.get("protect_content")
        ]

    def deleted(self) -> list[int]:
        return [int(c.params["message_id"]) for c in self.calls() if c.method == "deleteMessage"]


# ---- a worker and their supervisor ----------------------------------------------------------
# Alex (1001) is the worker, Sam (2002) supervises Alex, Jo (3003) is someone else.


def worker_chat(bot: Harness) -> Chat:
    return Chat(bot, Person(user_id=1001, first_name="Alex"))


def supervisor_chat(bot: Harness) -> Chat:
    return Chat(bot, Person(user_id=2002, first_name="Sam"))


def other_chat(bot: Harness) -> Chat:
    return Chat(bot, Person(user_id=3003, first_name="Jo"))


async def invite_code(worker: Chat) -> tuple[str, str]:
    """The worker makes an invite; returns (code, deep link)."""
    await worker.send("/supervisor")
    replies = await worker.press("Create an invite")
    text = replies[-1]
    code = re.search(r"/link ([A-Z2-7-]+)", text)
    url = re.search(r"https://t\.me/\S+", text)
    assert code and url, text
    return code.group(1), url.group(0)


async def link(worker: Chat, supervisor: Chat) -> None:
    """Invite → the supervisor confirms → the worker confirms."""
    code, _ = await invite_code(worker)
    await supervisor.send(f"/link {code}")
    await supervisor.press("Yes, link")
    await worker.press("Yes, link")


async def linked_pair(bot: Harness) -> tuple[Chat, Chat]:
    """Alex and Sam, linked through the invite flow: (worker, supervisor)."""
    worker, supervisor = worker_chat(bot), supervisor_chat(bot)
    await link(worker, supervisor)
    return worker, supervisor


def make_config(data_dir: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        "token": TOKEN,
        "api_base_url": "https://api.telegram.org/bot",
        "data_dir": data_dir,
        "key": None,
        "timezone": "Europe/London",
        "synchronous": "NORMAL",
    }
    values.update(overrides)
    return Config(**values)


def midday() -> datetime:
    """Today at 12:00 UTC: where test clocks start, so no test depends on the hour it is run
    (messages to another person wait for the end of their quiet hours, 21:00-08:00 by default)."""
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


class Daytime:
    """The real clock, moved to start at midday: time passes as usual (for tests that wait)."""

    def __init__(self) -> None:
        self.offset = datetime.now(UTC) - midday()

    def __call__(self) -> datetime:
        return datetime.now(UTC) - self.offset


class Clock:
    """A clock the test moves on by hand; the store (and so the engine) reads it."""

    def __init__(self) -> None:
        self.now = midday()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@contextlib.asynccontextmanager
async def running(
    config: Config, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[Harness]:
    """A real PTB Application over the offline request layer on `config`'s data directory (with
    `clock` as the store's clock); on the way out, every Bot API call it made must be valid."""
    service = await open_service(config)
    if clock is not None:
        service.store.clock = clock
    request = RecordingRequest()
    # A test talks far faster than any person: a private chat's one-a-second pace (Telegram's)
    # is lifted here; every other limit stays as in production.
    limits = TelegramLimits(chat_rate=1000.0)
    app = build_application(config, service, request=request, limits=limits)
    await app.initialize()
    try:
        yield Harness(app, request, service, config)
    finally:
        await app.shutdown()
        await service.store.close()
    request.assert_valid()
