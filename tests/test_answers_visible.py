"""Answers stay visible: pressing a choice (or Skip) rewrites the question to show the answer
under it ("→ Not sure") and takes its buttons away, so scrolling back reads like a conversation."""

from __future__ import annotations

from tests.drivers import Chat


async def test_each_pressed_question_shows_its_answer(chat: Chat) -> None:
    await chat.send("/moment")
    asked = chat.keyboard()[0]
    await chat.press("Skip")
    skipped = chat.messages()[asked]
    assert skipped[0].startswith("1 of 7") and skipped[0].endswith("\n\n→ Skipped")
    assert skipped[1] == []  # its buttons are gone
    for label in [
        "A colleague",
        "A brief outline",
        "To offer hope or ideas",
        "Not sure",
        "Yes",
        "No",
    ]:
        message_id, _ = chat.keyboard()
        question = chat.messages()[message_id][0]
        await chat.press(label)
        text, buttons = chat.messages()[message_id]
        assert text == f"{question}\n\n→ {label}"  # the question's own words, then the answer
        assert buttons == []
    edits = chat.edits()
    assert [e.rsplit("→ ", 1)[1] for e in edits] == [
        "Skipped",
        "A colleague",
        "A brief outline",
        "To offer hope or ideas",
        "Not sure",
        "Yes",
        "No",
    ]
    assert any("Thanks for pausing to check" in r for r in chat.read())


async def test_a_question_asked_again_after_back_shows_the_new_answer(chat: Chat) -> None:
    await chat.send("/moment")
    await chat.press("Skip")
    await chat.press("The team")
    await chat.press("Some detail")
    await chat.send("/back")
    message_id, _ = chat.keyboard()
    assert "Your answer so far: Some detail" in chat.messages()[message_id][0]
    await chat.press("A lot of detail")
    text, buttons = chat.messages()[message_id]
    assert text.endswith("→ A lot of detail") and "so far" not in text and buttons == []
