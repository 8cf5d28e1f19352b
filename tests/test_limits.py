"""Sending under Telegram's limits (bot/limits.py): replies go before bulk, a 429 is waited out
and tried again, and only calls that put something in a chat are counted."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.error import RetryAfter

from bot.limits import TelegramLimits, bulk, counted


class Recorder:
    def __init__(self, refuse_first: int = 0) -> None:
        self.order: list[str] = []
        self.refuse = refuse_first

    async def call(self, name: str) -> dict[str, Any]:
        if self.refuse:
            self.refuse -= 1
            raise RetryAfter(0)
        self.order.append(name)
        return {"ok": name}


async def send(limits: TelegramLimits, recorder: Recorder, name: str, chat: int) -> Any:
    return await limits.process_request(
        recorder.call, (name,), {}, "sendMessage", {"chat_id": chat}, None
    )


async def test_replies_go_before_bulk_already_waiting() -> None:
    limits = TelegramLimits(overall_rate=200.0, overall_burst=2)
    recorder = Recorder()

    async def reminders() -> None:
        with bulk():
            await asyncio.gather(*(send(limits, recorder, f"bulk{n}", 100 + n) for n in range(30)))

    sending = asyncio.create_task(reminders())
    while len(recorder.order) < 3:
        await asyncio.sleep(0.001)
    await asyncio.gather(*(send(limits, recorder, f"reply{n}", 900 + n) for n in range(5)))
    assert len([n for n in recorder.order if n.startswith("bulk")]) < 30  # replies overtook
    await sending
    assert len(recorder.order) == 35  # and every reminder still went


async def test_a_429_is_waited_out_and_nothing_is_lost() -> None:
    limits = TelegramLimits()
    recorder = Recorder(refuse_first=2)
    assert await send(limits, recorder, "hello", 5) == {"ok": "hello"}
    assert recorder.order == ["hello"] and limits.retried == 2


async def test_only_what_reaches_a_chat_is_counted() -> None:
    assert counted("sendMessage") and counted("editMessageText") and counted("sendDocument")
    assert not any(
        counted(m) for m in ("answerCallbackQuery", "getChatMember", "deleteMessage", "getMe")
    )
    limits = TelegramLimits()
    await send(limits, Recorder(), "x", -4001)
    assert -4001 in limits.groups and -4001 not in limits.chats
