"""A supervisor with ten supervisees (issue 20), and the other person's hours (issue 18): whole
conversations over the offline Bot API, with a clock the test moves by hand."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.drivers import Chat, Clock, Harness, link, plain
from tests.offline import Person

MIDDAY = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # Wed 2 Dec 2026, London is on GMT
LATE = datetime(2026, 12, 2, 22, 30, tzinfo=UTC)
NAMES = ["Alex", "Bea", "Cal", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jon"]


@pytest.fixture
def at(clock: Clock) -> Clock:
    clock.now = MIDDAY
    return clock


def rows(bot: Harness, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.config.data_dir / "coreflect.db") as db:
        return db.execute(sql, args).fetchall()


async def due(bot: Harness) -> int:
    return int(await bot.app.bot_data.alarm.run_due())


async def note_and_share(worker: Chat, words: str, to: str = "Sam") -> None:
    await worker.send(words)
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press(worker.buttons()[0])
    await worker.press(f"Share with {to}")


def screens(chat: Chat) -> list[tuple[str, int]]:
    """(plain text, number of buttons) of every message sent or rewritten in this chat."""
    found = []
    for call in chat._mine():
        if call.method not in {"sendMessage", "editMessageText"}:
            continue
        markup = call.params.get("reply_markup")
        buttons = sum(len(r) for r in markup["inline_keyboard"]) if isinstance(markup, dict) else 0
        found.append((plain(str(call.params["text"])), buttons))
    return found


async def test_ten_supervisees_every_screen_small_and_one_person_at_a_time(
    bot: Harness, at: Clock
) -> None:
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    workers = [Chat(bot, Person(user_id=1001 + n, first_name=name)) for n, name in enumerate(NAMES)]
    for worker in workers:
        await link(worker, sam)
        at.advance(minutes=1)
    await note_and_share(workers[0], "Alex felt steady on the ward round today")
    await note_and_share(workers[0], "Alex again, about a hard conversation")
    await note_and_share(workers[7], "Hal's note about boundaries with a colleague")

    await sam.send("/supervisees")
    first = sam.buttons()
    assert first == ["Alex · 2 new", "Bea", "Cal", "Dee", "Eli", "Fay", "Older »"]
    await sam.press("Older »")
    assert sam.buttons() == ["Gus", "Hal · 1 new", "Ivy", "Jon", "« Newer"]

    # Hal's own screen shows Hal's things only.
    replies = await sam.press("Hal · 1 new")
    assert "Hal" in replies[-1] and "New since you last looked" in replies[-1]
    assert "Alex" not in replies[-1]
    assert "No session planned yet." in replies[-1]
    assert sam.buttons() == [
        "Hal's summaries (1 new)",
        "Set a session for Hal",
        "Write down a step we agreed",
        "Co-reflect with Hal",
        "Everyone",
        "Unlink Hal",
    ]
    replies = await sam.press("Hal's summaries (1 new)")
    assert "Shared by Hal" in replies[-1] and "“Hal's note about boundaries wit…”" in replies[-1]
    assert "Alex" not in replies[-1]
    assert [b for b, _ in sam.summary_buttons()] == ["🆕 Hal's note about boundaries wit…"]
    await sam.press_summary(1)
    await sam.press_data(f"sv:{rows(bot, 'SELECT id FROM links WHERE worker_id = 1008')[0][0]}")
    assert "Nothing new shared since you last looked." in sam.read()[-1]

    # Everyone's summaries: named by who and their first words, new ones marked.
    await sam.send("/summaries")
    assert [b for b, _ in sam.summary_buttons()] == [
        "Hal: Hal's note about boundaries wit…",
        "🆕 Alex: Alex again, about a hard conver…",
        "🆕 Alex: Alex felt steady on the ward ro…",
    ]
    assert "Just one person…" in sam.buttons()

    # /supervision: one line per person, a handful of buttons.
    await sam.send("/supervision")
    assert sam.buttons() == ["Set my next session", "Sessions for the people you supervise"]
    assert sam.read()[-1].count("nothing planned yet") == 10

    # Setting a session from a person's screen; it shows there and on /supervision.
    await sam.send("/supervisees")
    await sam.press("Cal")
    await sam.press("Set a session for Cal")
    await sam.send("Fri 14:00")
    await sam.press("Every 2 weeks")
    await sam.send("/supervisees")
    replies = await sam.press("Cal")
    assert "Next session: on Fri 4 Dec at 14:00 (every 2 weeks)" in replies[-1]
    assert sam.buttons()[1:3] == ["Move Fri 4 Dec 14:00", "Cancel"]

    for text, buttons in screens(sam):
        assert buttons <= 8, text
        assert len(text) <= 1000, text
    # The workers never saw one another.
    for worker in workers:
        others = [n for n in NAMES if n != worker.person.first_name]
        assert not [t for t in worker.read() for n in others if f"{n} " in t], worker.read()


async def test_supervisors_menu_and_first_contact_through_the_link(bot: Harness) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await alex.send("/supervisor")
    await alex.press("Create an invite")
    code = alex.read()[-1].split("/link ")[1].split()[0].replace("-", "")
    replies = await sam.send(f"/start link_{code}")
    assert [r.splitlines()[0] for r in replies] == [
        "Hello Sam, I'm CoReflect 🌱",
        "Alex has invited you to link as their supervisor.",
    ]
    await sam.press("Yes, link")
    assert "Is that right?" in sam.read()[-1]
    await sam.press("Yes, that's right")
    await alex.press("Yes, link")
    help_text = (await sam.send("/help"))[-1]
    for command in ("/supervisees", "/summaries", "/supervision", "/teams", "/link"):
        assert command in help_text.split("If you supervise")[1]
    # Unlinking the only supervisee puts Sam's menu back to everyone's.
    await alex.send("/supervisor")
    await alex.press("Unlink Sam")
    await alex.press(alex.buttons()[0])
    deleted = [c for c in bot.request.calls if c.method == "deleteMyCommands"]
    assert [c.params["scope"] for c in deleted] == [{"type": "chat", "chat_id": 2002}]


async def test_someone_new_who_types_link_with_the_code_is_greeted_as_a_supervisor(
    bot: Harness,
) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await alex.send("/supervisor")
    await alex.press("Create an invite")
    typed = next(line for line in alex.read()[-1].splitlines() if line.startswith("/link "))
    replies = await sam.send(typed)  # as the invite tells them to
    assert [r.splitlines()[0] for r in replies] == [
        "Hello Sam, I'm CoReflect 🌱",
        "Alex has invited you to link as their supervisor.",
    ]  # not the peer worker's welcome
    await sam.press("Yes, link")
    await sam.press("Yes, that's right")
    assert sam.read()[-1].endswith("time. Is that right?")  # the time zone, asked once linked


# ---- the other person's hours (issue 18) ------------------------------------------------------


async def test_a_summary_shared_at_half_past_ten_arrives_at_eight(bot: Harness, at: Clock) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(alex, sam)
    at.now = LATE
    before = len(sam.sent())
    await note_and_share(alex, "Late thoughts after a long shift")
    assert "Shared with Sam" in alex.edits()[-1]
    assert len(sam.sent()) == before  # Sam's quiet hours (21:00-08:00 by default)
    assert bot.app.bot_data.alarm.armed_for == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    at.now = datetime(2026, 12, 3, 7, 59, tzinfo=UTC)
    await due(bot)
    assert len(sam.sent()) == before
    at.now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    await due(bot)
    assert "Late thoughts after a long shift" in sam.read()[-1]
    assert len(sam.sent()) == before + 1

    # A withdrawal late at night goes at once, and silently.
    at.now = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    await alex.send("/shared")
    await alex.press("Withdraw 1")
    await alex.press("Withdraw it")
    last = sam.sent()[-1]
    assert "has withdrawn what they shared" in plain(str(last.params["text"]))
    assert last.params.get("disable_notification") is True
    assert sam.deleted()


async def test_quiet_hours_are_the_recipients_own(bot: Harness, at: Clock) -> None:
    """Sam has no quiet hours: a session Alex sets at 23:00 reaches Sam at once; Alex keeps the
    default, so Sam's session notice at 23:30 waits for Alex's 08:00."""
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(alex, sam)
    await sam.send("/reminders")
    for _ in range(3):  # 21–08 → 22–07 → 20–09 → none
        await sam.press(next(b for b in sam.buttons() if b.startswith("Quiet hours")))
    assert "Quiet hours: none" in sam.buttons()
    at.now = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    await alex.send("/supervision")
    await alex.press("Set my next session")
    await alex.send("Fri 14:00")
    await alex.press("Just this once")
    assert "Alex has set their next supervision" in sam.read()[-1]

    at.now = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    before = len(alex.sent())
    await sam.send("/supervision")
    await sam.press("Alex: sessions and more")
    await sam.press("Move Fri 4 Dec 14:00")
    await sam.send("Fri 15:00")
    assert len(alex.sent()) == before
    at.now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    await due(bot)
    assert "Sam has moved your supervision to on Fri 4 Dec at 15:00" in alex.read()[-1]


# ---- acknowledging a summary -----------------------------------------------------------------


async def test_acknowledging_reaches_only_the_worker_who_shared(bot: Harness, at: Clock) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    bea = Chat(bot, Person(user_id=1002, first_name="Bea"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(alex, sam)
    await link(bea, sam)
    await note_and_share(alex, "A first thing to share")
    await note_and_share(bea, "Bea's own thing")
    assert sam.buttons() == ["Thanks, I've read it"]  # no session planned: no date to offer
    await bea.send("/supervision")
    await bea.press("Set my next session")
    await bea.send("Fri 14:00")
    await bea.press("Just this once")

    # Sam opens Bea's summary again: now a session is planned, both answers are offered.
    await sam.send("/summaries")
    await sam.press_summary(1)
    assert sam.buttons() == ["Thanks, I've read it", "Let's talk about it on Fri 4 Dec"]
    alex_before, bea_before = len(alex.sent()), len(bea.sent())
    await sam.press("Let's talk about it on Fri 4 Dec")
    assert sam.toasts()[-1] == "I've let Bea know"
    assert len(alex.sent()) == alex_before
    assert len(bea.sent()) == bea_before + 1
    assert (
        "Sam has read what you shared on 2 Dec, and would like to talk about it" in bea.read()[-1]
    )
    assert "at your session on Fri 4 Dec" in bea.read()[-1]
    assert "Sam would like to talk about it on Fri 4 Dec" in (await bea.send("/shared"))[-1]
    # A second press, or someone else's, changes nothing.
    share_id = rows(bot, "SELECT share_id FROM share_acks")[0][0]
    await sam.press_data(f"ak:{share_id}:read")
    assert sam.toasts()[-1] == "You've already answered this one"
    await alex.press_data(f"ak:{share_id}:read")
    assert alex.toasts()[-1].startswith("I couldn't find that")
    assert len(bea.sent()) == bea_before + 2  # /shared only
    await sam.press_data("ak:abc:read")
    assert rows(bot, "SELECT kind FROM share_acks") == [("talk",)]
    assert "has read it" not in (await alex.send("/shared"))[-1]


# ---- reminders for supervisors ----------------------------------------------------------------


async def test_the_supervisor_is_reminded_once_in_their_own_time(bot: Harness, at: Clock) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    bea = Chat(bot, Person(user_id=1002, first_name="Bea"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await alex.send("/supervision")  # planned before Sam supervises Alex
    await alex.press("Set my next session")
    await alex.send("Fri 14:00")
    await alex.press("Just this once")
    await link(alex, sam)
    await link(bea, sam)
    await sam.send("/settings")
    await sam.press("Europe/Paris")
    await sam.send("/reminders")
    await sam.press("First reminder: 1 day before")  # → 2 days before
    await note_and_share(alex, "Something for Friday")

    def reminded() -> list[str]:
        return [t for t in sam.read() if t.startswith("Your supervision with")]

    at.now = datetime(2026, 12, 2, 13, 59, tzinfo=UTC)
    await due(bot)
    assert reminded() == []
    at.now = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # two days before, Sam's choice
    await due(bot)
    await due(bot)
    assert reminded() == [
        "Your supervision with Alex is on Fri 4 Dec at 15:00.\n"
        "Alex has shared 1 thing for it: /summaries, or their screen below."
    ]
    assert "Something for Friday" not in reminded()[0]
    at.now = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
    await due(bot)
    assert len(reminded()) == 2 and "today at 15:00" in reminded()[-1]
    assert not [t for t in bea.read() if t.startswith("Your supervision")]


# ---- agreed next steps ------------------------------------------------------------------------


async def test_agreed_next_steps_carry_forward_and_go_with_the_link(
    bot: Harness, at: Clock
) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    jo = Chat(bot, Person(user_id=3003, first_name="Jo"))
    await link(alex, sam)
    await alex.send("/supervision")
    await alex.press("Set my next session")
    await alex.send("Wed 14:00")
    await alex.press("Every week")

    # An hour after it starts, both are asked once what they agreed.
    at.now = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    await due(bot)
    await due(bot)
    asked = "has finished. What did you agree?"
    assert [t for t in alex.read() if asked in t] and [t for t in sam.read() if asked in t]
    assert len([t for t in sam.read() if asked in t]) == 1

    # Sam writes a step; Alex remembers it a little differently; Sam confirms that.
    await sam.press("Write down a step we agreed")
    await sam.send("Alex to try the grounding exercise before ward rounds")
    assert "Is that what you agreed?" in alex.read()[-1]
    assert "grounding exercise" in alex.read()[-1]
    await jo.press_data("st:1:yes")  # a stranger finds nothing
    assert jo.toasts()[-1].startswith("I couldn't find that")
    await alex.press("Not quite")
    await alex.send("Try the grounding exercise before the Monday ward round")
    assert "Is that what you agreed?" in sam.read()[-1]
    await sam.press("Yes, that's what we agreed")
    assert "Agreed: Try the grounding exercise" in sam.read()[-1]
    assert "Sam confirmed the step you agreed" in alex.read()[-1]

    # Both see it: Sam on Alex's screen, Alex in /supervisor; and in the next reminder.
    await sam.send("/supervisees")
    replies = await sam.press("Alex")
    assert "Try the grounding exercise before the Monday ward round" in replies[-1]
    replies = await alex.send("/supervisor")
    assert "Try the grounding exercise before the Monday ward round" in replies[-1]
    at.now = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)  # a day before the next one
    await due(bot)
    assert "Agreed last time" in alex.read()[-1] and "grounding" in alex.read()[-1]
    assert "Agreed last time" in sam.read()[-1] and "grounding" in sam.read()[-1]

    # In Alex's export, encrypted at rest.
    assert rows(bot, "SELECT COUNT(*) FROM agreed_steps WHERE body LIKE '%grounding%'") == [(0,)]
    await alex.send("/export")
    exported = [
        c.params["document"].content
        for c in bot.request.calls
        if c.method == "sendDocument" and c.params["chat_id"] == 1001
    ]
    [data] = [json.loads(d) for d in exported if d.startswith(b"{")]
    steps = [i for i in data["schedules"] if i["kind"] == "agreed_step"]
    assert [(i["text"], i["state"]) for i in steps] == [
        ("Try the grounding exercise before the Monday ward round", "agreed")
    ]
    assert any(b"Try the grounding exercise" in d for d in exported if not d.startswith(b"{"))

    # Unlinked: gone from Sam's view, kept in Alex's record until /forget.
    await alex.send("/supervisor")
    await alex.press("Unlink Sam")
    await alex.press(alex.buttons()[0])
    before = len(sam.sent())
    await sam.press_data("st:1:done")
    assert len(sam.sent()) == before
    assert "Nobody has linked with you" in (await sam.send("/supervisees"))[-1]
    assert rows(bot, "SELECT COUNT(*) FROM agreed_steps") == [(1,)]
    await alex.send("/forget")
    await alex.press(alex.buttons()[0])
    await alex.press(alex.buttons()[0])
    assert rows(bot, "SELECT COUNT(*) FROM agreed_steps") == [(0,)]


# ---- the weekly digest ------------------------------------------------------------------------


async def test_the_weekly_digest_lists_labels_only(bot: Harness, at: Clock) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    bea = Chat(bot, Person(user_id=1002, first_name="Bea"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(alex, sam)
    await link(bea, sam)
    await sam.send("/reminders")
    await sam.press("Weekly digest: off")
    await sam.press("Mon")
    replies = await sam.press("09:00")
    assert "Weekly digest: Mon 09:00" in sam.buttons()
    await note_and_share(alex, "Zebra crossing words nobody else should read")
    await bea.send("/supervision")
    await bea.press("Set my next session")
    await bea.send("Tue 8 Dec 11:00")
    await bea.press("Just this once")
    at.now = datetime(2026, 12, 7, 8, 59, tzinfo=UTC)
    await due(bot)
    assert not [t for t in sam.read() if "Your week in supervision" in t]
    at.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    await due(bot)
    await due(bot)
    digests = [t for t in sam.read() if "Your week in supervision" in t]
    assert len(digests) == 1, replies
    assert "Alex\nNo session this week\nShared: 1 × Journal" in digests[0]
    assert "Bea\nSession Tue 8 Dec, 11:00\nNothing new shared" in digests[0]
    assert "Zebra" not in digests[0]
    assert not [t for t in alex.read() + bea.read() if "Your week" in t]


# ---- co-reflection: "Not this time" -----------------------------------------------------------


async def test_a_coreflection_invitation_can_be_declined_kindly_and_waits_for_morning(
    bot: Harness, at: Clock
) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(alex, sam)
    at.now = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    before = len(alex.sent())
    await sam.send("/coreflect")
    assert len(alex.sent()) == before  # Alex's quiet hours: the invitation waits
    at.now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    await due(bot)
    assert "Sam has started a co-reflection round" in alex.read()[-1]
    assert alex.buttons() == ["Answer now", "Not this time"]
    replies = await alex.press("Not this time")
    assert "nothing was shown" in replies[-1]
    assert (
        "Alex can't join this co-reflection round this time, and that's completely fine"
        in (sam.read()[-1])
    )
    assert rows(bot, "SELECT outcome FROM coreflections") == [("declined",)]
    round_id = rows(bot, "SELECT id FROM coreflections")[0][0]
    replies = await alex.press_data(f"r:{round_id}:join")  # the old "Answer now"
    assert "That co-reflection round has closed" in replies[-1]


async def test_hostile_buttons_on_the_new_screens_find_nothing(bot: Harness) -> None:
    jo = Chat(bot, Person(user_id=3003, first_name="Jo"))
    await jo.send("/start")
    for data in (
        "sv:p99",
        "sv:pX",
        "sv:1",
        "sv:" + "9" * 40,
        "y:0:1",
        "y:0:abc",
        "ak:1:read",
        "ak:" + "9" * 40 + ":talk",
        "st:new:1",
        "st:new:" + "9" * 40,
        "st:" + "9" * 40 + ":yes",
        "st:1:done",
        "gr:1:none",
        "M:gd9",
        "M:gt1:9999",
        "r:1:pass",
    ):
        await jo.press_data(data)
    toasts = jo.toasts()
    assert len(toasts) == 16  # every press answered, none raised
    assert all(t.startswith(("I couldn't find that", "That button is from")) for t in toasts[1:])
    assert not [t for t in jo.read() if "went wrong" in t]


async def test_a_private_note_of_the_session_is_a_journal_entry_linked_to_it(
    bot: Harness, at: Clock
) -> None:
    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(alex, sam)
    await alex.send("/supervision")
    await alex.press("Set my next session")
    await alex.send("Wed 14:00")
    await alex.press("Just this once")
    at.now = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    await due(bot)
    before = len(sam.sent())
    await alex.press("A private note for me")
    await alex.send("It felt good to be heard today")
    await alex.send("/done")
    (entry_id, session_id) = rows(bot, "SELECT entry_id, session_id FROM session_notes")[0]
    assert rows(bot, "SELECT flow, status FROM entries WHERE id = ?", entry_id) == [
        ("journal", "saved")
    ]
    assert rows(bot, "SELECT id FROM sessions") == [(session_id,)]
    assert len(sam.sent()) == before  # private: Sam hears nothing of it


async def test_agreed_steps_are_in_the_pack_pdf(bot: Harness) -> None:
    from tests.test_pack_pdf import pdf_text

    alex = Chat(bot, Person(user_id=1001, first_name="Alex"))
    sam = Chat(bot, Person(user_id=2002, first_name="Sam"))
    await link(alex, sam)
    await alex.send("/supervisor")
    await alex.press("Write down a step we agreed")
    await alex.send("Book a reflective practice slot with the team")
    await sam.press("Yes, that's what we agreed")
    await alex.send("A longer note about the week that I would like to bring along")
    await alex.send("/entries")
    await alex.press(alex.buttons()[0])
    await alex.press("Bring to supervision")
    await alex.send("/share")
    await alex.press("Supervision pack (1)")
    await alex.press("📄 A PDF to print")
    [call] = [c for c in bot.request.calls if c.method == "sendDocument"]
    text = pdf_text(call)
    assert "Next steps we agreed last time • Book a reflective practice slot with the team" in text
