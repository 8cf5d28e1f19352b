"""Journal text never reaches the logs, even at DEBUG level."""

from __future__ import annotations

import logging

import pytest

from bot import logs
from bot.inbox import InboxRunner
from tests.drivers import Chat


async def test_no_answer_text_in_any_log_record(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "CANARY-in-the-logs-3141"
    logs.configure("DEBUG")  # as an operator chasing a problem would run it
    caplog.set_level(logging.DEBUG)
    await chat.send("/prepare")
    await chat.send(canary)
    await chat.send(f"more {canary}")
    await chat.send("/cancel")
    await chat.press("Keep as a draft")
    await chat.send("/entries")
    opened = await chat.press("1")
    assert any(canary in text for text in opened)  # it was shown to its writer
    await chat.send(f"a note {canary}")
    # The way production takes updates: through the inbox consumer, which logs each at DEBUG.
    update = chat.person.text(f"and through the inbox {canary}")
    await InboxRunner(chat.bot.app, chat.bot.service).handle_row(update["update_id"], update)
    records = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert any(r.getMessage() == "update handled" for r in caplog.records)  # the capture is live
    assert canary not in records
