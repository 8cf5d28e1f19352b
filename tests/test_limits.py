"""Sending under Telegram's limits (bot/limits.py): replies go before bulk, a 429 is waited out
and tried again, and only calls that put something in a chat are counted."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram.error import RetryAfter

from bot.limits import OVERALL_BURST, TelegramLimits, bulk, counted
from tests.fakeapi import TelegramLimitsModel


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


def arrivals_after_a_hold(burst: int, held: float, calls: int = 120) -> list[float]:
    """When `calls` ready at once reach Telegram: they leave a bucket of `burst` at 30 a second
    as early as it lets them, and everything leaving in the first `held` seconds is held up on
    its way (a busy machine) and arrives together at `held`."""
    leaving = [0.0 if k < burst else (k - burst + 1) / 30 for k in range(calls)]
    return sorted(max(at, held) if at <= held + 1e-9 else at for at in leaving)


def refused(arrivals: list[float]) -> int:
    telegram = TelegramLimitsModel()
    return sum(bool(telegram.refuse("sendMessage", 7, at)) for at in arrivals)


def test_sending_held_up_a_third_of_a_second_draws_no_429() -> None:
    assert refused(arrivals_after_a_hold(OVERALL_BURST, 0.3)) == 0
    # The burst this replaced left too little between it and Telegram's: 4 refused.
    assert refused(arrivals_after_a_hold(25, 0.3)) == 4
    # Held up longer than the places between the bursts cover, 429s come (what 429s measure).
    assert refused(arrivals_after_a_hold(OVERALL_BURST, 0.5)) > 0
