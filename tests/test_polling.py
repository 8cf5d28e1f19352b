"""Over real HTTP: the bot polls a fake Bot API on 127.0.0.1, is SIGKILLed mid-flow and restarted.

Whatever update the bot confirmed to Telegram (by moving the offset past it) must be handled, and
the person's next message must carry on at the same question with every earlier answer kept.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.store.core import Store
from flows.store.unit import Unit
from tests.fakeapi import FakeBotAPI
from tests.offline import Person

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "4242:fake-token"
pytestmark = pytest.mark.slow


def start_bot(fake: FakeBotAPI, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "COREFLECT_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        COREFLECT_DATA_DIR=str(data_dir),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def questions(fake: FakeBotAPI, chat_id: int) -> list[str]:
    return [t for t in fake.sent_texts(chat_id) if "Question" in t]


def wait_for_question(fake: FakeBotAPI, chat_id: int, count: int, timeout: float = 20.0) -> None:
    """Until `count` different questions have been asked (a repeat after a kill is not progress)."""
    ok = fake.wait_for(lambda _: len(set(questions(fake, chat_id))) >= count, timeout)
    assert ok, f"expected {count} questions, saw {questions(fake, chat_id)}"


async def saved_answers(data_dir: Path) -> dict[str, str]:
    store = await Store.open(data_dir)
    try:

        def read(tx: Unit) -> dict[str, str]:
            row = tx.person(Person().user_id, "Europe/London")
            conv = tx.conversation(row.id)
            assert conv.entry_id is not None
            return tx.answers(row.cipher, conv.entry_id)

        return await store.run(read)
    finally:
        await store.close()


def test_sigkill_mid_flow_then_restart_loses_nothing(tmp_path: Path) -> None:
    person = Person()
    data_dir = tmp_path / "data"
    answers = [f"answer number {n} – with <care> & 🌱" for n in range(1, 7)]
    with FakeBotAPI(TOKEN) as fake:
        bot = start_bot(fake, data_dir)
        try:
            for update in [person.text("/start"), person.text("/prepare")]:
                fake.push(update)
            wait_for_question(fake, person.user_id, 1)
            asked = 1
            kills = 0
            for n, answer in enumerate(answers):
                update = person.text(answer)
                fake.push(update)
                if n % 2 == 0:
                    # Kill the moment the bot confirms this update to "Telegram".
                    def passed(_: object, uid: int = update["update_id"]) -> bool:
                        return fake.confirmed_below > uid

                    assert fake.wait_for(passed, 20)
                    bot.send_signal(signal.SIGKILL)
                    bot.wait(10)
                    kills += 1
                    bot = start_bot(fake, data_dir)
                asked += 1
                wait_for_question(fake, person.user_id, asked)
            assert kills == 3
            bot.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert bot.wait(10) == 0, bot.stderr.read().decode() if bot.stderr else ""
            assert time.monotonic() - started < 10
        finally:
            if bot.poll() is None:
                bot.kill()
                bot.wait()
        fake.assert_valid()
        # Every question came, in order, across three SIGKILLs. A kill between Telegram accepting
        # a message and its outbox row being removed repeats that one message (the documented
        # window): at most one repeat per kill, and never a gap.
        asked_texts = questions(fake, person.user_id)
        distinct = list(dict.fromkeys(asked_texts))
        assert len(distinct) == 7
        assert all(
            a == b or distinct.index(a) + 1 == distinct.index(b)
            for a, b in itertools.pairwise(asked_texts)
        )
        assert len(asked_texts) - len(distinct) <= kills
        assert "Question 4 of 6" in asked_texts[-1]
        confirmed = fake.confirmed_below

    saved = asyncio.run(saved_answers(data_dir))
    steps = [
        "experiences",
        "comfortable_colleagues",
        "comfortable_people",
        "helpful_colleagues",
        "helpful_people",
        "present_colleagues",
    ]
    assert saved == dict(zip(steps, answers, strict=True))
    with sqlite3.connect(data_dir / "coreflect.db") as db:
        inbox = db.execute(
            "SELECT update_id, handled_at IS NOT NULL, payload IS NULL FROM inbox"
        ).fetchall()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert all(uid < confirmed for uid, _, _ in inbox)
    assert all(handled and cleared for _, handled, cleared in inbox), inbox


def test_an_update_delivered_twice_is_handled_once(tmp_path: Path) -> None:
    person = Person(user_id=5151)
    data_dir = tmp_path / "data"
    with FakeBotAPI(TOKEN) as fake:
        bot = start_bot(fake, data_dir)
        try:
            fake.push(person.text("/prepare"))
            wait_for_question(fake, person.user_id, 1)
            answer = person.text("only once, please")
            fake.push(answer)
            wait_for_question(fake, person.user_id, 2)
            fake.push(answer)  # Telegram delivers it again
            fake.push(person.text("second answer"))
            wait_for_question(fake, person.user_id, 3)
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(10)
        fake.assert_valid()
    with sqlite3.connect(data_dir / "coreflect.db") as db:
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 2


def test_a_wrong_token_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    with FakeBotAPI("the-real:token") as fake:
        bot = start_bot(fake, tmp_path / "data")
        assert bot.wait(20) == 1
        assert bot.stderr is not None
        assert "Telegram did not accept TELEGRAM_BOT_TOKEN" in bot.stderr.read().decode()


def test_export_documents_travel_over_real_http(tmp_path: Path) -> None:
    person = Person(user_id=6161)
    with FakeBotAPI(TOKEN) as fake:
        bot = start_bot(fake, tmp_path / "data")
        try:
            for text in ["/start", "/journal", "Words for the record #mine", "/done", "/export"]:
                fake.push(person.text(text))
            assert fake.wait_for(
                lambda calls: sum(c.method == "sendDocument" for c in calls) == 2, 20
            )
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(10)
        fake.assert_valid()
        documents = {
            c.params["document"].filename: c.params["document"].content
            for c in fake.calls
            if c.method == "sendDocument"
        }
    (json_body,) = [body for name, body in documents.items() if name.endswith(".json")]
    (md_body,) = [body for name, body in documents.items() if name.endswith(".md")]
    exported = json.loads(json_body)
    assert exported["entries"][0]["tags"] == ["mine"]
    assert "Words for the record #mine" in md_body.decode()
