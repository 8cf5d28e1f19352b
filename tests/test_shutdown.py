"""SIGTERM, in polling and in webhook mode, with a backlog in hand: the bot stops within 10 seconds
with exit status 0, and after a restart every update it had confirmed (or answered 200 to) is
handled exactly once: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.fakeapi import FakeBotAPI
from tests.offline import Person
from tests.running import TOKEN, free_port, start_bot, stop

pytestmark = pytest.mark.slow
NOTES = 300


def notes(people: int = 30) -> list[dict[str, object]]:
    crowd = [Person(8000 + n, f"P{n}") for n in range(people)]
    return [
        p.text(f"note {k} from {p.first_name} about today")
        for k in range(NOTES // people)
        for p in crowd
    ]


def replies(fake: FakeBotAPI) -> int:
    return sum(
        1
        for c in fake.calls
        if c.method == "sendMessage" and "Kept as a note" in str(c.params.get("text"))
    )


def terminate_within_ten_seconds(bot: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    bot.send_signal(signal.SIGTERM)
    assert bot.wait(12) == 0
    took = time.monotonic() - started
    assert took < 10, f"SIGTERM took {took:.1f} s"
    return took


def check_database(data_dir: Path, expected: int) -> None:
    with sqlite3.connect(data_dir / "coreflect.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == expected
        assert db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0] == expected
        assert db.execute("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_sigterm_while_polling_keeps_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    updates = notes()
    with FakeBotAPI(TOKEN) as fake:
        bot = start_bot(fake, data_dir)
        try:
            for u in updates:
                fake.push(u)
            assert fake.wait_for(lambda _: replies(fake) >= 20, 30)
            terminate_within_ten_seconds(bot)
            confirmed = fake.confirmed_below
            assert replies(fake) < NOTES  # it really was stopped with work in hand
            bot = start_bot(fake, data_dir)
            assert fake.wait_for(lambda _: replies(fake) >= NOTES, 60), replies(fake)
            terminate_within_ten_seconds(bot)
        finally:
            stop(bot)
        fake.assert_valid()
    assert confirmed > updates[0]["update_id"]  # type: ignore[operator]
    # A reply Telegram had but whose outbox row the stop cut short comes again (the window):
    assert NOTES <= replies(fake) <= NOTES + 5
    check_database(data_dir, NOTES)


async def test_sigterm_in_webhook_mode_keeps_every_update_it_answered(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    updates = notes()
    port = free_port()
    secret = "shutdown-test-secret"
    env = {
        "COREFLECT_WEBHOOK_URL": "https://example.test/hook",
        "COREFLECT_WEBHOOK_PORT": str(port),
        "COREFLECT_WEBHOOK_SECRET": secret,
    }
    url = f"http://127.0.0.1:{port}/hook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    answered: set[int] = set()

    async def deliver(client: httpx.AsyncClient, todo: list[dict[str, object]]) -> None:
        """As Telegram does: each update until it gets a 200, a few connections at a time."""
        queue = list(todo)

        async def worker() -> None:
            while queue:
                update = queue.pop(0)
                try:
                    response = await client.post(url, json=update, headers=headers)
                    if response.status_code == 200:
                        answered.add(int(update["update_id"]))  # type: ignore[call-overload]
                except httpx.TransportError:
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(8)))

    with FakeBotAPI(TOKEN) as fake:
        bot = start_bot(fake, data_dir, log=subprocess.DEVNULL, **env)
        try:
            assert fake.wait_for(lambda c: any(x.method == "setWebhook" for x in c), 30)
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(timeout=10) as client:
                sending = asyncio.create_task(deliver(client, updates))
                while len(answered) < 100:
                    await asyncio.sleep(0.01)
                took = await asyncio.to_thread(terminate_within_ten_seconds, bot)
                await sending
                first = set(answered)
                assert len(first) < NOTES
                bot = start_bot(fake, data_dir, log=subprocess.DEVNULL, **env)
                assert fake.wait_for(lambda c: sum(x.method == "setWebhook" for x in c) == 2, 30)
                await asyncio.sleep(0.3)
                while len(answered) < NOTES:  # Telegram retries everything not answered 200
                    await deliver(client, [u for u in updates if u["update_id"] not in answered])
            assert await asyncio.to_thread(fake.wait_for, lambda _: replies(fake) >= NOTES, 60), (
                replies(fake)
            )
            await asyncio.to_thread(terminate_within_ten_seconds, bot)
        finally:
            stop(bot)
        fake.assert_valid()
    assert took < 10
    assert NOTES <= replies(fake) <= NOTES + 5
    check_database(data_dir, NOTES)
