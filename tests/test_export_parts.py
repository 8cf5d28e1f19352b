"""An export larger than Telegram's 50 MB upload limit comes in parts, said so first; joined in
order they are the whole file. (The part size is made small here: a test writes no 50 MB.)"""

from __future__ import annotations

import json

import pytest

from bot import telegram_bot
from tests.drivers import Chat, Harness, plain


async def test_a_large_export_comes_in_parts_that_join_up(
    chat: Chat, bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.send("/prepare")
    for n in range(9):
        await chat.send(f"prep answer {n}, long enough to need a few parts " * 3)
    monkeypatch.setattr(telegram_bot, "DOCUMENT_PART", 1000)
    await chat.send("/export")
    said = [plain(t) for t in chat.sent_texts()]
    assert any("comes in" in t and "parts" in t and ".json" in t for t in said)
    calls = [c for c in bot.request.calls if c.method == "sendDocument"]
    names = [c.params["document"].filename for c in calls]
    json_parts = [
        c.params["document"] for c in calls if ".json.part" in c.params["document"].filename
    ]
    assert len(json_parts) > 1 and all(len(p.content) <= 1000 for p in json_parts)
    assert [p.filename.rsplit("part", 1)[1] for p in json_parts] == [
        str(n) for n in range(1, len(json_parts) + 1)
    ]
    whole = json.loads(b"".join(p.content for p in json_parts))
    assert len(whole["entries"]) == 1
    assert all(".part" in n for n in names)
