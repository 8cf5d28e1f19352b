"""/coproduction: the top ten tips for co-production, a self-check after a group meeting."""

from __future__ import annotations

from tests.drivers import Chat


async def test_coproduction_check_is_saved_like_any_entry(chat: Chat) -> None:
    await chat.send("/start")
    replies = await chat.send("/coproduction")
    assert "Top ten tips for co-production" in replies[0]
    assert "Tip 1 of 10" in replies[-1] and "the right people" in replies[-1]
    assert chat.buttons() == ["Yes", "Partly", "Not this time"]
    answers = ["Yes", "Yes", "Partly", "Yes", "Not this time", "Yes", "Partly", "Yes", "Yes", "Yes"]
    for label in answers:
        await chat.press(label)
    replies = await chat.send("Good energy <today> & we listened 🌱")
    summary = "\n".join(replies)
    assert "The right people in the room" in summary  # went well
    assert "One to think about next time\nSmall steps, safe to fail" in summary
    assert "score" not in summary.lower()
    listed = await chat.send("/entries")
    assert "Co-production tips" in listed[-1]
    opened = "\n".join(await chat.press("1"))
    assert "Small steps, safe to fail\nNot this time" in opened
    assert "Good energy <today> & we listened 🌱" in opened
    assert "Bring to supervision" in chat.buttons()


async def test_coproduction_is_offered_in_help(chat: Chat) -> None:
    await chat.send("/start")
    help_text = (await chat.send("/help"))[-1]
    assert "/coproduction – Co-production tips check after a group meeting" in help_text
    assert "/progress – a picture of your Ten Top Tips checks over time" in help_text
