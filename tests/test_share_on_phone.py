"""Consent you can read on a phone (issue 18): the share preview comes one message per entry, each
answer's button says what it leaves out, what is private by design starts left out, the expiry
says what it does with the current choice ticked, and no message in any share flow is over about
1,000 characters or 8 buttons."""

from __future__ import annotations

from typing import Any

from flows.kernel import render
from flows.store.unit import Unit
from tests.drivers import Chat, Harness, link

LONG = "I kept going back to it. " * 60  # about 1,500 characters: one long answer
LIMIT = 1000
BUTTONS = 8


async def fill_everything(bot: Harness, person_id: int, flagged: bool = True) -> dict[str, int]:
    """One entry of every question set, every answer written (some very long), as the engine
    writes them."""
    service = bot.service
    made: dict[str, int] = {}

    def fill(tx: Unit) -> None:
        row = tx.person(person_id, "Europe/London")
        for flow in service.cat.flows.values():
            entry_id = tx.create_entry(person_id, flow.name, None)
            for n, step in enumerate(flow.steps.values()):
                key = f"{step.id}.1" if step.input == "free" else step.id
                words = f"{flow.name}-{step.id} " + (LONG if n % 2 else "a few words")
                value = step.choices[0].value if step.choices else words
                tx.put_answer(row.cipher, entry_id, key, value)
            tx.set_entry_status(entry_id, "saved")
            tx.set_flag(entry_id, flagged)
            made[flow.name] = entry_id

    await service.store.run(fill)
    return made


def every_message(chat: Chat, since: int = 0) -> list[tuple[str, int]]:
    """(text, buttons) of every message sent or rewritten in this chat after call `since`."""
    shown = []
    for call in chat.bot.request.calls[since:]:
        if str(call.params.get("chat_id")) != str(chat.chat_id):
            continue
        if call.method not in {"sendMessage", "editMessageText"}:
            continue
        markup: Any = call.params.get("reply_markup")
        rows = markup["inline_keyboard"] if isinstance(markup, dict) else []
        shown.append((str(call.params["text"]), sum(len(row) for row in rows)))
    return shown


def assert_fits_a_phone(chat: Chat, since: int) -> None:
    for html, buttons in every_message(chat, since):
        assert render.telegram_length(html) <= LIMIT, (render.telegram_length(html), html[:200])
        assert buttons <= BUTTONS, (buttons, html[:200])


async def test_a_big_pack_previews_one_entry_at_a_time_within_a_phone_screen(
    bot: Harness, worker: Chat, supervisor: Chat
) -> None:
    await link(worker, supervisor)
    made = await fill_everything(bot, worker.chat_id)
    since = len(bot.request.calls)
    await worker.send("/share")
    replies = await worker.press(f"Supervision pack ({len(made)})")
    assert "would be shared" in replies[0] and "Shared on" not in "\n".join(replies)
    # One message per entry (a long entry takes more than one), each starting with its title.
    titles = {bot.service.cat.flows[name].title for name in made}
    starts = {text.split(" · ")[0].split("\n")[-1] for text in replies[1:-1]}
    assert titles <= starts
    assert "(shortened here: shared in full)" in "\n".join(replies)
    # Every answer has its own "Leave out: …" button, under the entry it belongs to.
    labels = [b for _, (_, buttons) in worker.messages().items() for b, _ in buttons]
    assert sum(b.startswith(("Leave out: ", "Put back: ")) for b in labels) > 30
    # Private by design starts left out, saying so; everything else starts in.
    assert [b for b in labels if b.startswith("Put back: ")] == [
        "Put back: What I'm not prepared to share"
    ]
    preview = "\n".join(replies)
    assert "What I'm not prepared to share (left out for now, as it's private by design" in preview
    assert "preparation-not_sharing" not in preview

    # Leave something out and put something back, then share: every message fits a phone.
    await worker.press_under("preparation-experiences", "Leave out: Experiences I could draw on")
    await worker.press_under(
        "What I'm not prepared to share", "Put back: What I'm not prepared to share"
    )
    assert "preparation-not_sharing" in worker.edits()[-1]
    await worker.press_under("isn't struck through", "For 30 days")
    await worker.press_under("isn't struck through", "Share with Sam")
    assert "for 30 days" in worker.edits()[-1]
    received = "\n".join(supervisor.read())
    assert "preparation-not_sharing" in received  # put back: shared
    assert "preparation-experiences" not in received  # left out: not shared
    flat = " ".join(received.split())
    assert f"preparation-not_sharing {LONG.strip()}" in flat  # in full, across messages
    assert_fits_a_phone(worker, since)
    assert_fits_a_phone(supervisor, since)
    # The pickers fit too, each entry recognisable by its date and first words.
    await worker.send("/share")
    replies = await worker.press("One entry")
    assert "a few words" in replies[-1] and len(worker.buttons()) <= BUTTONS
    await worker.press("Older »")
    await worker.send("/share")
    await worker.press("A sharing episode")
    # /shared and withdrawing it fit too.
    await worker.send("/shared")
    await worker.press("Withdraw 1")
    await worker.press("Withdraw it")
    assert_fits_a_phone(worker, since)


async def test_the_expiry_says_what_it_does_and_ticks_the_current_choice(
    bot: Harness, worker: Chat, supervisor: Chat
) -> None:
    await link(worker, supervisor)
    await worker.send("Something from today that I'd like Sam to see, in a few more words")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press("1")
    expiry = [b for b in worker.buttons() if "withdraw" in b.lower() or "days" in b]
    assert expiry == ["✓ Until I withdraw it", "For 7 days", "For 30 days"]
    await worker.press("For 7 days")
    assert "for 7 days, then it's removed" in worker.edits()[-1]
    assert [b for b in worker.buttons() if b.startswith("✓")] == ["✓ For 7 days"]
    await worker.press("✓ For 7 days")  # pressing the current choice again keeps it
    assert [b for b in worker.buttons() if b.startswith("✓")] == ["✓ For 7 days"]
    await worker.press("Share with Sam")
    assert "for 7 days" in worker.edits()[-1]


async def test_an_old_preview_cycling_expiry_button_still_works(
    bot: Harness, worker: Chat, supervisor: Chat
) -> None:
    """A preview sent before this change had one expiry button ("x") that moved round the
    choices: pressed now, it still does, and says so."""
    await link(worker, supervisor)
    await worker.send("An older preview's words, a few more of them")
    await worker.send("/share")
    await worker.press("One entry")
    await worker.press("1")
    message_id, buttons = worker.keyboard()
    turn = buttons[0][1].split(":")[1]
    await worker.press_data(f"p:{turn}:x", message_id=message_id)
    assert "for 7 days" in worker.edits()[-1]
    await worker.press_data(f"p:{turn}:x99", message_id=message_id)
    assert worker.toasts()[-1].startswith("I couldn't find that")
