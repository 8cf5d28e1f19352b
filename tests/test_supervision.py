"""Supervisors, as people use them: invite, confirm on both sides, share with a preview,
withdraw, expire, unlink, the supervisor's lists, and co-reflection rounds."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest

from tests.conftest import Chat, Clock, Harness
from tests.offline import Person


@pytest.fixture
def worker(bot: Harness) -> Chat:
    return Chat(bot, Person(user_id=1001, first_name="Alex"))


@pytest.fixture
def supervisor(bot: Harness) -> Chat:
    return Chat(bot, Person(user_id=2002, first_name="Sam"))


@pytest.fixture
def other(bot: Harness) -> Chat:
    return Chat(bot, Person(user_id=3003, first_name="Jo"))


async def invite_code(worker: Chat) -> tuple[str, str]:
    """The worker makes an invite; returns (code, deep link)."""
    await worker.send("/supervisor")
    replies = await worker.press("Create an invite")
    text = replies[-1]
    code = re.search(r"/link ([A-Z2-7-]+)", text)
    url = re.search(r"https://t\.me/\S+", text)
    assert code and url, text
    return code.group(1), url.group(0)


async def link(worker: Chat, supervisor: Chat) -> None:
    """Invite → the supervisor confirms → the worker confirms."""
    code, _ = await invite_code(worker)
    await supervisor.send(f"/link {code}")
    await supervisor.press("Yes, link")
    await worker.press("Yes, link")


def rows(bot: Harness, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.config.data_dir / "coreflect.db") as db:
        return db.execute(sql, args).fetchall()


async def reflect(worker: Chat, impact: str, helped: str) -> None:
    await worker.send("/reflect")
    await worker.send(impact)
    await worker.send(helped)
    for _ in range(2):
        await worker.send("/skip")
    await worker.press("Maybe later")


# ---- linking ---------------------------------------------------------------------------------


async def test_invite_confirm_confirm_then_both_are_told(
    worker: Chat, supervisor: Chat, bot: Harness
) -> None:
    await worker.send("/start")
    code, url = await invite_code(worker)
    assert url == f"https://t.me/coreflect_test_bot?start=link_{code.replace('-', '')}"
    assert len(code.replace("-", "")) == 16  # 80 bits in base 32

    # The supervisor opens the deep link: welcomed, then told what linking means.
    replies = await supervisor.send(f"/start link_{code.replace('-', '')}")
    assert any("Hello Sam" in r for r in replies)
    assert "only ever see summaries Alex chooses to share" in replies[-1]
    assert supervisor.buttons() == ["Yes, link", "Not now"]
    assert rows(bot, "SELECT COUNT(*) FROM links") == [(0,)]

    replies = await supervisor.press("Yes, link")
    assert "asked Alex to confirm" in replies[-1]
    assert "Sam wants to link as your supervisor" in worker.read()[-1]
    assert rows(bot, "SELECT COUNT(*) FROM links") == [(0,)]  # not until the worker says yes

    await worker.press("Yes, link")
    assert "You're linked with Sam" in worker.read()[-1]
    assert "Alex confirmed" in supervisor.read()[-1]
    assert rows(bot, "SELECT worker_id, supervisor_id, ended_at FROM links") == [(1001, 2002, None)]
    # Nobody's name is stored in the clear.
    assert rows(bot, "SELECT COUNT(*) FROM people WHERE name LIKE '%Alex%'") == [(0,)]

    # The code was single use.
    replies = await supervisor.send(f"/link {code}")
    assert "doesn't work" in replies[-1]


async def test_refusals_wrong_expired_used_own_and_declined(
    worker: Chat, supervisor: Chat, other: Chat, clock: Clock
) -> None:
    code, _ = await invite_code(worker)
    assert "That's your own invite" in (await worker.send(f"/link {code}"))[-1]
    assert "doesn't work" in (await supervisor.send("/link AAAA-BBBB-CCCC-DDDD"))[-1]
    assert "Send the code after /link" in (await supervisor.send("/link"))[-1]

    # Expired after 72 hours.
    clock.advance(hours=72, seconds=1)
    assert "doesn't work" in (await supervisor.send(f"/link {code.lower()}"))[-1]

    # A fresh one; the worker says no: nothing is linked, the supervisor is told kindly.
    code, _ = await invite_code(worker)
    await supervisor.send(f"/link {code}")
    await supervisor.press("Yes, link")
    await worker.press("No")
    assert "chose not to link" in supervisor.read()[-1]
    assert "doesn't work" in (await other.send(f"/link {code}"))[-1]  # used up by the decline

    # A newer invite replaces an older one.
    old, _ = await invite_code(worker)
    new, _ = await invite_code(worker)
    assert "doesn't work" in (await other.send(f"/link {old}"))[-1]
    assert "invited you to link" in (await other.send(f"/link {new}"))[-1]


async def test_worker_confirmation_is_bound_to_the_worker(
    worker: Chat, supervisor: Chat, other: Chat
) -> None:
    code, _ = await invite_code(worker)
    await supervisor.send(f"/link {code}")
    await supervisor.press("Yes, link")
    _, buttons = worker.keyboard()
    yes = dict(buttons)["Yes, link"]
    # Someone else pressing (forging) the worker's button gets "not found", and nothing links.
    await other.press_data(yes)
    assert other.toasts()[-1].startswith("I couldn't find that")
    await worker.press("Yes, link")
    await supervisor.send("/supervisees")
    assert "Alex" in supervisor.read()[-1]


async def test_wrong_code_limit_is_five_an_hour(
    supervisor: Chat, worker: Chat, clock: Clock
) -> None:
    code, _ = await invite_code(worker)
    for n in range(5):
        assert "doesn't work" in (await supervisor.send(f"/link WRONG{n}"))[-1]
    # The sixth is refused unchecked, even the right code.
    assert "paused code checks" in (await supervisor.send(f"/link {code}"))[-1]
    clock.advance(minutes=59)
    assert "paused code checks" in (await supervisor.send(f"/link {code}"))[-1]
    clock.advance(minutes=2)
    assert "invited you to link" in (await supervisor.send(f"/link {code}"))[-1]


async def test_unlink_from_either_side_with_confirmation(
    worker: Chat, supervisor: Chat, bot: Harness
) -> None:
    await link(worker, supervisor)
    await supervisor.send("/supervisor")
    await supervisor.press("Unlink Alex")
    await supervisor.press("Keep the link")
    assert rows(bot, "SELECT COUNT(*) FROM links WHERE ended_at IS NULL") == [(1,)]
    await supervisor.press_data(dict(supervisor.keyboard()[1]).get("Unlink", "n:1:ask"))
    await supervisor.send("/supervisor")
    await supervisor.press("Unlink Alex")
    await supervisor.press("Unlink")
    assert "no longer linked with Alex" in supervisor.read()[-1]
    assert "Sam has ended your link" in worker.read()[-1]
    assert rows(bot, "SELECT COUNT(*) FROM links WHERE ended_at IS NULL") == [(0,)]

    # Linked again, the worker unlinks; one active supervisor at a time.
    await link(worker, supervisor)
    replies = await worker.send("/supervisor")
    assert "linked with Sam" in replies[-1]
    await worker.press("Unlink Sam")
    await worker.press("Unlink")
    assert "Alex has ended your link" in supervisor.read()[-1]


# ---- sharing ---------------------------------------------------------------------------------


async def test_share_with_toggled_answers_then_withdraw(
    worker: Chat, supervisor: Chat, bot: Harness
) -> None:
    await link(worker, supervisor)
    await reflect(worker, "It went well, they smiled", "SECRET-DETAIL about my own past")
    before = len(supervisor.sent())
    await worker.send("/share")
    await worker.press("One entry")
    assert worker.buttons()[0].startswith("Reflection · ")
    replies = await worker.press(worker.buttons()[0])
    preview = "\n".join(replies)
    assert "Preview" in preview and "SECRET-DETAIL" in preview
    assert worker.buttons()[:2] == ["✓ 1", "✓ 2"]
    assert len(supervisor.sent()) == before  # nothing sent on preview

    await worker.press("✓ 2")  # leave the second answer out
    assert "Leaving out: 2" in worker.edits()[-1]
    await worker.press("Keep until I withdraw it")  # cycle expiry: 7 days
    await worker.press("Remove after 7 days")  # 30 days
    await worker.press("Remove after 30 days")  # back to none
    await worker.press("Share with Sam")
    assert "Shared with Sam" in worker.edits()[-1]

    received = supervisor.sent()[before:]
    assert len(received) == 1
    assert received[0].params["protect_content"] is True
    assert "It went well, they smiled" in received[0].params["text"]
    assert "SECRET-DETAIL" not in received[0].params["text"]
    # The log knows what, to whom, when and which answers; never the text.
    assert rows(bot, "SELECT kind, worker_id, supervisor_id, answers FROM shares") == [
        ("entry", 1001, 2002, '[[1, "impact"], [1, "share_learning"]]')
    ]

    # Withdraw within 48 hours: the supervisor's copy is deleted and they are told.
    replies = await worker.send("/shared")
    assert "Reflection" in replies[-1]
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert "I've deleted their copy" in worker.read()[-1]
    assert supervisor.deleted() == [before + 1]  # the summary's message id in their chat
    assert "has withdrawn what they shared" in supervisor.read()[-1]
    assert rows(bot, "SELECT event FROM share_events") == [("withdrawn",)]
    assert rows(bot, "SELECT COUNT(*) FROM share_bodies") == [(0,)]
    assert "Nothing has been shared with you" in (await supervisor.send("/summaries"))[-1]


async def test_keep_private_sends_nothing(worker: Chat, supervisor: Chat, bot: Harness) -> None:
    await link(worker, supervisor)
    await reflect(worker, "Private words", "More private words")
    before = len(supervisor.sent())
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    await worker.press("Keep private")
    assert "Nothing was shared" in worker.edits()[-1]
    assert len(supervisor.sent()) == before
    assert rows(bot, "SELECT COUNT(*) FROM shares") == [(0,)]
