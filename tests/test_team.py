"""Team learning, as people use it: three people and one group. Sam supervises Alex; Jo is
someone else. Sam registers the group, proposes learning from a summary, Alex decides; posts are
withdrawn inside and outside 48 hours; the group migrates; the bot is removed."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from bot.inbox import _chat_key
from bot.limits import TelegramLimits
from tests.drivers import Chat, Clock, Group, Harness, link
from tests.test_supervision import rows

LEARNED = "Saying less and listening more helped most"


@pytest.fixture
def group(bot: Harness) -> Group:
    return Group(bot)


async def reflection(worker: Chat, learned: str = LEARNED, share_learning: str = "yes") -> None:
    """A reflection with every answer; its last one says whether to share the learning."""
    await worker.send("/reflect")
    await worker.send("It went well, they smiled")
    await worker.send("It gave them hope")
    await worker.send("Nervous then, glad now")
    await worker.send(learned)
    label = {"yes": "Yes, I'd like to", "maybe": "Maybe later", "no": "No, not this"}
    await worker.press(label[share_learning])


async def share_newest(worker: Chat) -> None:
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    await worker.press("Share with Sam")


async def registered(supervisor: Chat, group: Group) -> None:
    group.admin(supervisor.person)
    replies = await group.send(supervisor.person, "/teamgroup@coreflect_test_bot")
    assert "now registered for team learning" in replies[-1]


async def propose(supervisor: Chat, framing: str | None = None) -> None:
    """Sam opens the newest summary, proposes it for the group, with or without a line."""
    await supervisor.send("/summaries")
    await supervisor.press_summary(1)
    await supervisor.press_under("Could this help your team learn?", "Propose for team")
    await supervisor.press("Peer workers forum")
    if framing is None:
        await supervisor.press("No line, send it")
    else:
        await supervisor.send(framing)


async def ready(worker: Chat, supervisor: Chat, group: Group, **answers: Any) -> None:
    """Linked, a reflection shared with Sam, the group registered."""
    await link(worker, supervisor)
    await reflection(worker, **answers)
    await share_newest(worker)
    await registered(supervisor, group)


# ---- registering a group -----------------------------------------------------------------


async def test_register_needs_an_administrator_who_supervises_someone(
    worker: Chat, supervisor: Chat, other: Chat, group: Group, bot: Harness, clock: Clock
) -> None:
    # An administrator who supervises nobody: refused, and no row for someone unknown.
    group.admin(other.person)
    replies = await group.send(other.person, "/teamgroup@coreflect_test_bot")
    assert "first link with someone you supervise" in replies[-1]
    assert rows(bot, "SELECT COUNT(*) FROM people WHERE id = 3003") == [(0,)]
    assert rows(bot, "SELECT COUNT(*) FROM team_groups") == [(0,)]
    # Strangers cost nothing: again and again, no more replies in this group for ten minutes,
    # and Telegram is never asked who they are.
    for _ in range(5):
        assert await group.send(other.person, "/teamgroup") == []
    assert not [c for c in bot.request.calls if c.method == "getChatMember"]

    # An anonymous administrator sends as the group itself: asked to show themselves first
    # (once the ten minutes are up).
    clock.advance(minutes=11)
    anonymous = supervisor.person.in_group(group.chat(), "/teamgroup")
    anonymous["message"]["sender_chat"] = group.chat()
    await bot.feed(anonymous)
    assert "anonymous administrator" in group.read()[-1]
    # Updates from a group keep their order by the group's chat id, my_chat_member too.
    assert _chat_key({"my_chat_member": {"chat": {"id": -4001}}}) == -4001

    await link(worker, supervisor)
    # A supervisor who is not an administrator: refused plainly, nothing stored.
    replies = await group.send(supervisor.person, "/teamgroup")
    assert replies == ["Only an administrator of this group can register it for team learning."]
    group.admin(supervisor.person, "creator")
    # Another bot's command, and anything else said in the group, are ignored.
    assert await group.send(supervisor.person, "/teamgroup@some_other_bot") == []
    assert await group.send(supervisor.person, "/start") == []
    assert await group.send(supervisor.person, "My client John Smith, 07700 900123") == []
    replies = await group.send(supervisor.person, "/teamgroup@CoReflect_Test_Bot")
    assert "now registered" in replies[-1]
    assert "Peer workers forum is registered" in supervisor.read()[-1]
    assert rows(bot, "SELECT chat_id, supervisor_id, ended_at FROM team_groups") == [
        (-4001, 2002, None)
    ]
    # The title is kept encrypted, like names.
    assert rows(bot, "SELECT COUNT(*) FROM team_groups WHERE title LIKE '%forum%'") == [(0,)]
    assert "already registered" in (await group.send(supervisor.person, "/teamgroup"))[-1]
    # Only the two replies to /teamgroup were ever sent there; nothing protected.
    assert all(c.params.get("protect_content") is None for c in group.sent())

    assert "Peer workers forum, registered" in (await supervisor.send("/teams"))[-1]
    await supervisor.press("Unregister Peer workers forum")
    await supervisor.press("Unregister")
    assert "no longer registered" in supervisor.read()[-1]
    assert "haven't registered a team group" in (await supervisor.send("/teams"))[-1]
    assert "in your team's Telegram group" in (await worker.send("/teamgroup"))[-1]


# ---- propose, preview, decide --------------------------------------------------------------


async def test_propose_preview_then_share_anonymously(
    worker: Chat, supervisor: Chat, group: Group, bot: Harness
) -> None:
    await ready(worker, supervisor, group)
    before = len(group.sent())
    await propose(supervisor, "One for our next forum")
    assert "I've asked Alex" in supervisor.read()[-1]
    assert len(group.sent()) == before  # nothing reaches the group on a proposal

    preview = worker.read()[-1]
    assert "Sam would like to share some of your learning with Peer workers forum" in preview
    assert LEARNED in preview and "One for our next forum" in preview
    assert "It went well" not in preview  # only the learning, not the whole summary
    assert "Alex" not in preview.split("exactly what would be posted")[1]
    assert worker.buttons() == ["Share anonymously", "Share with my first name", "Edit", "Decline"]
    # The words are stored encrypted, never in the clear.
    assert rows(bot, "SELECT COUNT(*) FROM team_post_bodies WHERE draft LIKE '%listening%'") == [
        (0,)
    ]

    await worker.press("Share anonymously")
    assert "Posted in Peer workers forum, without your name" in worker.edits()[-1]
    assert "Alex said yes" in supervisor.read()[-1]
    posts = group.posts()
    assert len(posts) == 1 and LEARNED in posts[0] and "One for our next forum" in posts[0]
    assert "Alex" not in posts[0] and "Sam" not in posts[0]
    assert rows(
        bot,
        "SELECT t.proposed_by, t.share_id, e.event, e.mode FROM team_posts t"
        " JOIN team_post_events e ON e.post_id = t.id ORDER BY e.seq",
    ) == [
        (2002, 1, "asked", None),
        (2002, 1, "consented", "anonymous"),
        (2002, 1, "posted", None),
    ]
    assert rows(bot, "SELECT chat_id FROM team_post_messages") == [(-4001,)]
    # Group chat ids are negative, which is how the rate limiter (bot/limits.py) tells a group
    # (20 a minute) from a private chat: the post was held to the group limit.
    limiter = bot.app.bot.rate_limiter
    assert isinstance(limiter, TelegramLimits)
    assert group.chat_id < 0 and group.chat_id in limiter.groups
    assert supervisor.chat_id not in limiter.groups and supervisor.chat_id in limiter.chats
    # Every getChatMember asked about the supervisor in the group (never the worker).
    asked = [c.params for c in bot.request.calls if c.method == "getChatMember"]
    assert asked and all(p == {"chat_id": -4001, "user_id": 2002} for p in asked)

    # The append-only log refuses edits.
    with sqlite3.connect(bot.config.data_dir / "coreflect.db") as db:
        for sql in (
            "UPDATE team_posts SET group_id = 0",
            "UPDATE team_post_events SET mode = 'named'",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(sql)

    # A stale button on the answered preview gets a kind word, and nothing more is posted.
    await worker.press_data("t:f:1:0", message_id=worker.keyboard()[0])
    assert worker.toasts()[-1] == "That one has already been answered"
    assert len(group.posts()) == 1


async def test_share_with_first_name_and_decline(
    worker: Chat, supervisor: Chat, group: Group, bot: Harness
) -> None:
    await ready(worker, supervisor, group)
    await propose(supervisor)
    await worker.press("Decline")
    assert worker.edits()[-1] == "OK, nothing was posted."
    assert "would rather not share that" in supervisor.read()[-1]
    assert group.posts() == []
    assert rows(bot, "SELECT COUNT(*) FROM team_post_bodies") == [(0,)]  # the words are gone

    await propose(supervisor)
    await worker.press("Share with my first name")
    assert "with your first name" in worker.edits()[-1]
    assert group.posts()[-1].startswith("Learning from sharing personal experience, from Alex")
    assert "with their first name" in supervisor.read()[-1]


async def test_edit_then_consent_needs_a_new_yes(
    worker: Chat, supervisor: Chat, group: Group, bot: Harness
) -> None:
    await ready(worker, supervisor, group)
    await propose(supervisor, "Alex taught us this")  # Sam's line names Alex
    assert "Your name is in it" in worker.read()[-1]
    first_preview, old = worker.keyboard()
    await worker.press("Share anonymously")
    assert worker.toasts()[-1].startswith("Your name is in it")
    assert group.posts() == []

    await worker.press("Edit")
    assert "Send me the words" in worker.read()[-1]
    assert f"Alex taught us this\n\n{LEARNED}" in worker.read()[-1]  # to copy and change
    await worker.send("Pausing before sharing, and asking whether it helps them, works for me")
    preview = worker.read()[-1]
    assert "Pausing before sharing" in preview and LEARNED not in preview
    # The old preview's button was for the old words: pressing it posts nothing.
    await worker.press_data(dict(old)["Share with my first name"], message_id=first_preview)
    assert "That preview has changed since" in worker.read()[-2]
    assert group.posts() == []

    await worker.press("Share with my first name")
    assert len(group.posts()) == 1 and "Pausing before sharing" in group.posts()[0]
    assert "Alex taught us this" not in group.posts()[0]  # Alex's version replaced it all
    assert rows(bot, "SELECT event FROM team_post_events ORDER BY seq") == [
        ("asked",),
        ("edited",),
        ("consented",),
        ("posted",),
    ]


async def test_identifying_details_are_pointed_out_in_the_preview(
    worker: Chat, supervisor: Chat, group: Group
) -> None:
    await ready(worker, supervisor, group, learned="My client John Smith taught me to slow down")
    # The journal's own check asked at the time; Alex kept it as written.
    await propose(supervisor)
    assert "could identify someone: a name" in worker.read()[-1]


async def test_the_supervisor_no_longer_an_administrator_is_refused_plainly(
    worker: Chat, supervisor: Chat, group: Group
) -> None:
    await ready(worker, supervisor, group)
    await propose(supervisor)
    group.admin(supervisor.person, "left")  # Sam left the group (no update told us)
    await worker.press("Share anonymously")
    assert "Sam isn't an administrator of Peer workers forum any more" in worker.read()[-1]
    assert group.posts() == []
    # And at propose time too.
    await supervisor.send("/summaries")
    await supervisor.press_summary(1)
    await supervisor.press_under("Could this help your team learn?", "Propose for team")
    await supervisor.press("Peer workers forum")
    assert "you're not an administrator" in supervisor.read()[-1]


# ---- withdrawal ----------------------------------------------------------------------------


async def test_withdraw_inside_48_hours_deletes_the_post(
    worker: Chat, supervisor: Chat, group: Group, bot: Harness, clock: Clock
) -> None:
    await ready(worker, supervisor, group)
    await propose(supervisor)
    await worker.press("Share anonymously")
    clock.advance(hours=47)
    replies = await worker.send("/shared")
    assert "Peer workers forum" in replies[-1] and "posted without your name" in replies[-1]
    await worker.press("Withdraw team post 1")
    await worker.press("Withdraw it")
    assert "I've deleted the post in Peer workers forum" in worker.read()[-1]
    assert group.deleted() == [len(group.sent())]  # the post was the group's last message
    assert "has withdrawn the learning" in supervisor.read()[-1]
    assert "I've deleted the post" in supervisor.read()[-1]
    assert rows(bot, "SELECT COUNT(*) FROM team_post_bodies") == [(0,)]
    assert rows(bot, "SELECT event FROM team_post_events ORDER BY seq DESC LIMIT 1") == [
        ("withdrawn",)
    ]
    assert "withdrawn" in (await worker.send("/shared"))[-1]
    await worker.press_data("t:w:1:yes")
    assert worker.toasts()[-1] == "That's already withdrawn"

    # /export holds the post's record (where, how, what became of it), never its words.
    await worker.send("/export")
    files = {
        c.params["document"].filename: c.params["document"].content
        for c in bot.request.calls
        if c.method == "sendDocument"
    }
    data = json.loads(next(v for k, v in files.items() if k.endswith(".json")))
    (post,) = data["team_posts"]
    assert post["group"] == {"chat_id": -4001, "title": "Peer workers forum"}
    assert post["mode"] == "anonymous" and post["status"] == "withdrawn"
    assert post["history"] == ["asked", "consented", "posted", "withdrawn"]
    md = next(v for k, v in files.items() if k.endswith(".md")).decode()
    assert "## Shared with a team group" in md and "Anonymously, in Peer workers forum" in md
    assert LEARNED not in json.dumps(data["team_posts"]) + md.split("## Shared with a team")[1]


async def test_withdraw_after_48_hours_asks_the_supervisor_to_delete(
    worker: Chat, supervisor: Chat, group: Group, clock: Clock
) -> None:
    await ready(worker, supervisor, group)
    await propose(supervisor)
    await worker.press("Share with my first name")
    clock.advance(hours=49)
    await worker.send("/shared")
    await worker.press("Withdraw team post 1")
    await worker.press("Withdraw it")
    assert "asked your supervisor to delete the post" in worker.read()[-1]
    assert group.deleted() == []
    assert "Please delete the post in the group" in supervisor.read()[-1]


# ---- the group changes -----------------------------------------------------------------------


async def test_group_migration_moves_the_registration(
    worker: Chat, supervisor: Chat, group: Group, bot: Harness
) -> None:
    await ready(worker, supervisor, group)
    await group.migrate(supervisor.person, -1009001)
    assert rows(bot, "SELECT chat_id FROM team_groups") == [(-1009001,)]
    await propose(supervisor)
    await worker.press("Share anonymously")
    assert [c.params["chat_id"] for c in bot.request.calls if c.params.get("protect_content")][
        -1
    ] == -1009001
    assert len(group.posts()) == 1
    # Nothing was ever sent to the old chat id but the first registration reply.
    assert [c.method for c in bot.request.calls if c.params.get("chat_id") == -4001] == [
        "getChatMember",
        "sendMessage",
    ]


async def test_bot_removed_unregisters_and_old_proposals_go_nowhere(
    worker: Chat, supervisor: Chat, group: Group, bot: Harness
) -> None:
    await ready(worker, supervisor, group)
    await propose(supervisor)
    await group.bot_removed(supervisor.person)
    assert rows(bot, "SELECT ended_why FROM team_groups") == [("removed",)]
    assert "I'm no longer in Peer workers forum" in supervisor.read()[-1]
    await worker.press("Share anonymously")
    assert "isn't available any more" in worker.read()[-1]
    assert group.posts() == []
    assert "haven't registered a team group" in (await supervisor.send("/teams"))[-1]


async def test_removed_by_someone_else_at_night_the_supervisor_hears_in_the_morning(
    worker: Chat, supervisor: Chat, other: Chat, group: Group, bot: Harness, clock: Clock
) -> None:
    await ready(worker, supervisor, group)
    clock.now = clock.now.replace(hour=22, minute=30)  # London is on GMT in December
    before = len(supervisor.sent())
    await group.bot_removed(other.person)  # a group admin, not Sam
    assert len(supervisor.sent()) == before  # not at half past ten at night
    clock.now = clock.now.replace(hour=8, minute=0) + timedelta(days=1)
    await bot.app.bot_data.alarm.run_due()
    assert "I'm no longer in Peer workers forum" in supervisor.read()[-1]


# ---- the worker starts it --------------------------------------------------------------------


async def test_worker_starts_team_learning_from_their_reflection(
    group: Group, bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await registered(supervisor, group)
    await reflection(worker, share_learning="no")
    await worker.send("/share")
    assert "Team learning" not in worker.buttons()  # only after saying they'd like to
    await reflection(worker, learned="Naming my own limits out loud")
    await worker.send("/share")
    await worker.press("Team learning")
    await worker.press(worker.buttons()[0])
    await worker.press("Peer workers forum")
    preview = worker.read()[-1]
    assert "Your learning for Peer workers forum" in preview
    assert "Naming my own limits" in preview and "Sam posts it for you" in preview
    await worker.press("Share anonymously")
    assert "I've sent it to Sam" in worker.edits()[-1]
    assert group.posts() == []
    request = supervisor.sent()[-1]
    assert request.params["protect_content"] is True
    assert "Naming my own limits" in request.params["text"]
    await supervisor.press("Post it")
    assert "Naming my own limits" in group.posts()[-1] and "Alex" not in group.posts()[-1]
    assert "Sam has posted your learning" in worker.read()[-1]
    # Withdrawn: the post goes from the group, and the request from Sam's chat.
    await worker.send("/shared")
    await worker.press("Withdraw team post 1")
    await worker.press("Withdraw it")
    assert group.deleted() == [len(group.sent())]
    assert supervisor.deleted() == [supervisor.sent().index(request) + 1]
    newest = rows(bot, "SELECT MAX(id) FROM entries WHERE flow = 'reflection'")[0][0]
    assert rows(bot, "SELECT proposed_by, share_id, entry_id FROM team_posts") == [
        (1001, None, newest)
    ]


async def test_forged_and_other_peoples_buttons_find_nothing(
    worker: Chat, supervisor: Chat, other: Chat, group: Group
) -> None:
    await ready(worker, supervisor, group)
    await propose(supervisor)
    await other.send("/start")
    for data in ("t:a:1:0", "t:f:1:0", "t:e:1", "t:d:1", "t:w:1:yes", "t:u:1:yes", "t:p:1"):
        await other.press_data(data)
    await other.press_data("t:g:1:1")
    await other.press_data("t:o:1")
    assert all(t.startswith("I couldn't find that") for t in other.toasts()[-9:])
    # Sam can't answer for Alex either.
    await supervisor.press_data("t:a:1:0")
    assert supervisor.toasts()[-1].startswith("I couldn't find that")
    assert group.posts() == []


async def test_a_post_telegram_refuses_is_recorded_as_not_posted(
    worker: Chat, supervisor: Chat, group: Group, bot: Harness
) -> None:
    """The bot was removed without our hearing of it: Telegram refuses the post (403)."""
    await ready(worker, supervisor, group)
    await propose(supervisor)
    bot.request.refuse_chats.add(group.chat_id)
    await worker.press("Share anonymously")
    assert "wouldn't let me post the learning" in worker.read()[-1]
    assert "wouldn't let me post the learning" in supervisor.read()[-1]
    assert rows(bot, "SELECT event FROM team_post_events ORDER BY seq DESC LIMIT 1") == [
        ("not_posted",)
    ]
    assert rows(bot, "SELECT COUNT(*) FROM team_post_bodies") == [(0,)]
    assert "not posted" in (await worker.send("/shared"))[-1]


async def test_forget_withdraws_posts_first(
    worker: Chat, supervisor: Chat, group: Group, bot: Harness
) -> None:
    await ready(worker, supervisor, group)
    await propose(supervisor)
    await worker.press("Share anonymously")
    await worker.send("/forget")
    await worker.press("Erase everything")
    await worker.press("Yes, erase it all now")
    assert group.deleted() == [len(group.sent())]
    assert rows(bot, "SELECT COUNT(*) FROM team_posts") == [(0,)]
    assert rows(bot, "SELECT COUNT(*) FROM team_groups") == [(1,)]  # Sam's registration stays


async def test_a_group_nobody_registers_within_an_hour_is_left(
    supervisor: Chat, other: Chat, group: Group, bot: Harness, clock: Clock
) -> None:
    from bot.inbox import InboxRunner

    await group.bot_added(other.person)
    assert await group.send(other.person, "/teamgroup") != []  # one short reply
    runner = InboxRunner(bot.app, bot.service)
    clock.advance(minutes=59)
    await runner._leave_strays()
    assert not [c for c in group.calls() if c.method == "leaveChat"]
    clock.advance(minutes=2)
    await runner._leave_strays()
    await runner._leave_strays()  # once is enough
    assert [c.method for c in group.calls() if c.method == "leaveChat"] == ["leaveChat"]
    assert not [c for c in bot.request.calls if c.method == "getChatMember"]


async def test_a_group_a_stranger_added_the_bot_to_costs_nothing(
    worker: Chat, supervisor: Chat, other: Chat, group: Group, bot: Harness, clock: Clock
) -> None:
    """Jo, unknown here, adds the bot; 100 /teamgroup follow, from Jo and from Sam (a supervisor
    and an administrator of the group): one short reply, Telegram never asked about anyone,
    and the bot leaves after an hour. Sam adding it again himself can register it."""
    from bot.inbox import InboxRunner

    await link(worker, supervisor)
    group.admin(other.person)
    group.admin(supervisor.person)
    await group.bot_added(other.person)
    before = len(bot.request.calls)
    for n in range(100):
        await group.send(other.person if n % 2 else supervisor.person, "/teamgroup")
    assert len(group.read()) == 1
    assert "remove me from this group, add me again" in group.read()[0]
    assert [c.method for c in bot.request.calls[before:]] == ["sendMessage"]
    assert rows(bot, "SELECT COUNT(*) FROM team_groups") == [(0,)]
    assert rows(bot, "SELECT COUNT(*) FROM people WHERE id = 3003") == [(0,)]
    runner = InboxRunner(bot.app, bot.service)
    clock.advance(minutes=61)
    await runner._leave_strays()
    assert [c.method for c in group.calls() if c.method == "leaveChat"] == ["leaveChat"]
    assert not [c for c in bot.request.calls if c.method == "getChatMember"]

    # Sam adds the bot himself: known here, so his /teamgroup is checked and registers.
    await group.bot_added(supervisor.person)
    replies = await group.send(supervisor.person, "/teamgroup")
    assert "now registered" in replies[-1]
