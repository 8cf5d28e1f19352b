"""Support that meets the moment, in whole conversations: words about wanting to die, ending it,
suicide or self-harm get the urgent lines in the reply itself (one message, never blocking, the
words still saved); other heavy words get one gentle line; /support is easy to find."""

from __future__ import annotations

from pathlib import Path

from flows.store.unit import Unit
from tests.drivers import Chat, Harness


async def answers_of(bot: Harness, chat: Chat, entry_id: int = 1) -> dict[str, str]:
    def read(tx: Unit) -> dict[str, str]:
        row = tx.person(chat.person.user_id, "Europe/London")
        return tx.answers(row.cipher, entry_id)

    return await bot.service.store.run(read)


def urgent(replies: list[str]) -> list[str]:
    return [r for r in replies if "116 123" in r]


async def test_acute_words_get_the_lines_in_the_reply_and_the_questions_carry_on(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/reflect")
    replies = await chat.send("Afterwards I went home and honestly I wanted to end it all")
    (lines,) = urgent(replies)  # one message carries them
    assert "Samaritans" in lines and "999 if you're in danger now" in lines
    assert "supervisor or manager" in lines
    assert "It's saved" in lines
    for diagnosis in ["you are suicidal", "you're suicidal", "depress", "crisis team"]:
        assert diagnosis not in lines.lower()
    assert replies.index(lines) < len(replies) - 1 and "2 of 5" in replies[-1]  # never blocking
    assert (await answers_of(bot, chat))["impact"] == (
        "Afterwards I went home and honestly I wanted to end it all"
    )
    replies = await chat.send("Still thinking about suicide a bit")
    assert not urgent(replies)  # once per entry, not at every message
    assert "3 of 5" in replies[-1]


async def test_heavy_words_get_the_gentle_line_then_acute_words_still_get_the_lines(
    chat: Chat,
) -> None:
    await chat.send("/journal")
    replies = await chat.send("Feeling overwhelmed with everything")
    assert any("/support has people you can talk to" in r for r in replies)
    assert not urgent(replies)
    replies = await chat.send(
        "Some days I don’t want to live"
    )  # a curly apostrophe, as phones type
    assert len(urgent(replies)) == 1
    replies = await chat.send("and I keep thinking about self-harm")
    assert not urgent(replies)


async def test_acute_words_in_a_note_are_kept_and_answered_with_the_lines(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/start")
    replies = await chat.send("I want to die some days, and work is the only thing going well")
    assert len(urgent(replies)) == 1
    assert (await answers_of(bot, chat)) == {
        "writing.1": "I want to die some days, and work is the only thing going well"
    }


async def test_support_is_easy_to_find_and_mentions_their_supervisor(
    chat: Chat, bot: Harness
) -> None:
    from bot.telegram_bot import menu

    welcome = (await chat.send("/start"))[0]
    assert "/support" in welcome
    help_text = (await chat.send("/help"))[0]
    assert help_text.index("/support") < help_text.index("/prepare")
    assert menu(bot.service)[0].command == "support"
    support = (await chat.send("/support"))[0]
    assert "supervisor or manager" in support
    for line in ["Samaritans", "116 123", "SHOUT to 85258", "111", "999"]:
        assert line in support


async def test_an_organisation_replaces_the_urgent_lines_and_phrases(tmp_path: Path) -> None:
    from bot.app import open_service
    from flows.kernel.model import Input
    from flows.kernel.model import Person as EnginePerson
    from tests.drivers import make_config, plain

    extra = tmp_path / "support.yaml"
    extra.write_text(
        "urgent_lines:\n"
        '  - "<b>Staff crisis line</b>: call 0300 123 4567"\n'
        "acute_phrases:\n"
        "  - at the end of my rope\n"
    )
    service = await open_service(make_config(tmp_path / "data", support_file=extra))
    try:
        person = EnginePerson(77, "Jo")
        await service.handle(person, Input.from_text("/journal"))

        async def said(text: str) -> str:
            outcome = await service.handle(person, Input.from_text(text))
            return "\n".join(plain(r.html) for r in outcome.replies)

        assert "Staff crisis line: call 0300 123 4567" in await said("At the end of my rope")
        await service.handle(person, Input.from_text("/done"))
        await service.handle(person, Input.from_text("/journal"))
        replaced = await said("I want to die")  # the organisation's phrases replace ours
        assert "Staff crisis line" not in replaced and "116 123" not in replaced
    finally:
        await service.store.close()
