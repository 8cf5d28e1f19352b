"""Generated conversations: whatever people send, in whatever order, the bot answers kindly,
never crashes, never sends an invalid Bot API call, and never shows one person another's words."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Chat, Harness
from tests.offline import Person

COMMANDS = [
    "/start",
    "/help",
    "/settings",
    "/cancel",
    "/entries",
    "/skip",
    "/back",
    "/done",
    "/prepare",
    "/moment",
    "/reflect",
    "/tips",
    "/coproduction",
    "/progress",
    "/journal",
    "/support",
    "/export",
    "/forget",
    "/nonsense",
    "/entries #tag",
    "/entries word",
    "/entries supervision",
    "/start link_abc",
]
texts = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=0, max_size=300
) | st.sampled_from(["<b>", "a & b", "🌱👩🏽‍⚕️", "שלום עולם", "yes", "not sure", "#tag words"])
actions = st.lists(
    st.tuples(
        st.integers(0, 1),  # which person
        st.one_of(
            st.tuples(st.just("text"), texts),
            st.tuples(st.just("command"), st.sampled_from(COMMANDS)),
            st.tuples(st.just("press"), st.integers(0, 9)),  # a button from the last keyboard
            st.tuples(st.just("forged"), st.text(max_size=70)),
            st.tuples(st.just("photo"), st.none()),
            st.tuples(st.just("edit"), texts),
        ),
    ),
    min_size=1,
    max_size=25,
)


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=actions)
async def test_generated_conversations(bot: Harness, script: list, caplog) -> None:  # type: ignore[type-arg, no-untyped-def]
    caplog.set_level(logging.ERROR)
    base = 9000 + (abs(hash(repr(script))) % 100_000) * 2  # fresh people for every example
    people = [Chat(bot, Person(base, "Ana")), Chat(bot, Person(base + 1, "Ben"))]
    written: dict[int, list[str]] = {0: [], 1: []}
    for who, (kind, value) in script:
        chat = people[who]
        before = len(bot.request.calls)
        if kind == "text":
            written[who].append(value)
            await chat.send(value or " ")
        elif kind == "command":
            await chat.send(value)
        elif kind == "press":
            message_id, buttons = chat.keyboard()
            if not buttons:
                continue
            await chat.press_data(buttons[value % len(buttons)][1], message_id=message_id)
        elif kind == "forged":
            await chat.press_data(value or "x")
        elif kind == "photo":
            await chat.send_update(chat.person.photo())
        else:
            await chat.send_update(chat.person.edited(10_001, value or " "))
        answered = bot.request.calls[before:]
        assert answered, f"{kind} {value!r} got no reply at all"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an update failed"
    # Neither person ever saw the other's words (long enough to be distinctive).
    for who, chat in enumerate(people):
        seen = "\n".join(chat.sent_texts())
        for words in written[1 - who]:
            if len(words.strip()) >= 12 and words.strip() not in "".join(written[who]):
                assert words.strip() not in seen
