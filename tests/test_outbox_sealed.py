"""A reply waiting in the outbox is sealed with the data key of the person whose words it carries
(a summary: the worker's, however long it waits for the supervisor's chat), so /forget's key
destruction reaches that copy too, in the WAL, in free pages and in anything copied meanwhile."""

from __future__ import annotations

import json

import pytest

from flows.kernel.crypto import KeyProblem
from flows.store.unit import outbox_aad
from tests.drivers import Chat, Harness
from tests.test_supervision import reflect, rows, share_first_entry

WORDS = "OUTBOX-CANARY words on their way to Sam"


async def test_a_waiting_summary_is_sealed_with_the_workers_key_and_forget_shreds_it(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    store = bot.service.store
    await reflect(worker, WORDS, "More words")
    bot.request.fail_chats = {supervisor.chat_id}  # Telegram unreachable: the summary waits
    await share_first_entry(worker)
    ((row_id, payload, sealed_for),) = rows(
        bot, "SELECT id, payload, sealed_for FROM outbox WHERE chat_id = ?", supervisor.chat_id
    )
    assert sealed_for == worker.person.user_id
    aad = outbox_aad(supervisor.chat_id, row_id)
    with pytest.raises(KeyProblem):
        store.keys.master.open(payload, aad)  # the master key alone does not open it
    (wrapped,) = rows(bot, "SELECT wrapped_key FROM people WHERE id = ?", worker.person.user_id)[0]
    cipher = store.keys.person(worker.person.user_id, wrapped)
    assert WORDS in json.loads(cipher.open(payload, aad))["html"]

    await worker.send("/forget")
    await worker.press("Erase everything")
    await worker.press("Yes, erase it all now")
    assert rows(bot, "SELECT COUNT(*) FROM people WHERE id = ?", worker.person.user_id) == [(0,)]
    # The copy taken while it waited now opens with nothing the server still has.
    with pytest.raises(KeyProblem):
        store.keys.master.open(payload, aad)
    # And nothing reaches Sam once Telegram is back.
    bot.request.fail_chats = set()
    await store.run(lambda tx: None)
    assert not any(WORDS in t for t in supervisor.read())


async def test_a_waiting_message_whose_owner_is_forgotten_is_dropped_not_an_error(
    bot: Harness, chat: Chat
) -> None:
    store = bot.service.store
    await chat.send("/start")
    person = chat.person.user_id
    mine, plain = await store.run(
        lambda tx: [
            *tx.outbox_add(person, [b'{"html": "your words"}'], sealed_for=person),
            *tx.outbox_add(person, [b'{"html": "catalogue"}']),
        ]
    )
    store.sending_done([mine, plain])
    assert rows(bot, "SELECT id, sealed_for FROM outbox ORDER BY id") == [
        (mine, person),
        (plain, None),
    ]
    assert [p for _, _, p in await store.outbox_pending()] == [
        b'{"html": "your words"}',
        b'{"html": "catalogue"}',
    ]
    store.sending_done([mine, plain])
    await store.db.execute("DELETE FROM people WHERE id = ?", (person,))
    store.keys.forget(person)
    assert await store.outbox_pending() == [(plain, person, b'{"html": "catalogue"}')]
    assert rows(bot, "SELECT id FROM outbox") == [(plain,)]


async def test_an_entry_shown_back_waits_sealed_with_its_writers_key(
    bot: Harness, chat: Chat
) -> None:
    bot.request.fail_chats = {chat.chat_id}
    await chat.send(WORDS)
    waiting = rows(bot, "SELECT sealed_for FROM outbox")
    assert waiting and {w for (w,) in waiting} == {chat.person.user_id}
