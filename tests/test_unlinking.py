"""Unlinking withdraws what is still shared, like a withdrawal, unless the worker chooses to
leave it with the supervisor; both sides are told what actually happened."""

from __future__ import annotations

from tests.drivers import Chat, Clock, Harness
from tests.test_supervision import reflect, rows, share_first_entry


async def shared_once(worker: Chat, supervisor: Chat) -> int:
    """The worker shares one reflection; returns its message id in the supervisor's chat."""
    await reflect(worker, "Words only Sam should see", "More words")
    before = len(supervisor.sent())
    await share_first_entry(worker)
    assert len(supervisor.sent()) == before + 1
    return before + 1


async def test_the_worker_unlinks_and_withdraws_by_default(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    copy = await shared_once(worker, supervisor)
    await worker.send("/supervisor")
    replies = await worker.press("Unlink Sam")
    assert "They can still see 1 thing you shared" in replies[-1]
    assert worker.buttons() == ["Unlink and withdraw", "Unlink, leave it with Sam", "Keep the link"]
    await worker.press("Unlink and withdraw")
    assert rows(bot, "SELECT event FROM share_events") == [("withdrawn",)]
    assert rows(bot, "SELECT COUNT(*) FROM share_bodies") == [(0,)]
    assert rows(bot, "SELECT COUNT(*) FROM links WHERE ended_at IS NULL") == [(0,)]
    assert supervisor.deleted() == [copy]
    told = supervisor.read()[-1]
    assert "Alex has ended your link" in told and "withdrawn what they shared" in told
    assert "I've removed it from this chat" in told
    assert "I've deleted their copies" in worker.read()[-1]


async def test_the_worker_may_leave_it_with_the_supervisor_and_withdraw_later(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    copy = await shared_once(worker, supervisor)
    await worker.send("/supervisor")
    await worker.press("Unlink Sam")
    await worker.press("Unlink, leave it with Sam")
    assert rows(bot, "SELECT COUNT(*) FROM share_events") == [(0,)]
    assert rows(bot, "SELECT COUNT(*) FROM links WHERE ended_at IS NULL") == [(0,)]
    assert supervisor.deleted() == []
    assert "What they shared before stays in this chat" in supervisor.read()[-1]
    assert "You can still withdraw it from /shared" in worker.read()[-1]
    # Withdrawn afterwards from /shared, like any withdrawal.
    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert rows(bot, "SELECT event FROM share_events") == [("withdrawn",)]
    assert supervisor.deleted() == [copy]


async def test_the_supervisor_unlinks_and_what_was_shared_is_withdrawn(
    clock: Clock, bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await shared_once(worker, supervisor)
    clock.advance(hours=49)  # too old for Telegram to let the bot delete it
    await supervisor.send("/supervisor")
    replies = await supervisor.press("Unlink Alex")
    assert "I'll withdraw it" in replies[-1]
    await supervisor.press("Unlink")
    assert rows(bot, "SELECT event FROM share_events") == [("withdrawn",)]
    assert rows(bot, "SELECT COUNT(*) FROM share_bodies") == [(0,)]
    assert supervisor.deleted() == []
    assert "please delete them" in supervisor.read()[-1]
    told = worker.read()[-1]
    assert "Sam has ended your link" in told and "what you shared with them is withdrawn" in told
    assert "asked them to delete the older copies" in told


async def test_unlinking_with_nothing_shared_says_no_more_than_that(
    linked: tuple[Chat, Chat],
) -> None:
    worker, supervisor = linked
    await worker.send("/supervisor")
    await worker.press("Unlink Sam")
    assert worker.buttons() == ["Unlink", "Keep the link"]
    await worker.press("Unlink")
    assert worker.read()[-1] == "You're no longer linked with Sam. I've let them know."
    assert "Alex has ended your link in CoReflect." in supervisor.read()[-1]
