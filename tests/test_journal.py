"""Journal and data rights, as a person would use them: free entries, browsing, search, edits,
deleting, flags for supervision, export, erasing everything, support and care for the writer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from flows.store.unit import Unit
from tests.drivers import Chat, Harness, plain
from tests.offline import Person


@pytest.fixture
async def chat(bot: Harness) -> Chat:
    """Someone who has already said hello (so replies here are not behind the welcome)."""
    person = Chat(bot)
    await person.send("/start")
    return person


def rows(bot: Harness, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(bot.service.store.path) as db:
        return db.execute(sql).fetchall()


async def write_journal(chat: Chat, *messages: str) -> list[str]:
    await chat.send("/journal")
    for message in messages:
        await chat.send(message)
    return await chat.send("/done")


async def test_journal_entry_in_several_messages_with_tags(chat: Chat, bot: Harness) -> None:
    replies = await chat.send("/journal")
    assert "/done" in replies[-1]
    replies = await chat.send("Felt unsure about sharing my #boundaries today")
    assert "Kept" in replies[-1] and chat.buttons() == ["Done"]
    await chat.send("But it went fine in the end. #Supervision")
    replies = await chat.press("Done")
    summary = "\n".join(replies)
    assert "Felt unsure about sharing" in summary
    assert "#boundaries" in summary and "#supervision" in summary
    assert "Saved to your journal" in summary
    assert rows(bot, "SELECT flow, status FROM entries") == [("journal", "saved")]
    assert rows(bot, "SELECT step FROM answers ORDER BY step") == [("writing.1",), ("writing.2",)]


async def test_done_with_nothing_written_and_outside_a_journal(chat: Chat) -> None:
    replies = await chat.send("/done")
    assert "no journal entry open" in replies[0]
    await chat.send("/journal")
    replies = await chat.send("/done")
    assert "Nothing written yet" in replies[0]


async def test_paging_at_zero_one_exactly_one_and_many_pages(chat: Chat) -> None:
    replies = await chat.send("/entries")
    assert "empty" in replies[0]
    await chat.send("entry number 1, kept as a note")  # more than a few words: kept straight away
    await chat.send("/entries")
    assert chat.buttons() == ["1"]
    for n in range(2, 6):
        await chat.send(f"entry number {n}, kept as a note")
    replies = await chat.send("/entries")
    assert chat.buttons() == ["1", "2", "3", "4", "5"]  # exactly one page: no Older
    assert "entry number 5" in replies[0] and "entry number 1" in replies[0]
    for n in range(6, 13):
        await chat.send(f"entry number {n}, kept as a note")
    replies = await chat.send("/entries")
    assert chat.buttons() == ["1", "2", "3", "4", "5", "Older »"]
    assert "entry number 12" in replies[0]
    replies = await chat.press("Older »")
    assert chat.buttons() == ["6", "7", "8", "9", "10", "« Newer", "Older »"]
    assert "entry number 7" in replies[0] and "page 2" in replies[0]
    replies = await chat.press("Older »")
    assert chat.buttons() == ["11", "12", "« Newer"]
    assert "entry number 1" in replies[0]
    replies = await chat.press("« Newer")
    assert "page 2" in replies[0]


async def test_search_and_tags_though_everything_is_encrypted(chat: Chat, bot: Harness) -> None:
    await write_journal(chat, "A gift from someone I support #boundaries")
    await write_journal(chat, "Team meeting went well #team")
    await chat.send("/prepare")
    await chat.send("My experience of grief and a gift for gardening")
    await chat.send("/cancel")
    await chat.press("Keep as a draft")
    replies = await chat.send("/entries gift")
    assert "A gift from someone" in replies[0] and "grief" in replies[0]
    assert "Team meeting" not in replies[0]
    replies = await chat.send("/entries #boundaries")
    assert "A gift from someone" in replies[0] and "Team meeting" not in replies[0]
    replies = await chat.send("/entries #nothing-like-this")
    assert "No entries tagged #nothing-like-this" in replies[0]
    replies = await chat.send("/entries banana")
    assert "Nothing found for “banana”" in replies[0]
    # The searchable text is stored encrypted too.
    for (blob,) in rows(bot, "SELECT search_text FROM entries WHERE search_text IS NOT NULL"):
        assert b"gift" not in bytes(blob)


async def test_search_pages_carry_the_query(chat: Chat) -> None:
    for n in range(7):
        await chat.send(f"a long walk {n} by the river #outdoors")
    await chat.send("something else entirely")
    await chat.send("/entries #outdoors")
    replies = await chat.press("Older »")
    assert "Entries tagged #outdoors" in replies[0] and "a long walk 0" in replies[0]
    assert "something else" not in replies[0]


async def test_open_edit_add_note_replace_answer_flag_delete(chat: Chat, bot: Harness) -> None:
    await chat.send("/moment")
    await chat.send("My time off work")
    for label in ["A colleague", "Some detail", "To offer hope or ideas", "Yes", "Yes", "Not sure"]:
        await chat.press(label)
    await chat.send("/entries")
    await chat.press("1")
    assert chat.buttons() == ["Edit", "Delete", "Bring to supervision", "« Back to the list"]

    await chat.press("Bring to supervision")
    assert chat.toasts()[-1] == "Marked to bring to supervision"
    replies = await chat.send("/entries supervision")
    assert "To bring to supervision" in replies[0] and "My time off work" in replies[0]

    await chat.send("/entries")
    await chat.press("1")
    await chat.press("Edit")
    assert chat.buttons()[0] == "Add a note"
    await chat.press("Add a note")
    replies = await chat.send("Talked it through with my supervisor afterwards")
    assert "updated" in replies[0]
    await chat.send("/entries")
    await chat.press("1")
    await chat.press("Edit")
    await chat.press("What I'm about to share")
    replies = await chat.send("A short story about my time off work")
    assert "updated" in replies[0]
    # Replace a button answer by pressing the new choice.
    await chat.send("/entries")
    await chat.press("1")
    await chat.press("Edit")
    await chat.press("Timing")
    asked, _ = chat.keyboard()
    replies = await chat.press("Yes")
    assert "Timing" in replies[0]
    assert chat.messages()[asked] == (
        "Send the new version of Timing, or tap one of these. /cancel leaves it as it is.\n\n→ Yes",
        [],
    )  # the choice stays visible where it was pressed
    await chat.send("/entries")
    opened = "\n".join(await chat.press("1"))
    assert "Added later" in opened and "Talked it through" in opened
    assert "A short story about my time off work" in opened
    assert "My time off work\n" not in opened
    assert "Marked to bring to supervision" in opened

    await chat.press("Delete")
    await chat.press("Yes, delete it")
    assert rows(bot, "SELECT COUNT(*) FROM entries")[0][0] == 0
    assert rows(bot, "SELECT COUNT(*) FROM answers")[0][0] == 0
    assert rows(bot, "SELECT COUNT(*) FROM answer_messages")[0][0] == 0
    replies = await chat.send("/entries time")
    assert "Nothing found" in replies[0]


async def test_forged_entry_ids_get_not_found(bot: Harness) -> None:
    alex, sam = Chat(bot, Person(4001, "Alex")), Chat(bot, Person(4002, "Sam"))
    await sam.send("/start")
    await alex.send("Alex's own words")
    entry_id = rows(bot, "SELECT id FROM entries")[0][0]
    for data in [
        f"o:{entry_id}",
        f"x:{entry_id}:delete_yes",
        f"x:{entry_id}:flag",
        f"x:{entry_id}:edit",
        f"x:{entry_id}:r:writing",
    ]:
        replies = await sam.press_data(data)
        assert replies == [] and "isn't in your journal" in sam.toasts()[-1]
    assert rows(bot, "SELECT COUNT(*), MAX(flagged) FROM entries") == [(1, 0)]


async def test_editing_a_message_updates_the_saved_answer(chat: Chat, bot: Harness) -> None:
    await chat.send("/prepare")
    first = chat.person.text("My experience of anxiety")
    await chat.send_update(first)
    replies = await chat.send_update(
        chat.person.edited(first["message"]["message_id"], "My experience of panic attacks")
    )
    assert "updated your saved answer" in replies[0]
    assert "Experiences I could draw on" in replies[0]

    def read(tx: Unit) -> dict[str, str]:
        row = tx.person(chat.person.user_id, "Europe/London")
        return tx.answers(row.cipher, 1)

    assert (await bot.service.store.run(read))["experiences"] == "My experience of panic attacks"
    replies = await chat.send_update(chat.person.edited(99_999, "not an answer"))
    assert "nothing changed" in replies[0] or "keep what you first sent" in replies[0]


async def test_identifying_details_are_flagged_kindly_and_can_be_rewritten(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/reflect")
    replies = await chat.send("My client John was upset, his number is 07700 900123")
    warning = replies[0]
    assert "a name" in warning and "a phone number" in warning and "unidentifiable" in warning
    assert "2 of 5" in replies[-1]  # saved as written; the next question follows
    await chat.press_under("could identify", "Rewrite it")
    replies = await chat.send("The person I support was upset")
    assert "Replaced" in replies[0] and "2 of 5" in replies[-1]

    def read(tx: Unit) -> dict[str, str]:
        row = tx.person(chat.person.user_id, "Europe/London")
        return tx.answers(row.cipher, 1)

    assert (await bot.service.store.run(read))["impact"] == "The person I support was upset"
    replies = await chat.send("Emailed sam@example.com afterwards")
    assert "an email address" in replies[0]
    await chat.press_under("an email address", "Keep as written")
    assert chat.toasts()[-1] == "Kept"
    assert (await bot.service.store.run(read))["helped"] == "Emailed sam@example.com afterwards"


async def test_distress_gets_one_gentle_offer_of_support_per_entry(chat: Chat) -> None:
    await chat.send("/journal")
    replies = await chat.send("Honestly I can't cope with this week")
    assert any("/support" in r for r in replies)
    replies = await chat.send("Still feel overwhelmed")
    assert not any("/support" in r for r in replies)  # once per entry
    await chat.send("/done")
    replies = await chat.send("A calm day today")
    assert not any("/support" in r for r in replies)
    replies = await chat.send("/support")
    text = replies[0]
    for line in ["Samaritans", "116 123", "SHOUT to 85258", "111", "option 2", "999"]:
        assert line in text


async def test_an_organisation_adds_its_own_support_lines(tmp_path: Path) -> None:
    from bot.app import open_service
    from flows.kernel.model import Input
    from flows.kernel.model import Person as EnginePerson
    from tests.drivers import make_config

    extra = tmp_path / "support.yaml"
    extra.write_text('organisation:\n  - "<b>Staff support</b>: call 0300 123 4567"\n')
    service = await open_service(make_config(tmp_path / "data", support_file=extra))
    try:
        outcome = await service.handle(EnginePerson(77, "Jo"), Input.from_text("/support"))
        text = "\n".join(plain(r.html) for r in outcome.replies)
        assert "Staff support: call 0300 123 4567" in text and "Samaritans" in text
    finally:
        await service.store.close()


async def test_export_has_every_answer_in_markdown_and_json(chat: Chat, bot: Harness) -> None:
    await chat.send("/prepare")
    answers = [f"prep answer {n} <&> 🌱" for n in range(9)]
    for answer in answers:
        await chat.send(answer)
    await chat.send("/moment")
    await chat.send("about my recovery")
    for label in ["The team", "A brief outline", "To offer hope or ideas", "Yes", "Yes", "Yes"]:
        await chat.press(label)
    await write_journal(chat, "free words #tagged")
    replies = await chat.send("/export")
    assert "3 entries" in replies[0]
    documents = [c for c in bot.request.calls if c.method == "sendDocument"]
    assert len(documents) == 2
    by_name = {d.params["document"].filename: d for d in documents}
    assert any(name.endswith(".md") for name in by_name)
    assert all(d.params.get("protect_content") in (True, "true") for d in documents)
    md, js = _export_bodies(bot)
    data = json.loads(js)
    texts = [a["text"] for e in data["entries"] for a in e["answers"]]
    for answer in [*answers, "about my recovery", "free words #tagged", "Yes"]:
        assert answer in texts
        assert answer.split(" <")[0] in md
    assert ["tagged"] in [e["tags"] for e in data["entries"]]


def _export_bodies(bot: Harness) -> tuple[str, str]:
    calls = [c for c in bot.request.calls if c.method == "sendDocument"]
    contents = {c.params["document"].filename: c.params["document"] for c in calls}
    md = next(u for n, u in contents.items() if n.endswith(".md"))
    js = next(u for n, u in contents.items() if n.endswith(".json"))
    return md.content.decode(), js.content.decode()


async def test_forget_erases_everything_and_they_start_fresh(
    chat: Chat, bot: Harness, data_dir: Path
) -> None:
    canary = "CANARY-forget-me-2718"
    await write_journal(chat, f"{canary} in my journal")
    await chat.send(f"{canary} as a note")
    (blob,) = rows(bot, "SELECT value FROM answers LIMIT 1")[0]
    (wrapped,) = rows(bot, "SELECT wrapped_key FROM people")[0]
    replies = await chat.send("/forget")
    assert "all 2 entries" in replies[0]
    await chat.press("Erase everything")
    replies = await chat.press("Yes, erase it all now")
    assert "erased" in replies[0]
    for table in ["people", "entries", "answers", "conversations", "answer_messages"]:
        assert rows(bot, f"SELECT COUNT(*) FROM {table}")[0][0] == 0, table
    for path in data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert canary.encode() not in data, path.name
            assert bytes(blob) not in data, path.name  # not even the ciphertext
            assert bytes(wrapped) not in data, path.name  # nor their wrapped key
    replies = await chat.send("/start")
    assert "Hello Alex" in replies[0]  # a fresh start, welcomed anew


async def test_forget_can_be_called_off_at_either_step(chat: Chat, bot: Harness) -> None:
    await chat.send("a thought")
    await chat.send("/forget")
    replies = await chat.press("Keep everything")
    assert "nothing has been erased" in replies[0]
    await chat.send("/forget")
    await chat.press("Erase everything")
    replies = await chat.press("Keep everything")
    assert "nothing has been erased" in replies[0]
    assert rows(bot, "SELECT COUNT(*) FROM entries")[0][0] == 1


async def test_moving_on_from_the_identifying_check_keeps_the_words(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/reflect")
    await chat.send("Working with Priya today went well")
    replies = await chat.send("/entries")  # a command instead of Keep / Rewrite
    assert any("still in Reflection" in r for r in replies)
    await chat.send("It gave them hope")  # the next answer, as the question asked

    def read(tx: Unit) -> dict[str, str]:
        row = tx.person(chat.person.user_id, "Europe/London")
        return tx.answers(row.cipher, 1)

    answers = await bot.service.store.run(read)
    assert answers == {
        "impact": "Working with Priya today went well",
        "helped": "It gave them hope",
    }
