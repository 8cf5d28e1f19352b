"""The identifying-detail check in whole conversations: a flagged answer stays saved as written, the
next question follows at once, and only a press on "Rewrite it" makes the next message a
replacement. Words never land under the wrong question."""

from __future__ import annotations

from flows.store.unit import Unit
from tests.drivers import Chat, Harness

PREP_STEPS = [
    "experiences",
    "comfortable_colleagues",
    "comfortable_people",
    "helpful_colleagues",
    "helpful_people",
    "present_colleagues",
    "present_people",
    "not_sharing",
    "social_media",
]


async def answers_of(bot: Harness, chat: Chat, entry_id: int = 1) -> dict[str, str]:
    def read(tx: Unit) -> dict[str, str]:
        row = tx.person(chat.person.user_id, "Europe/London")
        return tx.answers(row.cipher, entry_id)

    return await bot.service.store.run(read)


async def test_a_worker_who_carries_on_keeps_every_answer_under_its_own_question(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/prepare")
    typed = {step: f"answer for {step}" for step in PREP_STEPS}
    typed["experiences"] = "Growing up, my client Jamie Hart reminded me of it. 07700 900123"
    typed["helpful_colleagues"] = "I'd mention it to the person I support, Priya"
    typed["present_people"] = "Emailed sam@example.com about it"
    warnings = 0
    for step in PREP_STEPS:
        replies = await chat.send(typed[step])
        if "which could identify someone" in replies[0]:
            warnings += 1
            # The warning, then straight on: the next question (or the summary) follows at once.
            assert len(replies) >= 2
            warning_id = len(chat.sent()) - len(replies) + 1
            assert [b for b, _ in chat.messages()[warning_id][1]] == [
                "Keep as written",
                "Rewrite it",
            ]
    assert warnings == 3
    texts = chat.read()
    assert any(
        "a name (Jamie Hart) and a phone number (07700 900123), which could identify someone" in t
        for t in texts
    )
    assert any("a name (Priya)" in t for t in texts)
    assert any("an email address (sam@example.com)" in t for t in texts)
    assert "Saved to your journal" in texts[-1]
    assert await answers_of(bot, chat) == typed  # every answer under its own question, as written


async def test_rewrite_it_makes_only_the_next_message_a_replacement(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/reflect")
    replies = await chat.send("My client John was upset, his number is 07700 900123")
    assert "a name (John) and a phone number (07700 900123)" in replies[0]
    assert "unidentifiable" in replies[0]
    assert "2 of 5" in replies[-1]  # the next question came straight after the warning
    replies = await chat.press_under("which could identify someone", "Rewrite it")
    assert replies == [
        "Send the new version of The impact it had and I'll put it in place of what you wrote."
        " /cancel keeps it as it is."
    ]
    assert "→ Rewrite it" in chat.edits()[-1]  # the warning shows what was chosen
    replies = await chat.send("The person I support was upset")
    assert replies[0].startswith("Replaced: The impact it had now has your new version.")
    assert "2 of 5" in replies[-1]  # back to where they were
    await chat.send("It helped them feel less alone")
    answers = await answers_of(bot, chat)
    assert answers["impact"] == "The person I support was upset"
    assert answers["helped"] == "It helped them feel less alone"
    # The settled warning's buttons do nothing now but say so.
    before = len(chat.sent())
    await chat.press_data(_button(chat, "Rewrite it"), message_id=_warning_id(chat))
    assert chat.toasts()[-1] == "Already sorted: your answer is as you left it"
    assert len(chat.sent()) == before
    await chat.send("Nervous then, glad now")
    answers = await answers_of(bot, chat)
    assert answers["feelings"] == "Nervous then, glad now"
    assert answers["impact"] == "The person I support was upset"


async def test_rewrite_pressed_a_few_questions_later_replaces_that_answer(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/reflect")
    await chat.send("Working with Priya today went well")
    await chat.send("It gave them hope")
    replies = await chat.send("Nervous then, glad now")
    assert "4 of 5" in replies[-1]
    replies = await chat.press_under("a name (Priya)", "Rewrite it")
    assert "The impact it had" in replies[0]
    replies = await chat.send("Working with someone today went well")
    assert "Replaced" in replies[0] and "4 of 5" in replies[-1]
    await chat.send("That it is worth it")
    answers = await answers_of(bot, chat)
    assert answers == {
        "impact": "Working with someone today went well",
        "helped": "It gave them hope",
        "feelings": "Nervous then, glad now",
        "learned": "That it is worth it",
    }


async def test_keep_as_written_settles_it_and_a_second_press_only_toasts(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/reflect")
    await chat.send("My client John was upset")
    before = len(chat.sent())
    await chat.press_under("a name (John)", "Keep as written")
    assert chat.toasts()[-1] == "Kept"
    assert len(chat.sent()) == before  # nothing more said: the next question is already there
    assert "→ Keep as written" in chat.edits()[-1]
    assert chat.messages()[_warning_id(chat)][1] == []  # its buttons are gone
    await chat.press_data(_button(chat, "Rewrite it"), message_id=_warning_id(chat))
    assert chat.toasts()[-1] == "Already sorted: your answer is as you left it"
    assert len(chat.sent()) == before
    await chat.send("It gave them hope")  # the next answer, not a rewrite
    answers = await answers_of(bot, chat)
    assert answers == {"impact": "My client John was upset", "helped": "It gave them hope"}


async def test_cancel_after_rewrite_it_keeps_the_answer_as_written(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/reflect")
    await chat.send("My client John was upset")
    await chat.press_under("a name (John)", "Rewrite it")
    replies = await chat.send("/cancel")
    assert "carrying on" in replies[0] and "2 of 5" in replies[-1]
    await chat.send("It gave them hope")
    answers = await answers_of(bot, chat)
    assert answers == {"impact": "My client John was upset", "helped": "It gave them hope"}


async def test_a_choice_pressed_instead_of_the_rewrite_still_counts(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/reflect")
    for words in ["It went well", "It gave them hope", "Fine"]:
        await chat.send(words)
    await chat.send("That my client John Smith felt heard")
    await chat.press_under("a name (John Smith)", "Rewrite it")
    replies = await chat.press("Yes, I'd like to")
    assert any("Saved to your journal" in r for r in replies)
    answers = await answers_of(bot, chat)
    assert answers["learned"] == "That my client John Smith felt heard"
    assert answers["share_learning"] == "yes"


async def test_a_note_with_a_name_is_kept_and_the_next_words_are_a_new_note(
    chat: Chat, bot: Harness
) -> None:
    await chat.send("/start")
    replies = await chat.send("Saw my client Priya Shah today, a good chat about her garden")
    assert "a name (Priya Shah)" in replies[0] and len(replies) == 1
    await chat.send("Another thought, much later on, about boundaries at work and rest")
    assert (await answers_of(bot, chat, 1)) == {
        "writing.1": "Saw my client Priya Shah today, a good chat about her garden"
    }
    assert (await answers_of(bot, chat, 2)) == {
        "writing.1": "Another thought, much later on, about boundaries at work and rest"
    }
    await chat.press_under("a name (Priya Shah)", "Rewrite it")
    replies = await chat.send("Saw someone I support today, a good chat about gardens")
    assert replies == ["Replaced: Journal entry now has your new version."]
    assert (await answers_of(bot, chat, 1)) == {
        "writing.1": "Saw someone I support today, a good chat about gardens"
    }
    replies = await chat.send("/entries")
    assert "Saw someone I support today" in "\n".join(replies)  # searchable as rewritten


async def test_a_warning_from_before_the_upgrade_no_longer_swallows_the_next_answer(
    chat: Chat, bot: Harness
) -> None:
    """A conversation saved while an old warning waited (pending "identifying", the flow not yet
    moved on): words typed now keep the flagged answer and answer the next question."""
    await chat.send("/reflect")
    await chat.send("It went well")

    def old_pending(tx: Unit) -> None:
        conv = tx.conversation(chat.person.user_id)
        conv.step, conv.history = "impact", []
        conv.pending = {"kind": "identifying", "entry": 1, "key": "impact", "then": "flow"}
        tx.save_conversation(conv)

    await bot.service.store.run(old_pending)
    await chat.send("It gave them hope")
    answers = await answers_of(bot, chat)
    assert answers == {"impact": "It went well", "helped": "It gave them hope"}


def _warning_id(chat: Chat) -> int:
    return max(i for i, (text, _) in chat.messages().items() if "could identify" in text)


def _button(chat: Chat, label: str) -> str:
    """The callback data a warning's button had when it was sent."""
    for call in reversed(chat.sent()):
        markup = call.params.get("reply_markup")
        if isinstance(markup, dict) and "could identify" in str(call.params["text"]):
            for row in markup["inline_keyboard"]:
                for b in row:
                    if b["text"] == label:
                        return str(b["callback_data"])
    raise AssertionError(f"no {label!r} sent under a warning")
