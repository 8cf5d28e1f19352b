"""Buttons are untrusted text: whatever callback data comes back (odd digits, ids too big for
SQLite, a yes with no "are you sure?" before it), the bot answers kindly, logs no ERROR, and only
deletes or ends anything through its confirmation. No button carries a Telegram id."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest

from flows.kernel.ids import number
from tests.drivers import Chat, Harness
from tests.offline import Person
from tests.test_supervision import share_first_entry

BIG = "9" * 20  # past SQLite's 64-bit integers

MALFORMED = [
    "pg:²",
    f"pg:{BIG}",
    "o:²",
    f"o:{BIG}",
    "o:٣",
    f"x:{BIG}:delete_yes",
    "x:²:flag",
    "e:²",
    f"e:{BIG}:",
    "h:e:²",
    f"h:e:{BIG}",
    f"h:p:{BIG}",
    f"h:le:{BIG}",
    f"w:{BIG}:yes",
    f"m:{BIG}",
    f"q:{BIG}",
    f"r:{BIG}:x",
    f"j:{BIG}:yes",
    f"n:{BIG}:yes",
    f"d:{BIG}",
    f"y:{BIG}",
    f"u:{BIG}:cancel",
    f"u:new:{BIG}",
    "u:new:²",
    f"u:new:l{BIG}",
    f"N:{BIG}:prep",
    f"t:p:{BIG}",
    f"t:g:1:{BIG}",
    f"t:a:{BIG}:1",
    f"t:e:{BIG}",
    f"l:{BIG}:1",
    f"l:1:{BIG}",
    f"a:{BIG}:x",
    "a:²:x",
    "z:²:1",
    "M:wd²",
    "M:wt²:0900",
    "M:p²",
]


def rows(bot: Harness, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.service.store.path) as db:
        return db.execute(sql, args).fetchall()


def test_number_reads_ascii_digits_of_bounded_length() -> None:
    assert number("12") == 12 and number("0") == 0
    for text in ["", "²", "٣", "1²", "+1", "-1", " 1", "1_0", "1.0", BIG, "9" * 19]:
        assert number(text) is None, text
    assert number("9" * 18) == 10**18 - 1 < 2**63
    assert number("1234", 3) is None


@pytest.mark.parametrize("data", MALFORMED)
async def test_malformed_buttons_are_answered_kindly_without_errors(
    data: str, caplog: pytest.LogCaptureFixture, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await worker.send("A note to have something in the journal")
    for chat in (worker, supervisor):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            replies = await chat.press_data(data)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], data
        assert not any("something went wrong" in r for r in replies), (data, replies)
        assert chat.toasts()[-1], data  # every press is answered


async def test_a_forged_delete_yes_asks_first(bot: Harness, worker: Chat) -> None:
    await worker.send("Words I want to keep")
    (entry_id,) = rows(bot, "SELECT id FROM entries")[0]
    replies = await worker.press_data(f"x:{entry_id}:delete_yes")
    assert rows(bot, "SELECT COUNT(*) FROM entries") == [(1,)]
    assert "Delete this entry?" in replies[-1]
    # "No" then a forged yes: still asks. Only the yes under the question deletes.
    await worker.press("No, keep it")
    await worker.press_data(f"x:{entry_id}:delete_yes")
    assert rows(bot, "SELECT COUNT(*) FROM entries") == [(1,)]
    await worker.press("Yes, delete it")
    assert rows(bot, "SELECT COUNT(*) FROM entries") == [(0,)]


async def test_a_forged_unlink_asks_first_but_withdrawing_never_does(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await worker.send("Something to share")
    await share_first_entry(worker)
    ((share_id, link_id),) = rows(bot, "SELECT s.id, l.id FROM shares s, links l")
    replies = await supervisor.press_data(f"n:{link_id}:yes")
    assert "Unlink from" in replies[-1]
    assert rows(bot, "SELECT ended_at IS NULL FROM links") == [(1,)]
    # Taking back what they shared is never harder than sharing it: an old "Withdraw it" works.
    await worker.press_data(f"w:{share_id}:yes")
    assert rows(bot, "SELECT event FROM share_events") == [("withdrawn",)]
    await supervisor.press("Unlink")
    assert rows(bot, "SELECT ended_at IS NULL FROM links") == [(0,)]


async def test_no_button_carries_a_telegram_id(bot: Harness, linked: tuple[Chat, Chat]) -> None:
    worker, supervisor = linked
    await supervisor.send("/supervision")
    await supervisor.press("Alex: sessions and more")
    assert "Set a session for Alex" in supervisor.buttons()
    await worker.send("/supervision")
    ids = {str(worker.person.user_id), str(supervisor.person.user_id)}
    for call in bot.request.calls:
        markup = call.params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            for row in markup["inline_keyboard"]:
                for button in row:
                    data = button.get("callback_data", "")
                    assert not ids & set(data.split(":")), data
    replies = await supervisor.press_under("Nothing new shared", "Set a session for Alex")
    assert "When is" in replies[-1] and "Alex" in replies[-1]
    # A button sent before link ids (the worker's Telegram id) still works for the supervisor,
    # and a stranger pressing either finds nothing.
    replies = await supervisor.press_data(f"u:new:{worker.person.user_id}")
    assert "When is" in replies[-1]
    (link_id,) = rows(bot, "SELECT id FROM links")[0]
    stranger = Chat(bot, Person(user_id=3003, first_name="Jo"))
    await stranger.press_data(f"u:new:l{link_id}")
    await stranger.press_data(f"u:new:{worker.person.user_id}")
    assert all(t.startswith("I couldn't find that") for t in stranger.toasts()[-2:])
