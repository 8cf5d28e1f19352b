"""A few stray words outside a question set ("hi", "ok thanks") are asked about once, with two
buttons, and held until the person chooses; longer writing is kept straight away; either way the
reply is one short line, not the menu."""

from __future__ import annotations

from flows.store.unit import Unit
from tests.drivers import Chat, Harness


async def entries_of(bot: Harness, chat: Chat) -> list[tuple[str, str, dict[str, str]]]:
    """(flow, status, answers) of each entry, oldest first."""

    def read(tx: Unit) -> list[tuple[str, str, dict[str, str]]]:
        row = tx.person(chat.person.user_id, "Europe/London")
        found = tx.entries(chat.person.user_id, limit=50, statuses=("saved", "draft"))
        return [(e.flow, e.status, tx.answers(row.cipher, e.id)) for e in reversed(found)]

    return await bot.service.store.run(read)


async def test_a_few_words_are_asked_about_once_and_kept_when_chosen(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/start")
    replies = await chat.send("ok thanks")
    assert replies == ["Shall I keep “ok thanks” as a note in your journal?"]
    assert chat.buttons() == ["Keep as a note", "No, thanks"]
    # Held, not lost, while the question waits.
    assert await entries_of(bot, chat) == [("journal", "draft", {"writing.1": "ok thanks"})]
    asked, _ = chat.keyboard()
    replies = await chat.press("Keep as a note")
    assert replies == []
    assert chat.messages()[asked] == ("Kept as a note in your journal 📝", [])
    assert await entries_of(bot, chat) == [("journal", "saved", {"writing.1": "ok thanks"})]


async def test_no_thanks_lets_the_words_go_and_a_second_press_only_toasts(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/start")
    await chat.send("hi")
    asked, buttons = chat.keyboard()
    await chat.press("No, thanks")
    assert chat.messages()[asked] == ("OK, I haven't kept it.", [])
    assert await entries_of(bot, chat) == []
    before = len(chat.sent())
    await chat.press_data(dict(buttons)["Keep as a note"], message_id=asked)
    assert chat.toasts()[-1] == "Already sorted" and len(chat.sent()) == before
    assert await entries_of(bot, chat) == []


async def test_longer_writing_is_kept_straight_away_with_one_short_line(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/start")
    replies = await chat.send("Felt proud of how I handled the team meeting today")
    assert replies == ["Kept as a note in your journal 📝"]  # one line, not the menu
    assert "Keep as a note" not in chat.buttons()
    assert await entries_of(bot, chat) == [
        ("journal", "saved", {"writing.1": "Felt proud of how I handled the team meeting today"})
    ]


async def test_more_words_while_it_asks_are_kept_together_as_one_note(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/start")
    await chat.send("Tough day")
    asked, buttons = chat.keyboard()
    replies = await chat.send("The meeting ran over and I never got to lunch")
    assert replies == ["Kept as a note in your journal 📝"]
    assert await entries_of(bot, chat) == [
        (
            "journal",
            "saved",
            {
                "writing.1": "Tough day",
                "writing.2": "The meeting ran over and I never got to lunch",
            },
        )
    ]
    await chat.press_data(dict(buttons)["No, thanks"], message_id=asked)
    assert chat.toasts()[-1] == "Already sorted"
    assert len(await entries_of(bot, chat)) == 1  # the old question cannot undo it


async def test_the_question_can_wait_while_they_do_something_else(chat: Chat, bot: Harness) -> None:
    await chat.send("/start")
    await chat.send("note to self")
    asked, buttons = chat.keyboard()
    await chat.send("/reflect")
    replies = await chat.send("It went well")  # an answer, not part of the held words
    assert "2 of 5" in replies[-1]
    await chat.press_data(dict(buttons)["Keep as a note"], message_id=asked)
    assert chat.messages()[asked][0] == "Kept as a note in your journal 📝"
    kept = await entries_of(bot, chat)
    assert ("journal", "saved", {"writing.1": "note to self"}) in kept
    replies = await chat.send("It gave them hope")  # still on question 2
    assert "3 of 5" in replies[-1]


async def test_heavy_words_get_support_at_once_even_while_it_asks(chat: Chat) -> None:
    await chat.send("/start")
    replies = await chat.send("want to die")
    assert any("116 123" in r for r in replies)
    assert replies[-1] == "Shall I keep “want to die” as a note in your journal?"
