"""A storage allowance per person (COREFLECT_STORAGE_MB), as a person meets it: a kind line once
past 80%; a voice note that would pass the allowance is not kept, nothing of it; typed answers
in a question set are still kept a little past it (so a tired person can finish), and only past
that headroom is what they type not kept, the question still open; deleting makes room again.
(The allowance is made tiny here: the test writes no 200 MB.)"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config, ConfigProblem
from flows.kernel import allowance
from tests.drivers import Chat, Harness, make_config, running, worker_chat
from tests.test_voice import CANARY, send_voice

ALLOWANCE = 3500  # bytes: three voice notes fit, a fourth does not


@pytest.fixture
async def bot(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setattr(allowance, "MB", ALLOWANCE)  # COREFLECT_STORAGE_MB=1 is 3,500 bytes
    async with running(make_config(data_dir, storage_mb=1)) as harness:
        yield harness


@pytest.fixture
def chat(bot: Harness) -> Chat:
    return worker_chat(bot)


def one(bot: Harness, sql: str) -> int:
    with sqlite3.connect(bot.service.store.path) as db:
        (found,) = db.execute(sql).fetchone()
    db.close()
    return int(found or 0)


def stored(bot: Harness) -> int:
    """The running total, checked against a sum over everything the person has."""
    total = one(bot, "SELECT bytes FROM storage_used WHERE person_id = 1001")
    summed = one(
        bot,
        "SELECT (SELECT SUM(length(value)) FROM answers)"
        " + COALESCE((SELECT SUM(length(audio)) FROM voice_notes), 0)",
    )
    assert total == summed
    return total


async def test_the_allowance_as_a_person_meets_it(chat: Chat, bot: Harness) -> None:
    await chat.send("/start")
    for _ in range(2):
        replies = await send_voice(chat)
        assert "Kept your voice note" in replies[-1]
    assert stored(bot) < ALLOWANCE * allowance.WARN_AT
    # Past 80%: one kind line, with what to do.
    replies = await send_voice(chat)
    assert "Kept your voice note" in replies[0]
    assert "A note about space" in replies[-1] and "/export" in replies[-1]
    assert stored(bot) > ALLOWANCE * allowance.WARN_AT
    # A fourth would pass the allowance: not kept, nothing of it, and said plainly.
    before = stored(bot)
    replies = await send_voice(chat)
    assert len(replies) == 1 and "couldn't keep that voice note" in replies[0]
    assert "Nothing of it has been saved" in replies[0] and "delete older entries" in replies[0]
    assert one(bot, "SELECT COUNT(*) FROM voice_notes") == 3
    assert one(bot, "SELECT COUNT(*) FROM entries") == 3  # no empty entry left behind
    assert stored(bot) == before

    # Mid-question-set, typed answers are kept past the allowance (told once), up to a headroom.
    await chat.send("/reflect")
    answer = "We talked for a long while about the week and what helped them most. " * 2
    first = await chat.send(answer)
    assert not any("space" in r for r in first)  # the kind line is said once, not again
    second = await chat.send(answer)
    assert stored(bot) > ALLOWANCE
    assert any("used all" in r for r in second)
    assert not any("space" in r for r in await chat.send(answer))  # kept, nothing more said
    kept = one(bot, "SELECT COUNT(*) FROM answers")
    # Past the headroom: not kept, nothing half-saved, still on the same question.
    refused = await chat.send(answer)
    assert "couldn't keep that" in refused[0] and "still where you were" in refused[0]
    assert one(bot, "SELECT COUNT(*) FROM answers") == kept
    question = refused[-1]
    # A voice note there is refused as well, and the question asked again.
    replies = await send_voice(chat)
    assert "couldn't keep that voice note" in replies[0] and replies[-1] == question

    # Making room: /export keeps a copy, deleting older entries frees their space.
    await chat.send("/export")
    for _ in range(2):
        await chat.send("/entries")
        await chat.press(chat.buttons()[-2])  # the oldest voice note
        await chat.press("Delete")
        await chat.press("Yes, delete it")
    assert stored(bot) < ALLOWANCE * allowance.WARN_AT
    await chat.send("/reflect")  # back to where they were
    kept = one(bot, "SELECT COUNT(*) FROM answers")
    replies = await chat.send(answer)
    assert one(bot, "SELECT COUNT(*) FROM answers") == kept + 1
    assert not any("couldn't keep" in r for r in replies)
    # /forget takes the running total with everything else.
    await chat.send("/forget")
    await chat.press("Erase everything")
    await chat.press("Yes, erase it all now")
    assert one(bot, "SELECT COUNT(*) FROM storage_used") == 0


async def test_no_allowance_when_set_to_nothing(data_dir: Path) -> None:
    assert Config.from_env({"COREFLECT_STORAGE_MB": "0"}).storage_mb == 0
    assert Config.from_env({}).storage_mb == 200
    with pytest.raises(ConfigProblem):
        Config.from_env({"COREFLECT_STORAGE_MB": "lots"})
    async with running(make_config(data_dir, storage_mb=0)) as bot:
        chat = worker_chat(bot)
        await chat.send("/start")
        for _ in range(3):
            assert "Kept your voice note" in (await send_voice(chat, CANARY * 50))[-1]
