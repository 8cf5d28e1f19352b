"""Supervisors, as people use them: invite, confirm on both sides, share with a preview,
withdraw, expire, unlink, the supervisor's lists, and co-reflection rounds."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from bot.delivery import sweep
from tests.drivers import Chat, Clock, Harness, invite_code, link


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

    # The supervisor opens the deep link: greeted as a supervisor (not with the peer worker's
    # welcome), told what linking means, and only then asked about their time zone.
    replies = await supervisor.send(f"/start link_{code.replace('-', '')}")
    assert len(replies) == 2, replies
    assert "Hello Sam" in replies[0] and "As their supervisor" in replies[0]
    assert "help you think through sharing" not in replies[0]
    assert "only ever see summaries Alex chooses to share" in replies[-1]
    assert supervisor.buttons() == ["Yes, link", "Not now"]
    assert rows(bot, "SELECT COUNT(*) FROM links") == [(0,)]

    replies = await supervisor.press("Yes, link")
    assert "asked Alex to confirm" in replies[0]
    assert "Europe/London time. Is that right?" in replies[-1]
    assert "Sam wants to link as your supervisor" in worker.read()[-1]
    assert rows(bot, "SELECT COUNT(*) FROM links") == [(0,)]  # not until the worker says yes

    await worker.press("Yes, link")
    assert "You're linked with Sam" in worker.read()[-1]
    assert "Alex confirmed" in supervisor.read()[-1]
    assert rows(bot, "SELECT worker_id, supervisor_id, ended_at FROM links") == [(1001, 2002, None)]
    # Sam's own command menu now holds the supervisor's commands.
    menus = [c for c in bot.request.calls if c.method == "setMyCommands" and "scope" in c.params]
    assert len(menus) == 1 and menus[0].params["scope"] == {"type": "chat", "chat_id": 2002}
    names = [c["command"] for c in menus[0].params["commands"]]
    assert {"supervisees", "summaries", "supervision", "teams", "link"} <= set(names)
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
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
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
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await reflect(worker, "It went well, they smiled", "SECRET-DETAIL about my own past")
    before = len(supervisor.sent())
    await worker.send("/share")
    await worker.press("One entry")
    picker = worker.read()[-1]  # recognisable: its date and first words, as /entries shows
    assert "Reflection" in picker and "It went well, they smiled" in picker
    replies = await worker.press("1")
    preview = "\n".join(replies)
    assert "Preview" in preview and "SECRET-DETAIL" in preview
    assert "would be shared" in preview and "Shared on" not in preview
    assert worker.buttons()[0] == "✓ Until I withdraw it"
    assert len(supervisor.sent()) == before  # nothing sent on preview

    # Leave the second answer out, under the entry itself: only that message changes.
    await worker.press_under("SECRET-DETAIL", "Leave out: How it helped, what worked")
    assert "How it helped, what worked (left out)" in worker.edits()[-1]
    assert "SECRET-DETAIL" not in worker.edits()[-1]
    await worker.press_under("would be shared with Sam", "For 7 days")
    assert "for 7 days" in worker.edits()[-1]
    await worker.press_under("would be shared with Sam", "For 30 days")
    await worker.press_under("would be shared with Sam", "Until I withdraw it")
    assert "✓ Until I withdraw it" in worker.buttons()
    await worker.press_under("would be shared with Sam", "Share with Sam")
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


async def test_keep_private_sends_nothing(bot: Harness, linked: tuple[Chat, Chat]) -> None:
    worker, supervisor = linked
    await reflect(worker, "Private words", "More private words")
    before = len(supervisor.sent())
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    await worker.press("Keep private")
    assert "Nothing was shared" in worker.edits()[-1]
    assert len(supervisor.sent()) == before
    assert rows(bot, "SELECT COUNT(*) FROM shares") == [(0,)]


async def test_withdraw_after_48_hours_asks_the_supervisor_to_delete(
    clock: Clock, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await reflect(worker, "Words from two days ago", "More")
    await share_first_entry(worker)
    clock.advance(hours=49)
    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert "asked them to delete their copy" in worker.read()[-1]
    assert supervisor.deleted() == []
    assert "Please delete your copy" in supervisor.read()[-1]
    assert "Nothing has been shared with you" in (await supervisor.send("/summaries"))[-1]


async def test_expiry_after_7_days_removes_it_like_a_withdrawal(
    clock: Clock, bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await reflect(worker, "A week-long share", "More")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    await worker.press("For 7 days")
    await worker.press("Share with Sam")
    assert "for 7 days" in worker.edits()[-1]
    await supervisor.send("/summaries")
    assert "A week-long share" in (await supervisor.press_summary(1))[-1]
    clock.advance(days=6, hours=23)
    await sweep(bot.app.bot, bot.service)
    assert rows(bot, "SELECT COUNT(*) FROM share_events") == [(0,)]
    clock.advance(hours=2)
    # Hidden from the lists as soon as it is due, even before the sweep runs.
    assert "Nothing has been shared with you" in (await supervisor.send("/summaries"))[-1]
    await sweep(bot.app.bot, bot.service)
    assert rows(bot, "SELECT event FROM share_events") == [("expired",)]
    assert rows(bot, "SELECT COUNT(*) FROM audit WHERE action = 'share_expired'") == [(1,)]
    assert "that time is up" in supervisor.read()[-1]
    assert "Please delete your copy" in supervisor.read()[-1]  # sent over 48 hours ago
    assert "expired" in (await worker.send("/shared"))[-1]
    assert worker.sent()[-1].params.get("reply_markup") is None  # nothing left to withdraw


async def test_supervisor_lists_newest_first_paged_and_ids_checked(
    other: Chat, bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    for n in range(7):
        await worker.send(f"Journal note number {chr(97 + n)}")
        await share_first_entry(worker)
    await worker.send("/shared")
    await worker.press("Withdraw 2")  # the second newest: note f
    await worker.press("Withdraw it")

    replies = await supervisor.send("/summaries")
    assert replies[-1].count("Alex · “Journal note number") == 5
    # Each summary is named by its first words, marked new until it is opened.
    assert supervisor.buttons() == [
        *(f"🆕 Alex: Journal note number {c}" for c in "gedcb"),
        "Older »",
    ]
    first = supervisor.summary_buttons()[0][1]
    assert "Journal note number g" in (await supervisor.press_summary(1))[-1]
    await supervisor.press_data("y:1")
    assert supervisor.buttons() == ["🆕 Alex: Journal note number a", "« Newer"]
    assert "Journal note number a" in (await supervisor.press_summary(1))[-1]
    await supervisor.send("/summaries")
    assert supervisor.buttons()[0] == "Alex: Journal note number g"  # opened: no longer new

    # Someone else pressing the supervisor's button, or forged ids, find nothing.
    await other.send("/start")
    before = len(other.sent())
    await other.press_data(first)
    await other.press_data("m:999")
    await other.press_data("w:1:yes")
    await other.press_data("n:1:yes")
    await other.press_data("r:1:reveal")
    assert len(other.sent()) == before
    assert all(t.startswith("I couldn't find that") for t in other.toasts()[-5:])
    assert rows(bot, "SELECT COUNT(*) FROM links WHERE ended_at IS NULL") == [(1,)]

    # /supervisees lists the linked worker; unlinking hides every summary (even those the
    # worker chose to leave with the supervisor rather than withdraw).
    assert "Alex, linked since" in (await supervisor.send("/supervisees"))[-1]
    await worker.send("/supervisor")
    await worker.press("Unlink Sam")
    await worker.press("Unlink, leave it with Sam")
    assert "Nothing has been shared" in (await supervisor.send("/summaries"))[-1]
    await supervisor.press_data(first)
    assert supervisor.toasts()[-1].startswith("I couldn't find that")


async def test_sharing_episode_and_supervision_pack_by_proctor(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await worker.send("/moment")
    await worker.send("My time off work")
    for label in ["A colleague", "Some detail", "To offer hope or ideas", "Yes", "Yes", "Not sure"]:
        await worker.press(label)
    await worker.send("/reflect")
    await worker.press(worker.buttons()[0])  # link to the check: one sharing episode
    await worker.send("It went fine")
    for _ in range(3):
        await worker.send("/skip")
    await worker.press("Maybe later")

    await worker.send("/share")
    await worker.press("A sharing episode")
    assert "In the moment → Reflection" in worker.read()[-1]
    assert "My time off work" in worker.read()[-1]  # its first words
    replies = await worker.press("1")
    assert "My time off work" in "".join(replies)
    await worker.press("Share with Sam")
    text = supervisor.read()[-1]
    assert text.index("My time off work") < text.index("It went fine")

    # Flag both and a note; put the note under quality and boundaries.
    await worker.send("Worried about where my boundaries are")
    for number in ("1", "2", "3"):
        await worker.send("/entries")
        await worker.press(number)
        await worker.press("Bring to supervision")
    await worker.send("/entries")
    await worker.press("1")
    assert "Support and wellbeing" in worker.read()[-1]  # a note's default
    await worker.press("Pack section")
    await worker.press("Quality and boundaries")

    await worker.send("/share")
    assert "Supervision pack (3)" in worker.buttons()
    replies = await worker.press("Supervision pack (3)")
    preview = "\n".join(replies)
    for section in ("Learning and development", "Quality and boundaries", "Support and wellbeing"):
        assert section in preview
    await worker.press("Share with Sam")
    pack = supervisor.read()[-1]
    learning, quality, wellbeing = (
        pack.index("Learning and development"),
        pack.index("Quality and boundaries"),
        pack.index("Support and wellbeing"),
    )
    assert learning < pack.index("It went fine") < quality  # a reflection: learning
    assert quality < pack.index("boundaries are") < wellbeing  # moved by the worker
    assert quality < pack.index("My time off work") < wellbeing  # a check: boundaries
    assert "Nothing here this time" in pack[wellbeing:]

    # The next pack starts after this one.
    # The next pack starts after this one: while nothing is marked, /share doesn't offer it.
    await worker.send("/share")
    assert worker.buttons() == ["One entry", "A sharing episode"]
    assert "once you mark entries" in worker.read()[-1]
    assert "Nothing is marked" in (await worker.press_data("h:k:0"))[-1]  # an old button


async def test_an_edit_after_the_preview_means_a_new_preview(linked: tuple[Chat, Chat]) -> None:
    """Consent is for the exact text previewed: words edited meanwhile are not sent unseen."""
    worker, supervisor = linked
    first = worker.person.text("Words as first written")
    await worker.send_update(first)
    before = len(supervisor.sent())
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    # Edited in Telegram while the preview is open.
    await worker.send_update(worker.person.edited(first["message"]["message_id"], "Changed"))
    replies = await worker.press("Share with Sam")
    assert "Something changed since that preview" in replies[0]
    assert "Changed" in "\n".join(replies[1:])  # the new preview
    assert len(supervisor.sent()) == before
    await worker.press("Share with Sam")
    assert "Changed" in supervisor.read()[-1]
    assert not any("first written" in t for t in supervisor.read())


async def test_withdrawn_before_it_could_be_sent_is_never_sent(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    """A summary left in the outbox (Telegram unreachable) and withdrawn meanwhile never goes."""
    worker, supervisor = linked
    await worker.send("Held back by the network")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    bot.request.fail_chats = {supervisor.chat_id}
    await worker.press("Share with Sam")
    bot.request.fail_chats = set()
    assert rows(bot, "SELECT COUNT(*) FROM outbox WHERE guard_kind = 'share'") == [(1,)]
    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert rows(bot, "SELECT COUNT(*) FROM outbox WHERE guard_kind = 'share'") == [(0,)]
    assert not any("Held back" in t for t in supervisor.read())


async def test_forget_withdraws_and_unlinks_first(bot: Harness, linked: tuple[Chat, Chat]) -> None:
    worker, supervisor = linked
    await worker.send("Something I shared and then erased")
    await share_first_entry(worker)
    await worker.send("/forget")
    await worker.press(worker.buttons()[0])
    await worker.press(worker.buttons()[0])
    assert supervisor.deleted() == [len(supervisor.sent()) - 1]  # one message after it
    assert "stopped using CoReflect" in supervisor.read()[-1]
    assert "What they shared with you is withdrawn" in supervisor.read()[-1]
    for table in ("links", "shares", "share_events", "share_bodies", "invites"):
        assert rows(bot, f"SELECT COUNT(*) FROM {table}") == [(0,)], table


# ---- co-reflection ---------------------------------------------------------------------------


async def answer_round(chat: Chat, words: str) -> None:
    await chat.send(f"On my mind: {words}")
    for _ in range(4):
        await chat.send("/skip")


async def test_coreflection_both_agree_then_see_both(
    bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    replies = await supervisor.send("/coreflect")  # supervisors model sharing: they can start
    assert "1 of 5" in replies[-1]
    assert "Sam has started a co-reflection round" in worker.read()[-1]
    await answer_round(supervisor, "SUP-WORDS")
    assert "I'll let you know when Alex has finished" in supervisor.read()[-1]
    await worker.press("Answer now")
    await answer_round(worker, "WORKER-WORDS")
    assert "Would you like to see each other's answers" in worker.read()[-1]
    assert "Would you like to see each other's answers" in supervisor.read()[-1]
    await worker.press("Yes, show each other")
    assert not any("SUP-WORDS" in t for t in worker.read())
    await supervisor.press("Yes, show each other")
    for chat, theirs in ((worker, "SUP-WORDS"), (supervisor, "WORKER-WORDS")):
        revealed = [c for c in chat.sent() if theirs in str(c.params["text"])]
        assert len(revealed) == 1 and revealed[0].params["protect_content"] is True
    # Each person's answers are their own journal entries.
    assert rows(bot, "SELECT person_id FROM entries WHERE flow = 'coreflection' ORDER BY 1") == [
        (1001,),
        (2002,),
    ]
    assert rows(bot, "SELECT outcome FROM coreflections") == [("revealed",)]


async def test_coreflection_one_declines_nothing_is_shown(linked: tuple[Chat, Chat]) -> None:
    worker, supervisor = linked
    await worker.send("/coreflect")
    await answer_round(worker, "WORKER-WORDS")
    await supervisor.press("Answer now")
    await answer_round(supervisor, "SUP-WORDS")
    await supervisor.press("Yes, show each other")
    await worker.press("Keep mine private")
    assert "stays private" in worker.read()[-1] and "stays private" in supervisor.read()[-1]
    assert not any("WORKER-WORDS" in t for t in supervisor.read())
    assert not any("SUP-WORDS" in t for t in worker.read())


async def test_coreflection_withdraw_before_reveal(linked: tuple[Chat, Chat]) -> None:
    worker, supervisor = linked
    await worker.send("/coreflect")
    await answer_round(worker, "WORKER-WORDS")
    await worker.press("Withdraw from this round")
    assert "Alex has closed this co-reflection round" in supervisor.read()[-1]
    replies = await supervisor.press("Answer now")
    assert "has closed" in replies[-1]
    assert not any("WORKER-WORDS" in t for t in supervisor.read())


async def share_first_entry(worker: Chat) -> None:
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    await worker.press(f"Share with {'Sam'}")


def test_only_the_gate_adds_messages_for_other_people() -> None:
    """One gate: no module but flows/gate.py puts anything in Outcome.others."""
    import flows

    folder = Path(flows.__file__).parent
    writers = sorted(
        path.name
        for path in folder.rglob("*.py")
        if re.search(r"\.others\s*(\.append|\.extend|\+=|=)", path.read_text())
    )
    assert writers == ["gate.py"]


async def test_export_lists_what_was_shared_and_how_it_stands(
    clock: Clock, bot: Harness, linked: tuple[Chat, Chat]
) -> None:
    """/export after sharing: the share log is in both files (never the supervisor's copy of the
    words), with a withdrawn share and one past its expiry but not yet swept."""
    worker, _ = linked
    await worker.send("A note to withdraw")
    await share_first_entry(worker)
    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    await worker.send("A note that runs out")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    await worker.press("For 7 days")
    await worker.press("Share with Sam")
    clock.advance(days=8)  # past its expiry; the sweep has not run
    await worker.send("/export")
    calls = [c for c in bot.request.calls if c.method == "sendDocument"]
    files = {c.params["document"].filename: c.params["document"].content for c in calls}
    data = json.loads(next(v for k, v in files.items() if k.endswith(".json")))
    md = next(v for k, v in files.items() if k.endswith(".md")).decode()
    shares = data["shares"]
    assert [(s["kind"], s["status"]) for s in shares] == [
        ("entry", "expired"),
        ("entry", "withdrawn"),
    ]
    assert all(s["with"] == {"id": 2002, "first_name": "Sam"} for s in shares)
    assert shares[0]["ended_at"] == shares[0]["expires_at"] is not None
    assert "## What you've shared" in md and "shared with Sam" in md
