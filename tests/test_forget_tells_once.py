"""/forget says what it will also do (issue 18): end the link with Sam and tell them, withdraw
what was shared (summaries and team posts), cancel planned sessions; and Sam gets one message."""

from __future__ import annotations

from tests.drivers import Chat, Group, Harness
from tests.test_nudges import set_session
from tests.test_supervision import rows
from tests.test_team import propose, ready


async def test_forget_names_everything_it_ends_and_the_supervisor_hears_once(
    worker: Chat, supervisor: Chat, bot: Harness
) -> None:
    group = Group(bot)
    await ready(worker, supervisor, group)  # linked, a reflection shared, a team group
    await propose(supervisor)
    await worker.press("Share anonymously")  # a team post
    await worker.send("Another note for Sam, in a few more words than that")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press("1")
    await worker.press("Share with Sam")  # a second summary
    await set_session(worker, "Tue 14:00")
    posts_before = len(group.sent())

    replies = await worker.send("/forget")
    asked = replies[-1]
    assert "It will also:" in asked
    assert "end your link with Sam and tell them" in asked
    assert "withdraw 2 summaries you shared with Sam" in asked
    assert "withdraw 1 team post" in asked
    assert "cancel 1 planned supervision session" in asked

    before = len(supervisor.sent())
    await worker.press("Erase everything")
    await worker.press("Yes, erase it all now")
    told = supervisor.read()[before:]
    assert len(told) == 1, told  # one message, saying all of it
    assert told[0].startswith("Alex has stopped using CoReflect, so your link has ended.")
    assert "What they shared with you and their team posts are withdrawn" in told[0]
    assert "Supervision sessions planned in CoReflect are cancelled" in told[0]
    # both summaries, the /summaries list that named them, and one opened again from that list
    assert len(supervisor.deleted()) == 4
    assert group.deleted() == [posts_before]  # the post deleted in the group
    for table in ("links", "shares", "sessions", "team_posts"):
        assert rows(bot, f"SELECT COUNT(*) FROM {table}") == [(0,)], table


async def test_forget_with_nothing_linked_says_nothing_more(worker: Chat) -> None:
    await worker.send("A note, in a few more words than that")
    asked = (await worker.send("/forget"))[-1]
    assert "It will also" not in asked


async def test_a_supervisor_who_forgets_takes_no_copy_of_the_summaries_along(
    worker: Chat, supervisor: Chat, bot: Harness
) -> None:
    group = Group(bot)
    await ready(worker, supervisor, group)  # linked, a reflection shared, a team group
    asked = (await supervisor.send("/forget"))[-1]
    assert "This deletes your settings and your private key" in asked  # no "all 0 entries"
    assert "end your link with Alex and tell them" in asked
    assert "remove the summary Alex shared with you from this chat" in asked
    before = len(worker.sent())
    await supervisor.press("Erase everything")
    await supervisor.press("Yes, erase it all now")
    told = worker.read()[before:]
    assert len(told) == 1, told
    assert told[0].startswith("Sam has stopped using CoReflect, so your link has ended.")
    assert "The summary you shared with them is withdrawn and the copies removed" in told[0]
    assert "Your journal is just as it was" in told[0]
    assert supervisor.deleted(), "the summary left in the supervisor's chat"
    assert rows(bot, "SELECT COUNT(*) FROM audit WHERE action = 'share_withdrawn'") == [(1,)]
    assert rows(bot, "SELECT COUNT(*) FROM entries") == [(1,)]  # the worker's journal untouched
