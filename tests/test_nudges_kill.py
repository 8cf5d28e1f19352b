"""Nudges survive SIGKILL: the bot as a real process over real HTTP, killed again and again while
40 reminders fall due. Every reminder arrives; a repeat only ever straddles a kill (the
documented window: Telegram accepted it, and the process died before the commit that removes
its outbox row)."""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import open_service
from flows.features.sessions import db as sessions_db
from flows.store.unit import Unit
from tests.drivers import make_config
from tests.fakeapi import FakeBotAPI
from tests.running import TOKEN, start_bot, stop, straddles_kill

PEOPLE = [9000 + n for n in range(40)]
TEXT = "weekly reflection time"
KILLS = 12


async def plan(data_dir: Path) -> None:
    """Forty people, each with a reminder due in the next few seconds: rows, as after planning."""
    service = await open_service(make_config(data_dir, token=TOKEN))
    soon = datetime.now(UTC) + timedelta(seconds=1)

    def work(tx: Unit) -> None:
        for n, person_id in enumerate(PEOPLE):
            tx.person(person_id, "Europe/London")
            tx.set_welcomed(person_id)
            due = soon + timedelta(seconds=n * 0.15)
            sessions_db.nudge_plan(
                tx, person_id, "weekly", f"w:kill{n}", due, due + timedelta(hours=1)
            )

    await service.store.run(work)
    await service.store.close()


async def states(data_dir: Path) -> tuple[Counter[str], int]:
    service = await open_service(make_config(data_dir, token=TOKEN))
    found = await service.store.run(
        lambda tx: (
            Counter(s for (s,) in tx.conn.execute("SELECT state FROM nudges").fetchall()),
            tx.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0],
        )
    )
    await service.store.close()
    return found


@pytest.mark.slow
def test_nudges_arrive_through_sigkills(tmp_path: Path) -> None:
    rng = random.Random(5)
    data_dir = tmp_path / "data"
    asyncio.run(plan(data_dir))
    kills: list[float] = []
    with FakeBotAPI(TOKEN) as fake:
        bot = start_bot(fake, data_dir)
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.3, 1.2))
                kills.append(time.monotonic())
                bot.send_signal(signal.SIGKILL)
                bot.wait(10)
                log_path = tmp_path / f"bot-{len(kills)}.log"
                with open(log_path, "wb") as log:
                    bot = start_bot(fake, data_dir, log)

            def arrived() -> bool:
                return all(any(TEXT in t for t in fake.sent_texts(p)) for p in PEOPLE)

            assert fake.wait_for(lambda _calls: arrived(), timeout=60), "a reminder never arrived"
            # The last start may still be under way (everything may have gone out before it):
            # let it say it is running, with SIGTERM handled, before stopping it.
            deadline = time.monotonic() + 60
            while b"is running" not in log_path.read_bytes() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(10) == 0
        finally:
            stop(bot)
        fake.assert_valid()
        repeats = 0
        for person_id in PEOPLE:
            copies = [s.at for s in fake.sent_to(person_id) if TEXT in str(s.params.get("text"))]
            assert copies, person_id
            for first, again in itertools.pairwise(copies):
                repeats += 1
                assert straddles_kill(first, again, kills), "a repeat without a kill between"
    counts, left = asyncio.run(states(data_dir))
    assert counts == Counter({"sent": len(PEOPLE)}) and left == 0
    print(f"\nnudges through SIGKILL: kills {KILLS}, nudges {len(PEOPLE)}, repeats {repeats}")
