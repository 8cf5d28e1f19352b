"""Whole conversations, as a person would have them, through a real PTB Application."""

from __future__ import annotations

import sqlite3
from typing import NoReturn

from tests.drivers import Chat, Harness, plain
from tests.offline import Person

PREP_ANSWERS = [
    "Growing up with a parent who was unwell; I run a gardening group",
    "The gardening, and that I've had time off work before",
    "That I've been in hospital & came through it <really>",
    "Helps them see recovery at work is possible",
    "Hope that things can change 🌱",
    "Briefly, with colleagues in team meetings",
    "Short and focused on what helped",
    "Details of my time in hospital",
    "Nothing personal on Facebook; LinkedIn is work only",
]


def db_rows(harness: Harness, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(harness.service.store.path) as db:
        return db.execute(sql).fetchall()


async def test_start_welcomes_with_privacy_and_time_zone(chat: Chat) -> None:
    replies = await chat.send("/start")
    welcome = "\n".join(replies)
    assert "Hello Alex" in welcome
    assert "encrypted" in welcome and "nobody else" in welcome
    assert "Europe/London" in welcome
    assert chat.buttons() == ["Yes, that's right", "Choose another"]
    await chat.press("Yes, that's right")
    assert chat.toasts()[-1] == "Keeping Europe/London"
    # A second /start is short: no second privacy speech, no time zone question.
    again = await chat.send("/start")
    assert len(again) == 1 and "Welcome back" in again[0]


async def test_preparation_whole_flow_saves_every_answer(chat: Chat, bot: Harness) -> None:
    await chat.send("/start")
    replies = await chat.send("/prepare")
    assert "Question 1 of 6" in replies[-1]
    for answer in PREP_ANSWERS:
        replies = await chat.send(answer)
    summary = "\n".join(replies)
    assert "Saved to your journal" in summary
    assert "That I've been in hospital & came through it <really>" in summary
    assert "Details of my time in hospital" in summary
    # Both halves of the table's split are kept apart.
    assert "colleagues" in summary and "people I support" in summary
    rows = db_rows(bot, "SELECT flow, status FROM entries")
    assert rows == [("preparation", "saved")]
    assert db_rows(bot, "SELECT COUNT(*) FROM answers")[0][0] == len(PREP_ANSWERS)
    conv = db_rows(bot, "SELECT flow, step FROM conversations")[0]
    assert conv == (None, None)


async def test_preparation_skip_and_back(chat: Chat) -> None:
    await chat.send("/prepare")
    await chat.send("My experiences")
    replies = await chat.send("/skip")  # colleagues half is optional
    assert "people you support" in replies[-1]
    replies = await chat.send("/back")
    assert "with colleagues" in replies[-1]
    await chat.press("Skip")
    replies = await chat.send("/back")
    assert "Your answer so far" not in replies[-1]  # a skipped answer leaves nothing behind
    replies = await chat.send("/back")
    assert "Question 1 of 6" in replies[-1] and "My experiences" in replies[-1]
    replies = await chat.send("/back")
    assert "first question" in replies[0]
    # The first question is required.
    replies = await chat.send("/skip")
    assert "needs an answer" in replies[0]


async def test_in_the_moment_is_quick_and_gentle_when_unsure(chat: Chat) -> None:
    await chat.send("/start")
    replies = await chat.send("/moment")
    taps = 0
    await chat.send("Losing my job when I was unwell")
    for label in [
        "A person I support",
        "A lot of detail",
        "Mostly to offload",
        "Yes",
        "No",
        "Not sure",
    ]:
        replies = await chat.press(label)
        taps += 1
    assert taps + 1 <= 8
    summary = "\n".join(replies)
    assert "supervision" in summary
    assert "I don't know what it was like for you" in summary
    assert "Saved to your journal" in summary


async def test_in_the_moment_all_yes_still_reminds_of_wording(chat: Chat) -> None:
    await chat.send("/moment")
    await chat.press("Skip")
    for label in ["A colleague", "A brief outline", "To offer hope or ideas", "Yes", "Yes", "Yes"]:
        replies = await chat.press(label)
    summary = "\n".join(replies)
    assert "I don't know what it was like for you" in summary
    assert "holding back" not in summary.lower()


async def test_typed_choice_counts_as_a_press(chat: Chat) -> None:
    await chat.send("/moment")
    await chat.send("/skip")
    await chat.send("a colleague")
    replies = await chat.send("some detail")
    assert "Why" in replies[-1] or "why" in replies[-1]
    replies = await chat.send("banana")
    assert "pick one of the options" in replies[0]


async def test_reflection_links_to_recent_preparation(chat: Chat, bot: Harness) -> None:
    await chat.send("/prepare")
    for answer in PREP_ANSWERS:
        await chat.send(answer)
    replies = await chat.send("/reflect")
    assert "same sharing of experience" in replies[0]
    # Recognisable by its date and first words, as /entries shows it.
    assert "1. " in replies[0] and "· Preparation" in replies[0]
    assert "Growing up with a parent who was unwell" in replies[0]
    assert chat.buttons() == ["1"]
    # The link offer sits on the intro message; the first question is already waiting below it.
    await chat.send("It went well; they smiled and asked how I coped")
    sent = chat.sent()
    intro_id = next(
        i + 1 for i, c in enumerate(sent) if "same sharing of experience" in str(c.params["text"])
    )
    link_data = next(
        b["callback_data"]
        for row in sent[intro_id - 1].params["reply_markup"]["inline_keyboard"]
        for b in row
    )
    await chat.press_data(link_data, message_id=intro_id)
    assert chat.toasts()[-1].startswith("Linked to Preparation")
    # The offer keeps its words and shows the choice under it.
    assert chat.messages()[intro_id][0].endswith("→ linked to " + chat.toasts()[-1][10:])
    assert chat.messages()[intro_id][1] == []
    for answer in ["It helped them feel less alone", "Nervous, now proud", "Keep it short"]:
        await chat.send(answer)
    replies = await chat.press("Yes, I'd like to")
    assert "Saved to your journal" in "\n".join(replies)
    episodes = db_rows(bot, "SELECT flow, episode_id FROM entries ORDER BY id")
    assert episodes[0][1] == episodes[1][1]
    await chat.send("/entries")
    opened = "\n".join(await chat.press("1"))
    assert "Reflection" in opened and "same sharing of experience as: Preparation" in opened
    # The preparation is shown with it, in full.
    assert "Preparation ·" in opened and "(same sharing episode)" in opened
    assert PREP_ANSWERS[0] in opened and "It helped them feel less alone" in opened


async def test_top_tips_ends_kindly_without_a_score(chat: Chat) -> None:
    replies = await chat.send("/tips")
    assert "Adapted from Shepherd, Boardman & Slade (2008)." in "\n".join(replies)
    answers = ["Yes", "Partly", "Yes", "Not this time", "Yes", "Partly", "Yes", "Yes", "Yes", "Yes"]
    for label in answers:
        replies = await chat.press(label)
    replies = await chat.send("A good session overall")
    summary = "\n".join(replies)
    assert "Listening actively" in summary  # went well
    assert "Lived experience that inspires hope" in summary  # the one to think about
    assert "/10" not in summary and "score" not in summary.lower()
    assert "Ten Top Tips adapted from Shepherd, Boardman & Slade (2008)" in summary


async def test_entries_list_and_open_in_full(chat: Chat) -> None:
    await chat.send("/prepare")
    for answer in PREP_ANSWERS:
        await chat.send(answer)
    await chat.send("A loose thought after a hard day")
    replies = await chat.send("/entries")
    listing = replies[0]
    assert listing.index("Journal") < listing.index("Preparation")  # newest first
    assert "A loose thought" in listing
    assert chat.buttons() == ["1", "2"]
    replies = await chat.press("2")
    full = "\n".join(replies)
    assert "Experiences I could draw on" in full
    assert "That I've been in hospital & came through it <really>" in full


async def test_cancel_keeps_a_draft_or_discards(chat: Chat, bot: Harness) -> None:
    await chat.send("/prepare")
    await chat.send("Something I wrote")
    await chat.send("/cancel")
    assert chat.buttons() == ["Keep as a draft", "Delete what I wrote", "Carry on"]
    replies = await chat.press("Keep as a draft")
    assert "draft" in replies[0]
    assert db_rows(bot, "SELECT status FROM entries") == [("draft",)]
    replies = await chat.send("/entries")
    assert "(draft)" in replies[0]

    await chat.send("/reflect")
    await chat.send("It went badly")
    await chat.send("/cancel")
    await chat.press("Delete what I wrote")
    assert db_rows(bot, "SELECT flow FROM entries") == [("preparation",)]

    replies = await chat.send("/cancel")
    assert "nothing to cancel" in replies[0]


async def test_another_flow_mid_flow_asks_first_and_loses_nothing(chat: Chat, bot: Harness) -> None:
    await chat.send("/prepare")
    await chat.send("First answer")
    replies = await chat.send("/tips")
    assert "part-way through" in replies[0]
    replies = await chat.press("Carry on")
    assert "Question 2 of 6" in replies[-1]
    await chat.send("/tips")
    replies = await chat.press("Start Ten Top Tips")
    assert "draft" in replies[0]
    assert "Tip 1 of 10" in replies[-1]
    assert db_rows(bot, "SELECT flow, status FROM entries ORDER BY id") == [
        ("preparation", "draft"),
        ("top_tips", "in_progress"),
    ]


async def test_bad_input_gets_a_kind_reply_and_keeps_the_place(chat: Chat) -> None:
    await chat.send("/prepare")
    for update in [
        chat.person.photo(),
        chat.person.sticker(),
        chat.person.document(),
    ]:
        replies = await chat.send_update(update)
        assert "written words" in replies[0]
        assert "Question 1 of 6" in replies[-1]
    replies = await chat.send("/nonsense")
    assert "I don't know /nonsense" in replies[0]
    assert "Question 1 of 6" in replies[-1]
    replies = await chat.send_update(chat.person.edited(10_001, "changed"))
    assert "edited" in replies[0]
    replies = await chat.send("   ")
    assert "empty" in replies[0]
    long = "word " * 900 + "<&> 🌱"
    replies = await chat.send(long)
    assert "Question 2 of 6" in replies[-1]
    replies = await chat.send("/back")
    assert "<&> 🌱" not in replies[-1]  # shown shortened; kept in full
    replies = await chat.send("/entries")  # the draft is not listed while in progress
    assert "still in Preparation" in replies[-1]


async def test_stale_and_unknown_buttons(chat: Chat) -> None:
    await chat.send("/moment")
    await chat.press("Skip")
    await chat.press("A colleague")
    old_id, old = chat.keyboard()
    await chat.press("Some detail")
    replies = await chat.press_data(old[0][1], message_id=old_id)  # yesterday's button
    assert chat.toasts()[-1] == "That button is from an earlier message."
    assert "Why" in replies[-1] or "why" in replies[-1]
    replies = await chat.press_data("zz:garbage")
    assert chat.toasts()[-1] == "That button is from an earlier message."
    await chat.send("/cancel")
    await chat.press("Delete what I wrote")
    replies = await chat.press_data("a:1:yes")
    assert "earlier conversation" in replies[0]


async def test_settings_change_time_zone_by_button_and_by_name(chat: Chat, bot: Harness) -> None:
    await chat.send("/settings")
    await chat.press("Europe/Dublin")
    assert db_rows(bot, "SELECT timezone FROM people") == [("Europe/Dublin",)]
    await chat.send("/settings")
    await chat.press("Choose another")
    replies = await chat.send("Atlantis/Nowhere")
    assert "couldn't find" in replies[0]
    replies = await chat.send("america/toronto")
    assert "America/Toronto" in replies[0]
    assert db_rows(bot, "SELECT timezone FROM people") == [("America/Toronto",)]


async def test_html_in_answers_is_escaped_everywhere(chat: Chat, bot: Harness) -> None:
    await chat.send("/prepare")
    nasty = "<b>bold</b> & <script>alert(1)</script> &amp; 👩🏽‍⚕️ שלום"
    for _ in PREP_ANSWERS:
        await chat.send(nasty)
    await chat.send("/entries")
    await chat.press("1")
    outgoing = [str(c.params["text"]) for c in chat.sent()]
    assert any("&lt;script&gt;" in text for text in outgoing)
    assert any(nasty in plain(text) for text in outgoing)


async def test_two_people_never_see_each_other(bot: Harness) -> None:
    alex, sam = Chat(bot, Person(2001, "Alex")), Chat(bot, Person(2002, "Sam"))
    await alex.send("/prepare")
    await sam.send("/prepare")
    await alex.send("Alex's private words")
    await sam.send("Sam's private words")
    await sam.send("/entries")
    assert not any("Alex's" in str(c.params["text"]) for c in sam.sent())
    assert not any("Sam's" in str(c.params["text"]) for c in alex.sent())
    bogus = await sam.press_data("o:1")  # Alex's entry id, guessed
    assert not bogus
    assert "isn't in your journal" in sam.toasts()[-1]


async def test_menu_of_commands(bot: Harness) -> None:
    from bot.telegram_bot import menu

    names = [c.command for c in menu(bot.service)]
    for needed in ["prepare", "moment", "reflect", "tips", "entries", "settings", "help", "cancel"]:
        assert needed in names
    await bot.app.bot.set_my_commands(menu(bot.service))
    assert any(c.method == "setMyCommands" for c in bot.request.calls)


async def test_very_long_answers_are_split_into_messages_that_fit(chat: Chat) -> None:
    await chat.send("/prepare")
    long_answer = ("A long reflection with <tags> & emoji 🌱 " * 110)[:4000].strip()
    for _ in PREP_ANSWERS:
        await chat.send(long_answer)
    await chat.send("/entries")
    opened = await chat.press("1")
    assert len(opened) >= 9  # nine long answers cannot share a message
    # Split only at spaces, nothing lost: joined back up, every answer is there in full.
    joined = " ".join(" ".join(text.split()) for text in opened)
    assert joined.count(" ".join(long_answer.split())) == 9
    # The spec check on teardown confirms each one is 1-4,096 characters after parsing.


async def test_something_going_wrong_gets_a_kind_apology(chat: Chat, bot: Harness) -> None:
    await chat.send("/prepare")

    async def broken(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("disk on fire")

    real = bot.service.handle
    bot.service.handle = broken  # type: ignore[method-assign]  # a stand-in, for this test only
    replies = await chat.send("an answer")
    assert "something went wrong on my side" in replies[0]
    bot.service.handle = real  # type: ignore[method-assign]
    replies = await chat.send("an answer")
    assert "Question 2 of 6" in replies[-1]


async def test_reflection_asks_about_sharing_the_learning_in_plain_words(chat: Chat) -> None:
    await chat.send("/reflect")
    await chat.send("It went well")
    for _ in range(3):
        replies = await chat.send("/skip")
    assert replies[-1] == (
        "5 of 5\nWould you like to share what you learned with your team, and do you think it"
        " would be useful to them?"
    )
    assert chat.buttons() == ["Yes, I'd like to", "Maybe later", "No, not this"]
