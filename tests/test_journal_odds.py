"""Journal odds and ends (issue 18): Edit names each answer by its first words and can fill in one
that was skipped; an open entry leads back to the list it was opened from."""

from __future__ import annotations

from tests.drivers import Chat


async def test_edit_can_fill_in_a_skipped_answer(chat: Chat) -> None:
    await chat.send("/reflect")
    await chat.send("It went well, they smiled")
    await chat.send("/skip")  # How it helped: skipped
    await chat.send("Nervous, then glad")
    await chat.send("/skip")
    await chat.press("Maybe later")
    await chat.send("/entries")
    await chat.press("1")
    replies = await chat.press("Edit")
    # Each answer named with its first words; the skipped one says so, and can be filled in.
    assert "The impact it had: It went well, they smiled" in replies[-1]
    assert "How it helped, what worked (skipped)" in replies[-1]
    assert "Fill in: How it helped, what worked" in chat.buttons()
    assert "The impact it had" in chat.buttons()
    await chat.press("Fill in: How it helped, what worked")
    replies = await chat.send("It gave them hope that it gets easier")
    assert "updated" in replies[0]
    await chat.send("/entries")
    opened = "\n".join(await chat.press("1"))
    assert "How it helped, what worked\nIt gave them hope that it gets easier" in opened


async def test_an_open_entry_leads_back_to_its_page_of_the_list(chat: Chat) -> None:
    for n in range(7):
        await chat.send(f"Journal note number {n}, written down to keep")
    await chat.send("/entries")
    await chat.press("Older »")  # page 2
    await chat.press("6")
    assert chat.buttons()[-1] == "« Back to the list"
    replies = await chat.press("« Back to the list")
    assert "page 2" in replies[-1] and "Journal note number 0" in replies[-1]
    # From a search, back to the search.
    await chat.send("/entries number 3")
    await chat.press("1")
    replies = await chat.press("« Back to the list")
    assert "Entries with “number 3”" in replies[-1]
    # An "open" button from before it kept its page still opens the entry.
    message_id, buttons = chat.keyboard()
    old = buttons[0][1].split(":")[1]
    replies = await chat.press_data(f"o:{old}", message_id=message_id)
    assert "Journal note number 3" in "\n".join(replies)
