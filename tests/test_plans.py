"""Plans (issue 24), as a person would use them: the Wellness at Work plan, the development plan
and the biography are each one living document. Running the set again shows each answer to keep
or change; a change is a new dated version, the earlier one kept and there to look back through;
/entries lists the plan once; export carries every version and /forget erases them; the wellness
plan shares through the usual preview with an answer left out; marked plans land in the pack
under their Proctor function."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from flows.kernel.when import to_utc
from tests.drivers import Chat, Clock, Harness

WELLNESS = [
    "A walk at lunch keeps me well",
    "I stop answering messages",
    "I go quiet in team meetings",
    "A short check-in helps, being rushed does not",
    "Flexible start times on clinic days",
    "My team leader first",
]


def rows(bot: Harness, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.service.store.path) as db:
        return db.execute(sql).fetchall()


async def make_wellness(chat: Chat, answers: list[str] = WELLNESS) -> list[str]:
    replies = await chat.send("/wellness")
    assert "Wellness at Work plan" in replies[0]
    for answer in answers:
        replies = await chat.send(answer)
    return replies


async def change_one(chat: Chat, clock: Clock, index: int, words: str) -> list[str]:
    """Run /wellness again a month on: keep every answer but one, which is rewritten."""
    clock.advance(days=31)
    replies = await chat.send("/wellness")
    for n, answer in enumerate(WELLNESS):
        question = replies[-1]
        assert answer in question, (n, question)  # the current answer, shown under the question
        assert "Keep as it is" in chat.buttons()
        replies = await chat.send(words) if n == index else await chat.press("Keep as it is")
    return replies


async def test_a_plan_is_one_living_document_with_dated_versions(
    chat: Chat, bot: Harness, clock: Clock
) -> None:
    await chat.send("/start")
    replies = await make_wellness(chat)
    said = "\n".join(replies)
    assert "A walk at lunch keeps me well" in said and "run it again" in said
    replies = await change_one(chat, clock, 4, "Flexible start times and a quiet room")
    said = "\n".join(replies)
    assert "is updated" in said and "kept too" in said
    assert rows(bot, "SELECT superseded_at IS NULL FROM entries ORDER BY id") == [(0,), (1,)]

    # /entries lists the plan once, with the date it was last looked over.
    replies = await chat.send("/entries")
    assert replies[0].count("Wellness at Work plan") == 1
    assert "last reviewed" in replies[0]
    assert chat.buttons() == ["1"]
    replies = await chat.press("1")
    shown = "\n".join(replies)
    assert "Flexible start times and a quiet room" in shown  # the latest is what's shown
    assert "Flexible start times on clinic days" not in shown
    assert "Last reviewed" in shown
    assert "Edit" not in chat.buttons()  # changed by looking it over again: a new version
    # The earlier version is kept and can be read.
    replies = await chat.press("Earlier versions (1)")
    await chat.press("1")
    earlier = "\n".join(chat.read()[-2:])
    assert "Flexible start times on clinic days" in earlier
    assert "An earlier version" in earlier
    assert "Delete" not in chat.buttons() and "Latest version" in chat.buttons()

    # Looking it over and changing nothing makes no new version: it's marked reviewed.
    clock.advance(days=40)
    await chat.send("/wellness")
    for _ in WELLNESS:
        replies = await chat.press("Keep as it is")
    assert "Nothing changed" in "\n".join(replies)
    assert rows(bot, "SELECT superseded_at IS NULL FROM entries ORDER BY id") == [(0,), (1,)]


async def test_export_carries_every_version_and_forget_erases_them(
    chat: Chat, bot: Harness, clock: Clock
) -> None:
    await chat.send("/start")
    await make_wellness(chat)
    await change_one(chat, clock, 0, "CANARY-new walking at lunch")
    await chat.send("/export")
    calls = [c for c in bot.request.calls if c.method == "sendDocument"]
    body = next(
        c.params["document"].content.decode()
        for c in calls
        if c.params["document"].filename.endswith(".json")
    )
    data = json.loads(body)
    texts = [a["text"] for e in data["entries"] for a in e["answers"]]
    assert "A walk at lunch keeps me well" in texts  # the earlier version
    assert "CANARY-new walking at lunch" in texts  # and the latest
    await chat.send("/forget")
    await chat.press("Erase everything")
    await chat.press("Yes, erase it all now")
    for table in ["entries", "answers"]:
        assert rows(bot, f"SELECT COUNT(*) FROM {table}") == [(0,)], table


async def test_development_and_biography_are_plans_too(chat: Chat, bot: Harness) -> None:
    await chat.send("/start")
    replies = await chat.send("/development")
    assert "development plan" in replies[0]
    for answer in ["Coaching skills, from my own recovery", "Time for a course", "By spring"]:
        replies = await chat.send(answer)
    assert "Coaching skills" in "\n".join(replies)
    replies = await chat.send("/biography")
    assert "biography" in replies[0]
    replies = await chat.send("Ten years in housing support")
    assert "Question 2 of 4" in replies[-1]
    for _ in range(3):
        await chat.send("/skip")
    assert rows(bot, "SELECT flow, status FROM entries ORDER BY id") == [
        ("development", "saved"),
        ("biography", "saved"),
    ]


async def test_the_identifying_check_runs_on_plan_answers(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("/wellness")
    await chat.send("A walk at lunch")
    await chat.send("/skip")
    await chat.send("/skip")
    await chat.send("/skip")
    await chat.send("/skip")
    replies = await chat.send("Call me on 07700 900123")
    assert any("phone number" in r for r in replies), replies


async def test_sharing_the_wellness_plan_with_one_answer_left_out_then_withdrawing(
    bot: Harness, clock: Clock, linked: tuple[Chat, Chat]
) -> None:
    worker, supervisor = linked
    await make_wellness(worker)
    await change_one(worker, clock, 4, "Flexible start times and a quiet room")
    before = len(supervisor.sent())
    await worker.send("/share")
    await worker.press("One entry")
    picker = worker.read()[-1]
    assert picker.count("Wellness at Work plan") == 1  # the latest version only
    replies = await worker.press("1")
    preview = "\n".join(replies)
    assert "Flexible start times and a quiet room" in preview
    assert "Flexible start times on clinic days" not in preview  # not the earlier version
    await worker.press_under("I go quiet in team meetings", "Leave out: What others might notice")
    await worker.press_under("would be shared with Sam", "Share with Sam")
    received = supervisor.sent()[before:]
    assert len(received) == 1
    text = received[0].params["text"]
    kept = [w for n, w in enumerate(WELLNESS) if n not in {2, 4}]
    for words in [*kept, "Flexible start times and a quiet room"]:
        assert words in text, words
    assert "I go quiet in team meetings" not in text
    assert "Flexible start times on clinic days" not in text

    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert supervisor.deleted() == [before + 1]
    assert "Nothing has been shared with you" in (await supervisor.send("/summaries"))[-1]
    assert rows(bot, "SELECT COUNT(*) FROM share_bodies") == [(0,)]


async def test_marked_plans_land_in_the_pack_under_their_proctor_function(
    linked: tuple[Chat, Chat],
) -> None:
    worker, _ = linked
    await make_wellness(worker)
    await worker.send("/development")
    await worker.send("Coaching skills, from my own recovery")
    await worker.send("/skip")
    await worker.send("/skip")
    for number in ("1", "2"):
        await worker.send("/entries")
        await worker.press(number)
        await worker.press("Bring to supervision")
    await worker.send("/share")
    preview = "\n".join(await worker.press("Supervision pack (2)"))
    support = preview.index("Support and wellbeing")
    learning = preview.index("Learning and development")
    quality = preview.index("Quality and boundaries")
    wellness = preview.index("A walk at lunch keeps me well")
    development = preview.index("Coaching skills, from my own recovery")
    # Each under its own heading: learning and development comes first in the pack.
    assert learning < development < quality < support < wellness


# ---- the review reminder ---------------------------------------------------------------------

START = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)  # Wed 2 Dec 2026, 16:30 in London (GMT)


def move_to(clock: Clock, local: str) -> None:
    clock.now = to_utc(datetime.strptime(local, "%Y-%m-%d %H:%M"), "Europe/London")


async def due(bot: Harness) -> int:
    return int(await bot.app.bot_data.alarm.run_due())


def invitations(chat: Chat) -> list[str]:
    return [t for t in chat.sent_texts() if "since you looked over" in t]


async def test_the_review_reminder_arrives_once_three_months_on_at_their_time(
    chat: Chat, bot: Harness, clock: Clock
) -> None:
    clock.now = START
    await chat.send("/start")
    await make_wellness(chat)
    replies = await chat.send("/reminders")
    assert "Looking over your plans: every 3 months, at 09:00" in replies[-1]
    move_to(clock, "2027-03-02 08:59")
    assert await due(bot) == 0
    move_to(clock, "2027-03-02 09:00")
    assert await due(bot) == 1
    (invite,) = invitations(chat)
    assert "Wellness at Work plan" in invite and "2 December" in invite
    move_to(clock, "2027-03-02 12:00")
    assert await due(bot) == 0  # once
    replies = await chat.press("Look over and change")
    assert "A walk at lunch keeps me well" in replies[-1]  # the set again, their answers shown


async def test_no_review_reminder_during_a_pause_or_when_switched_off(
    chat: Chat, bot: Harness, clock: Clock
) -> None:
    clock.now = START
    await chat.send("/start")
    await make_wellness(chat)
    move_to(clock, "2027-02-20 10:00")
    await chat.send("/reminders")
    await chat.press("Pause everything")
    await chat.press("4 weeks")  # until Sat 20 March
    move_to(clock, "2027-03-02 09:00")
    assert await due(bot) == 0
    assert invitations(chat) == []
    move_to(clock, "2027-03-20 08:00")  # the pause is over, and so are the quiet hours
    assert await due(bot) == 1
    assert len(invitations(chat)) == 1

    # Switched off in /reminders: nothing for a year.
    await chat.send("/wellness")
    await chat.send("A new answer")
    for _ in WELLNESS[1:]:
        await chat.press("Keep as it is")
    await chat.send("/reminders")
    for label in ["every 3 months", "every 6 months", "every 12 months", "every 1 month"]:
        await chat.press(f"Looking over plans: {label}")
    assert "Looking over plans: off" in chat.buttons()
    move_to(clock, "2028-04-01 09:00")
    assert await due(bot) == 0
    assert len(invitations(chat)) == 1


# ---- the biography for team materials ----------------------------------------------------------


async def test_the_biography_pdf_and_text_hold_exactly_the_answers_kept(
    chat: Chat, bot: Harness
) -> None:
    import io

    import pypdf

    await chat.send("/start")
    await chat.send("/biography")
    bio = [
        "Ten years in housing support <&>",
        "Wild swimming and the allotment",
        "Someone once listened to me",
        "PRIVATE-bit about my own recovery",
    ]
    for answer in bio:
        await chat.send(answer)
    await chat.send("/entries")
    await chat.press("1")
    replies = await chat.press("📄 For team materials")
    assert "My work so far\nTen years in housing support <&>\n\nOutside work" in replies[-1]
    await chat.press("Leave out: My own experience")
    assert "My own experience (left out)" in chat.edits()[-1]
    assert "PRIVATE-bit" not in chat.edits()[-1]
    replies = await chat.press("Make the PDF and text")
    text = replies[-1]
    for words in bio[:3]:
        assert words in text, words
    assert "PRIVATE-bit" not in text
    (call,) = [c for c in bot.request.calls if c.method == "sendDocument"]
    upload = call.params["document"]
    assert upload.filename.endswith(".pdf") and upload.content.startswith(b"%PDF-")
    printed = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(upload.content)).pages)
    printed = " ".join(printed.split())
    for words in [*bio[:3], "Outside work", "Why I do this work"]:
        assert words in printed, words
    assert "PRIVATE-bit" not in printed and "My own experience" not in printed
    assert not list(bot.config.data_dir.glob("*.pdf"))  # made in memory, never stored
    # A forged mask or entry is not found, never an error.
    await chat.press_data("pb:1:99")
    await chat.press_data("pb:999:0:make")
    assert all(t.startswith("I couldn't find that") for t in chat.toasts()[-2:])


async def changing_one_answer(chat: Chat, clock: Clock) -> None:
    """A wellness plan made, then looked over a month on, its first answer changed so far."""
    await chat.send("/start")
    await make_wellness(chat)
    clock.advance(days=31)
    await chat.send("/wellness")
    await chat.send("Running, not walking, keeps me well")


async def test_stopping_a_look_over_leaves_the_plan_as_it_was_and_no_draft(
    chat: Chat, bot: Harness, clock: Clock
) -> None:
    await changing_one_answer(chat, clock)  # then they stop
    replies = await chat.send("/cancel")
    assert "stays as it was last saved" in replies[-1]
    assert chat.buttons() == ["Leave it as it was", "Carry on"]  # no draft beside the plan
    replies = await chat.press("Leave it as it was")
    assert "as it was last saved" in replies[-1]
    assert rows(bot, "SELECT status, superseded_at IS NULL FROM entries") == [("saved", 1)]
    replies = await chat.send("/entries")
    assert replies[0].count("Wellness at Work plan") == 1 and "Draft" not in replies[0]
    shown = "\n".join(await chat.press("1"))
    assert "A walk at lunch keeps me well" in shown and "Running" not in shown


async def test_stopping_a_first_plan_still_offers_a_draft(chat: Chat) -> None:
    await chat.send("/start")
    await chat.send("/wellness")
    await chat.send("A walk at lunch keeps me well")
    await chat.send("/cancel")
    assert chat.buttons() == ["Keep as a draft", "Delete what I wrote", "Carry on"]


async def test_editing_a_message_never_rewrites_a_saved_plan_in_place(
    chat: Chat, bot: Harness, clock: Clock
) -> None:
    await chat.send("/wellness")
    first = chat.person.text(WELLNESS[0])
    await chat.send_update(first)
    for answer in WELLNESS[1:]:
        await chat.send(answer)
    sealed = rows(bot, "SELECT step, value FROM answers ORDER BY step")
    replies = await chat.send_update(
        chat.person.edited(first["message"]["message_id"], "A run before work keeps me well")
    )
    assert "dated versions, so I've left it as it was" in replies[0]
    assert rows(bot, "SELECT step, value FROM answers ORDER BY step") == sealed  # nothing rewritten
    replies = await chat.send("/entries")
    await chat.press("1")
    assert "A walk at lunch keeps me well" in "\n".join(chat.read()[-2:])
    # A forged or old "Edit" press on a plan is not found, not an edit in place.
    entry_id = rows(bot, "SELECT id FROM entries")[0][0]
    for action in ("edit", "note", "r:keeps_well"):
        assert await chat.press_data(f"x:{entry_id}:{action}") == []
        assert "couldn't find" in chat.toasts()[-1]


async def test_starting_another_set_mid_look_over_leaves_the_plan_as_it_was(
    chat: Chat, bot: Harness, clock: Clock
) -> None:
    await changing_one_answer(chat, clock)
    replies = await chat.send("/prepare")
    assert "Your plan stays as it was last saved" in replies[-1]
    assert "draft" not in replies[-1]
    replies = await chat.press("Start Preparation")
    assert "is as it was last saved" in replies[0]
    assert rows(bot, "SELECT flow, status FROM entries ORDER BY id") == [
        ("wellness", "saved"),
        ("preparation", "in_progress"),
    ]
    replies = await chat.send("/entries")
    assert replies[0].count("Wellness at Work plan") == 1 and "draft" not in replies[0]
