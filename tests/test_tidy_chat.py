"""Tidy chat (opt-in in /settings): once a question set is saved, every message of it (the
person's and the bot's) is deleted from the chat except the closing line; the deletions wait in
the outbox with the save, so a crash part-way still ends with all of them deleted."""

from __future__ import annotations

from pathlib import Path

from bot.delivery import flush_outbox
from tests.drivers import Chat, Harness, make_config, running
from tests.test_conversations import PREP_ANSWERS


async def tidy_on(chat: Chat) -> None:
    await chat.send("/start")
    replies = await chat.send("/settings")
    assert "Tidy chat is off" in replies[0]
    replies = await chat.press_under("Tidy chat is off", "Turn tidy chat on")
    assert "Tidy chat is on" in replies[0]


async def finish_preparation(chat: Chat) -> tuple[set[int], list[str]]:
    """Run /prepare to the end; the ids of every message of the set, and the last replies."""
    ids: set[int] = set()
    responder = chat.bot.request.responder
    first = responder._last_id.get(chat.chat_id, 0) + 1
    replies: list[str] = []
    for words in ["/prepare", *PREP_ANSWERS]:
        last_bot = responder._last_id.get(chat.chat_id, 0)
        update = chat.person.text(words)
        ids.add(update["message"]["message_id"])
        replies = await chat.send_update(update)
    ids |= set(range(first, last_bot + 1))  # the bot's: its questions, up to the last answer
    return ids, replies


def deleted(chat: Chat) -> set[int]:
    return {int(c.params["message_id"]) for c in chat._mine() if c.method == "deleteMessage"}


async def test_a_finished_set_leaves_only_the_closing_line(chat: Chat, bot: Harness) -> None:
    await tidy_on(chat)
    ids, replies = await finish_preparation(chat)
    assert len(ids) > 2 * len(PREP_ANSWERS)
    assert deleted(chat) == ids
    assert replies[-1].startswith("Saved to your journal: Preparation, ")
    assert len(replies) == 1  # no summary left behind
    closing = bot.request.responder._last_id[chat.chat_id]
    assert closing not in deleted(chat)
    listing = await chat.send("/entries")
    assert "Preparation" in listing[-1]  # kept in the journal all the same


async def test_tidy_chat_is_off_unless_chosen(chat: Chat) -> None:
    await chat.send("/start")
    _, replies = await finish_preparation(chat)
    assert deleted(chat) == set()
    assert any("Saved to your journal" in r for r in replies)


async def test_a_crash_during_the_deletions_still_deletes_them_all(data_dir: Path) -> None:
    config = make_config(data_dir)
    async with running(config) as first:
        chat = Chat(first)
        await tidy_on(chat)
        first.request.fail_methods.add("deleteMessage")  # the process dies before any goes
        ids, _ = await finish_preparation(chat)
        assert deleted(chat) == set()
        person = chat.person
    async with running(config) as second:  # restarted
        await flush_outbox(second.app.bot, second.service)
        again = Chat(second, person)
        assert deleted(again) == ids


async def test_a_note_outside_a_set_leaves_only_the_line(chat: Chat) -> None:
    await tidy_on(chat)
    note = chat.person.text("A long day, and I told a colleague about my own recovery")
    replies = await chat.send_update(note)
    assert replies == [replies[0]] and replies[0].startswith("Saved to your journal: Journal, ")
    assert deleted(chat) == {note["message"]["message_id"]}
    # A few stray words are asked about first; kept, the words and the question go too.
    stray = chat.person.text("feeling low")
    await chat.send_update(stray)
    asked = chat.bot.request.responder._last_id[chat.chat_id]
    replies = await chat.press("Keep as a note")
    assert replies[-1].startswith("Saved to your journal: Journal, ")
    assert {stray["message"]["message_id"], asked} <= deleted(chat)
    listing = await chat.send("/entries")
    assert "my own recovery" in listing[0] and "feeling low" in listing[0]


async def test_a_voice_note_on_its_own_leaves_only_the_line(chat: Chat, bot: Harness) -> None:
    await tidy_on(chat)
    bot.request.responder.files["v-1"] = b"OggS" + bytes(300)
    update = chat.person.voice("v-1", duration=4)
    replies = await chat.send_update(update)
    assert replies[-1].startswith("Saved to your journal: Journal, ")
    assert deleted(chat) == {update["message"]["message_id"]}
