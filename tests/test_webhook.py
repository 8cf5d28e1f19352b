"""Webhook mode over real HTTP on 127.0.0.1: the secret is checked on every request, and 200 is
only answered once the update is committed to the inbox (then the usual consumer handles it)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import httpx
import pytest

from bot.config import ConfigProblem, check_webhook_secret
from bot.inbox import InboxRunner
from bot.telegram_bot import ALLOWED_UPDATES
from bot.webhook import WebhookReceiver
from tests.drivers import Chat, Harness
from tests.offline import Person

SECRET = "s3cret_Token-for-tests"


async def started(bot: Harness) -> tuple[InboxRunner, WebhookReceiver, asyncio.Task[None]]:
    runner = InboxRunner(bot.app, bot.service)
    config = bot.config.__class__(
        **{**_fields(bot.config), "webhook_url": "https://example.test/hook", "webhook_port": 0}
    )
    receiver = WebhookReceiver(bot.service.store, config, runner.wake, secret=SECRET)
    runner.receive = lambda: receiver.serve(bot.app.bot, ALLOWED_UPDATES)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(receiver.bound.wait(), 10)
    for _ in range(200):
        if any(c.method == "setWebhook" for c in bot.request.calls):
            break
        await asyncio.sleep(0.01)
    return runner, receiver, task


def _fields(config: Any) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__slots__}


def inbox(bot: Harness) -> list[tuple[int, bool]]:
    with sqlite3.connect(bot.service.store.path) as db:
        return db.execute(
            "SELECT update_id, handled_at IS NOT NULL FROM inbox ORDER BY update_id"
        ).fetchall()


async def test_secret_checked_and_200_only_once_stored(bot: Harness) -> None:
    runner, receiver, task = await started(bot)
    person = Person(7001, "Wren")
    chat = Chat(bot, person)
    (call,) = [c for c in bot.request.calls if c.method == "setWebhook"]
    assert call.params["url"] == "https://example.test/hook"
    assert call.params["secret_token"] == SECRET
    assert not any(c.method == "deleteWebhook" for c in bot.request.calls)
    url = f"http://127.0.0.1:{receiver.bound_port}/hook"
    try:
        async with httpx.AsyncClient() as client:
            update = person.text("a note written through the webhook")
            body = json.dumps(update).encode()
            for headers in (
                {},
                {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
                {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"},
            ):
                response = await client.post(url, content=body, headers=headers)
                assert response.status_code == 403
            assert inbox(bot) == []  # refused requests are never read into the inbox

            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            assert (await client.get(url, headers=good)).status_code == 405
            assert (await client.post(url, content=b"{not json", headers=good)).status_code == 400
            assert (await client.post(url, content=b"[1]", headers=good)).status_code == 400
            response = await client.post(url, content=body, headers=good)
            assert response.status_code == 200
            # Stored by the time 200 was answered (handled, perhaps, already too).
            assert [uid for uid, _ in inbox(bot)] == [update["update_id"]]
            # Telegram repeats it (our 200 was lost): handled once all the same.
            assert (await client.post(url, content=body, headers=good)).status_code == 200
            for _ in range(300):
                if inbox(bot) == [(update["update_id"], True)] and chat.read():
                    break
                await asyncio.sleep(0.01)
            assert inbox(bot) == [(update["update_id"], True)]
            assert sum("Kept as a note" in t for t in chat.read()) == 1
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
    with sqlite3.connect(bot.service.store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 1


async def test_many_concurrent_posts_are_all_stored_and_answered(bot: Harness) -> None:
    runner, receiver, task = await started(bot)
    people = [Person(7100 + n, f"P{n}") for n in range(20)]
    updates = [p.text(f"note {k} from {p.first_name}") for k in range(5) for p in people]
    url = f"http://127.0.0.1:{receiver.bound_port}/hook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    try:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(limits=limits) as client:
            codes = await asyncio.gather(
                *(client.post(url, json=u, headers=headers) for u in updates)
            )
        assert {r.status_code for r in codes} == {200}
        for _ in range(500):
            if all(handled for _, handled in inbox(bot)):
                break
            await asyncio.sleep(0.02)
        assert len(inbox(bot)) == len(updates) and all(h for _, h in inbox(bot))
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)
    for p in people:
        assert sum("Kept as a note" in t for t in Chat(bot, p).read()) == 5


def test_the_secret_must_be_one_telegram_accepts() -> None:
    check_webhook_secret("A-b_9")
    for bad in ("", "with space", "ünï", "x" * 257):
        with pytest.raises(ConfigProblem):
            check_webhook_secret(bad)
