"""/moment asks who the sharing is with (issue 18), as buttons; the summary and /entries show it,
and so does every picker that lists the entry."""

from __future__ import annotations

from tests.drivers import Chat


async def test_moment_asks_who_and_the_summary_and_entries_show_it(chat: Chat) -> None:
    await chat.send("/moment")
    replies = await chat.send("Being off sick last year")
    assert "Who are you about to share it with?" in replies[-1]
    assert chat.buttons() == ["A person I support", "A colleague", "The team", "Someone else"]
    await chat.press("A colleague")
    for label in ["A brief outline", "To offer hope or ideas", "Yes", "Yes", "Yes"]:
        replies = await chat.press(label)
    assert "Sharing with: A colleague" in "\n".join(replies)
    listing = (await chat.send("/entries"))[0]
    assert "In the moment · sharing with: A colleague" in listing
    assert "Being off sick last year" in listing
    opened = "\n".join(await chat.press("1"))
    assert "Sharing with\nA colleague" in opened
