"""Tidy chat through a SIGKILL: the bot as a real process over real HTTP to the fake Bot API,
killed while it is part-way through deleting a finished question set's messages. Started
again, it deletes the rest from the outbox: every message of the set is gone except the
closing line, and a deletion Telegram had already done (refused as "not found" the second
time) is skipped quietly."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fakeapi import FakeBotAPI
from tests.offline import Person
from tests.running import start_bot, stop
from tests.test_conversations import PREP_ANSWERS

ALEX = Person(user_id=1001, first_name="Alex")
BEFORE_THE_KILL = 3  # deletions Telegram answers before the next one hangs


def deleted(fake: FakeBotAPI) -> set[int]:
    return {
        int(s.params["message_id"])
        for s in fake.sent_to(ALEX.user_id)
        if s.method == "deleteMessage"
    }


def bot_messages(fake: FakeBotAPI) -> list[tuple[int, str]]:
    """(message id, text) of what the bot sent to Alex, in order."""
    return [
        (int(s.message_id), str(s.params.get("text", "")))
        for s in fake.sent_to(ALEX.user_id)
        if s.method == "sendMessage" and s.message_id is not None
    ]


def button(fake: FakeBotAPI, label: str) -> tuple[int, str]:
    """Wait for a message of the bot's with this button: (its message id, the button's data)."""

    def found() -> list[tuple[int, str]]:
        return [
            (int(s.message_id or 0), data)
            for s in fake.sent_to(ALEX.user_id)
            for text, data in s.buttons
            if text == label
        ]

    assert fake.wait_for(lambda _: bool(found()), timeout=30), f"no {label!r}"
    return found()[-1]


def settle(bot: subprocess.Popen[bytes], log: Path) -> None:
    """Stop the bot with SIGTERM once it says it is running (it handles SIGTERM from then)."""
    deadline = time.monotonic() + 30
    while b"is running" not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    bot.send_signal(signal.SIGTERM)
    assert bot.wait(10) == 0


@pytest.mark.slow
def test_a_sigkill_during_the_deletions_still_ends_with_them_all_deleted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with FakeBotAPI() as fake:
        fake.refuse_repeat_deletes = True
        bot = start_bot(fake, data_dir)
        try:
            fake.push(ALEX.text("/start"))
            fake.push(ALEX.text("/settings"))
            message_id, data = button(fake, "Turn tidy chat on")
            fake.push(ALEX.press(data, message_id=message_id))
            assert fake.wait_for(lambda _: "Tidy chat is on" in str(fake.calls[-1].params), 30)

            # The whole set, as the person answers it; its messages are the ones to go.
            first_bot = max((i for i, _ in bot_messages(fake)), default=0) + 1
            fake.hold_after["deleteMessage"] = BEFORE_THE_KILL
            theirs: set[int] = set()
            for words in ["/prepare", *PREP_ANSWERS]:
                update = ALEX.text(words)
                theirs.add(int(update["message"]["message_id"]))
                fake.push(update)

            # Killed while a deletion hangs, after the first few were done.
            assert fake.wait_for(lambda _: fake.held > 0, timeout=60), "no deletion began"
            bot.send_signal(signal.SIGKILL)
            bot.wait(10)
            done_before = deleted(fake)
            fake.release.set()  # the hanging one reached Telegram: it is done too
            assert len(done_before) == BEFORE_THE_KILL

            assert len(theirs) + 2 * len(PREP_ANSWERS) > BEFORE_THE_KILL + 1  # more to go

            log = tmp_path / "bot-again.log"
            with open(log, "wb") as out:
                bot = start_bot(fake, data_dir, out)

            def wanted() -> tuple[int, set[int]]:
                """The closing line, and every message of the set before it."""
                sent = bot_messages(fake)
                closing = [i for i, text in sent if text.startswith("Saved to your journal")]
                if not closing:
                    return 0, set()
                return closing[0], theirs | {i for i, _ in sent if first_bot <= i < closing[0]}

            def all_gone() -> bool:
                closing, messages = wanted()
                return bool(closing) and messages <= deleted(fake)

            assert fake.wait_for(lambda _: all_gone(), timeout=30), sorted(
                wanted()[1] - deleted(fake)
            )
            closing, messages = wanted()
            assert len(messages) > 2 * len(PREP_ANSWERS)
            settle(bot, log)
        finally:
            stop(bot)
        assert deleted(fake) == messages  # all of them, and the closing line kept
        assert closing not in deleted(fake)
        # The one hanging at the kill was sent again after the restart: refused, and skipped.
        tries = [c for c in fake.calls if c.method == "deleteMessage"]
        assert len(tries) > len(messages)
        fake.assert_valid()
