"""Tests for the test-support modules: the Bot API validator and the two fakes.

They are what every bot test leans on, so a validator that accepts everything
or a fake that answers implausibly would make the whole suite quietly worthless.
"""

from __future__ import annotations

import asyncio
import html
import json
import threading
import time
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Update,
)
from telegram.error import BadRequest, InvalidToken
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
)

from tests import botapi
from tests.botapi import Upload, check, decode_params, parse_html, violations
from tests.fakeapi import FakeBotAPI
from tests.offline import Call, Person, RecordingRequest, last_keyboard, texts

CHAT = 1001


def keyboard(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"inline_keyboard": [list(buttons)]}


# --- validator: accepts ---------------------------------------------------------------------

GOOD_HTML = (
    "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins> "
    '<s>s</s> <strike>s</strike> <del>d</del> <span class="tg-spoiler">x</span> '
    '<tg-spoiler>y</tg-spoiler> <a href="https://example.org/?a=1&amp;b=2">link</a> '
    '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> <code>x &lt; y</code> '
    '<pre><code class="language-python">print("&gt;")</code></pre> <pre>raw</pre> '
    "<blockquote>q</blockquote> <blockquote expandable>long</blockquote> "
    "<b>bold <i>and italic <u>and underlined</u></i></b> &quot;&#39;&#x1F600;"
)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("getMe", {}),
        ("sendMessage", {"chat_id": CHAT, "text": "hello"}),
        ("sendMessage", {"chat_id": "@channel", "text": GOOD_HTML, "parse_mode": "HTML"}),
        (
            "sendMessage",
            {
                "chat_id": CHAT,
                "text": "Pick one",
                "disable_notification": True,
                "reply_markup": keyboard(
                    {"text": "Yes", "callback_data": "y" * 64},
                    {"text": "Docs", "url": "https://example.org"},
                ),
            },
        ),
        (
            "sendMessage",
            {
                "chat_id": CHAT,
                "text": "Type",
                "reply_markup": {"keyboard": [[{"text": "A"}, "B"]], "resize_keyboard": True},
            },
        ),
        ("sendMessage", {"chat_id": CHAT, "text": "x", "reply_markup": {"remove_keyboard": True}}),
        (
            "editMessageText",
            {"chat_id": CHAT, "message_id": 3, "text": "<i>now</i>", "parse_mode": "HTML"},
        ),
        ("editMessageReplyMarkup", {"chat_id": CHAT, "message_id": 3}),
        ("answerCallbackQuery", {"callback_query_id": "42", "text": "x" * 200}),
        ("setMyCommands", {"commands": [{"command": "start_2", "description": "Begin"}]}),
        ("sendDocument", {"chat_id": CHAT, "document": Upload("a.txt", 3), "caption": ""}),
        (
            "sendPhoto",
            {"chat_id": CHAT, "photo": "file-id", "caption": "<b>c</b>", "parse_mode": "HTML"},
        ),
        ("getUpdates", {"offset": 5, "limit": 100, "timeout": 10, "allowed_updates": ["message"]}),
    ],
)
def test_validator_accepts_good_calls(method: str, params: dict[str, Any]) -> None:
    assert violations(method, params) == []
    check(method, params)


def test_4096_utf16_units_after_parsing_is_fine_even_if_the_markup_is_longer() -> None:
    text = "<b>" + "😀" * 2048 + "</b>"  # 2048 emoji are 4096 UTF-16 units
    assert violations("sendMessage", {"chat_id": CHAT, "text": text, "parse_mode": "HTML"}) == []


# --- validator: rejects ---------------------------------------------------------------------


def only(problems: list[str], needle: str) -> None:
    assert len(problems) == 1, problems
    assert needle in problems[0], problems


def test_unknown_method_is_rejected_case_sensitively() -> None:
    only(violations("sendmessage", {"chat_id": CHAT, "text": "x"}), "unknown Bot API method")
    only(violations("sendMesage", {}), "unknown Bot API method")


def test_missing_required_field() -> None:
    only(violations("sendMessage", {"chat_id": CHAT}), "sendMessage.text: required")


def test_unknown_field() -> None:
    only(violations("sendMessage", {"chat_id": CHAT, "text": "x", "colour": 1}), "'colour'")


def test_wrong_scalar_types() -> None:
    only(violations("sendMessage", {"chat_id": CHAT, "text": "x", "protect_content": 1}), "Boolean")
    only(
        violations("editMessageText", {"chat_id": CHAT, "message_id": "3", "text": "x"}), "Integer"
    )
    only(violations("sendMessage", {"chat_id": True, "text": "x"}), "Integer or String")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("<b>x", "<b> is never closed"),
        ("<script>x</script>", "unsupported tag <script>"),
        ("a < b", "bare '<'"),
        ("a > b", "bare '>'"),
        ("fish &chips", "bare '&'"),
        ("a&nbsp;b", "unsupported entity"),
        ("<b><i>x</b></i>", "tags must nest"),
        ("x</b>", "unexpected </b>"),
        ("<a>x</a>", "href"),
        ('<a href="https://e.org/?a=1&b=2">x</a>', "bare '&'"),
        ("<span>x</span>", "tg-spoiler"),
        ('<code class="language-py">x</code>', "directly inside <pre>"),
        ("<pre><b>x</b></pre>", "only <code>"),
        ("<code><i>x</i></code>", "inside <code>"),
        ('<a href="https://e.org"><a href="https://f.org">x</a></a>', "nested inside <a>"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "cannot be nested"),
        ('<blockquote expandable="yes">x</blockquote>', "no value"),
        ("<b class=x>x</b>", "bare '<'"),
        ("<B>x</B>", "bare '<'"),
        ("<br/>", "bare '<'"),
        ("&#0;", "not a valid character"),
    ],
)
def test_bad_html_is_rejected(text: str, needle: str) -> None:
    problems = violations("sendMessage", {"chat_id": CHAT, "text": text, "parse_mode": "HTML"})
    assert any(needle in p for p in problems), problems


def test_html_is_not_checked_without_parse_mode() -> None:
    assert violations("sendMessage", {"chat_id": CHAT, "text": "a < b & <script>"}) == []


def test_text_of_4097_utf16_units_after_parsing() -> None:
    text = "<b>" + "😀" * 2048 + "</b>!"
    problems = violations("sendMessage", {"chat_id": CHAT, "text": text, "parse_mode": "HTML"})
    only(problems, "4097 characters after entity parsing, must be 1-4096")
    only(violations("sendMessage", {"chat_id": CHAT, "text": "x" * 4097}), "4097 characters")


@pytest.mark.parametrize("text", ["<b></b>", "<i> \n </i>", "   "])
def test_text_empty_after_parsing(text: str) -> None:
    problems = violations("sendMessage", {"chat_id": CHAT, "text": text, "parse_mode": "HTML"})
    assert len(problems) == 1 and ("0 characters" in problems[0] or "whitespace" in problems[0])


def test_edited_text_and_captions_have_their_own_limits() -> None:
    edit = {"chat_id": CHAT, "message_id": 1, "text": "", "parse_mode": "HTML"}
    only(violations("editMessageText", edit), "must be 1-4096")
    caption = {"chat_id": CHAT, "photo": "id", "caption": "é" * 1025}
    only(violations("sendPhoto", caption), "1025 characters, must be 0-1024")
    only(violations("sendPhoto", {**caption, "caption": "<b>x", "parse_mode": "HTML"}), "closed")


def test_callback_data_is_limited_in_utf8_bytes() -> None:
    data = "é" * 32 + "a"  # 33 characters but 65 bytes
    params = {
        "chat_id": CHAT,
        "text": "x",
        "reply_markup": keyboard({"text": "A", "callback_data": data}),
    }
    only(violations("sendMessage", params), "inline_keyboard[0][0].callback_data: 65 bytes")


@pytest.mark.parametrize(
    ("button", "needle"),
    [
        ({"text": "A"}, "exactly one action field"),
        ({"text": "A", "callback_data": "a", "url": "https://e.org"}, "exactly one action field"),
        ({"text": " ", "callback_data": "a"}, "button text is empty"),
        ({"text": "A", "callback_data": ""}, "0 bytes"),
    ],
)
def test_bad_inline_buttons(button: dict[str, Any], needle: str) -> None:
    params = {"chat_id": CHAT, "text": "x", "reply_markup": keyboard(button)}
    only(violations("sendMessage", params), needle)


def test_reply_keyboard_shape() -> None:
    params = {"chat_id": CHAT, "text": "x", "reply_markup": {"keyboard": [{"text": "A"}]}}
    assert violations("sendMessage", params)


def test_answer_callback_query_text_limit() -> None:
    only(violations("answerCallbackQuery", {"callback_query_id": "1", "text": "x" * 201}), "201")


@pytest.mark.parametrize(
    ("commands", "needle"),
    [
        ([{"command": "Start", "description": "Begin"}], "lowercase"),
        ([{"command": "x" * 33, "description": "Begin"}], "33 characters"),
        ([{"command": "start", "description": ""}], "0 characters"),
        ([{"command": "start", "description": "d" * 257}], "257 characters"),
        ([{"command": f"c{i}", "description": "d"} for i in range(101)], "at most 100"),
    ],
)
def test_bad_commands(commands: list[dict[str, str]], needle: str) -> None:
    only(violations("setMyCommands", {"commands": commands}), needle)


def test_fields_ptb_defaults_add_everywhere_are_tolerated() -> None:
    params = {"chat_id": CHAT, "message_id": 1, "parse_mode": "HTML", "protect_content": True}
    assert violations("editMessageReplyMarkup", params) == []
    only(violations("editMessageReplyMarkup", {**params, "colour": 1}), "'colour'")


def test_parse_mode_must_be_known() -> None:
    only(violations("sendMessage", {"chat_id": CHAT, "text": "x", "parse_mode": "html"}), "HTML")


def test_check_raises_with_every_problem() -> None:
    with pytest.raises(AssertionError) as err:
        check("sendMessage", {"text": "<b>x", "parse_mode": "HTML"})
    assert "chat_id: required" in str(err.value) and "never closed" in str(err.value)


@given(st.text())
def test_escaped_text_parses_back_to_itself(s: str) -> None:
    assert parse_html(html.escape(s)) == (s, [])
    assert parse_html(f"<b>{html.escape(s)}</b>") == (s, [])


def test_decode_params_follows_the_spec_types() -> None:
    raw = {
        "chat_id": "1001",
        "text": "123",
        "disable_notification": "true",
        "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}',
    }
    assert decode_params("sendMessage", raw) == {
        "chat_id": 1001,
        "text": "123",
        "disable_notification": True,
        "reply_markup": keyboard({"text": "A", "callback_data": "a"}),
    }
    assert decode_params("sendMessage", {"chat_id": "@chan"}) == {"chat_id": "@chan"}


def test_utf16_len_counts_astral_characters_twice() -> None:
    assert botapi.utf16_len("a😀é") == 4


# --- offline Application --------------------------------------------------------------------


def offline_app() -> tuple[Application[Any, Any, Any, Any, Any, Any], RecordingRequest]:
    request = RecordingRequest()
    app = (
        ApplicationBuilder()
        .token("1:x")
        .request(request)
        .get_updates_request(RecordingRequest())
        .updater(None)
        .build()
    )
    return app, request


async def test_command_handler_reply_html_is_recorded_and_valid() -> None:
    app, request = offline_app()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Begin", callback_data="begin")]])
        await update.message.reply_html("<b>Welcome</b> &amp; hello", reply_markup=markup)

    app.add_handler(CommandHandler("start", start))
    alex = Person(user_id=CHAT)
    async with app:
        assert app.bot.username == "coreflect_test_bot"
        await app.process_update(Update.de_json(alex.text("/start"), app.bot))

    sends = [c for c in request.calls if c.method == "sendMessage"]
    assert sends == [
        Call(
            "sendMessage",
            {
                "chat_id": CHAT,
                "text": "<b>Welcome</b> &amp; hello",
                "parse_mode": "HTML",
                "reply_markup": keyboard({"text": "Begin", "callback_data": "begin"}),
            },
        )
    ]
    assert texts(request.calls, CHAT) == ["<b>Welcome</b> &amp; hello"]
    assert last_keyboard(request.calls, CHAT) == [("Begin", "begin")]
    request.assert_valid()


async def test_button_press_answer_and_edit() -> None:
    app, request = offline_app()
    seen: list[str | None] = []

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        seen.append(query.data)
        await query.answer()
        edited = await query.edit_message_text("Done <i>now</i>", parse_mode="HTML")
        assert not isinstance(edited, bool) and edited.text == "Done now"

    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        sent = await app.bot.send_message(
            CHAT,
            "Go?",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]]),
        )
        again = await app.bot.send_message(CHAT, "Again")
        assert (sent.message_id, again.message_id) == (1, 2)
        await app.process_update(Update.de_json(Person(CHAT).press("yes", 1), app.bot))

    assert seen == ["yes"]
    assert [c.method for c in request.calls[-2:]] == ["answerCallbackQuery", "editMessageText"]
    assert texts(request.calls, CHAT, edits=True) == ["Go?", "Again", "Done <i>now</i>"]
    request.assert_valid()


async def test_invalid_calls_are_collected_not_raised() -> None:
    app, request = offline_app()
    async with app:
        await app.bot.send_message(CHAT, "<b>oops", parse_mode="HTML")
        await app.bot.set_my_commands([BotCommand("Start", "Begin")])
        await app.bot.send_document(CHAT, b"notes", filename="notes.txt", caption="c")
    assert len(request.violations) == 2
    with pytest.raises(AssertionError, match="never closed"):
        request.assert_valid()
    doc = request.calls[-1].params["document"]
    assert doc == Upload("notes.txt", 5, "text/plain")


async def test_albums_copies_and_defaults_are_answered_and_valid() -> None:
    request = RecordingRequest()
    app = (
        ApplicationBuilder()
        .token("1:x")
        .request(request)
        .updater(None)
        .defaults(Defaults(parse_mode="HTML", protect_content=True))
        .build()
    )
    async with app:
        album = await app.bot.send_media_group(
            CHAT, [InputMediaPhoto(b"one"), InputMediaPhoto(b"two", caption="<b>2</b>")]
        )
        assert [m.message_id for m in album] == [1, 2] and album[1].caption == "2"
        copied = await app.bot.copy_message(CHAT, CHAT, 1)
        assert copied.message_id == 3
        await app.bot.edit_message_reply_markup(CHAT, 1)
    media = request.calls[1].params["media"]
    assert [m["type"] for m in media] == ["photo", "photo"]
    assert set(request.calls[1].params) == {"chat_id", "media", "protect_content"}
    request.assert_valid()


def test_person_updates_parse_as_ptb_expects() -> None:
    bot = Bot("1:x")
    a, b = Person(1, "Ann"), Person(2, "Bo", "de")
    first, second = a.text("/start now"), b.text("hello")
    assert second["update_id"] > first["update_id"]

    update = Update.de_json(first, bot)
    assert update.message is not None and update.effective_user is not None
    assert update.message.text == "/start now"
    assert update.message.parse_entities() == {update.message.entities[0]: "/start"}
    assert update.effective_user.first_name == "Ann"
    assert Update.de_json(second, bot).effective_user.language_code == "de"  # type: ignore[union-attr]

    query = Update.de_json(a.press("opt:1", message_id=7), bot).callback_query
    assert query is not None and query.data == "opt:1" and query.message is not None
    assert query.message.is_accessible and query.message.message_id == 7

    assert Update.de_json(a.photo(), bot).message.photo  # type: ignore[union-attr]
    assert Update.de_json(a.sticker(), bot).message.sticker  # type: ignore[union-attr]
    assert Update.de_json(a.voice(), bot).message.voice  # type: ignore[union-attr]
    assert Update.de_json(a.document(), bot).message.document  # type: ignore[union-attr]
    edited = Update.de_json(a.edited(10_001, "fixed"), bot).edited_message
    assert edited is not None and edited.text == "fixed" and edited.edit_date is not None


def test_keyboard_helpers_read_json_strings_and_ignore_other_chats() -> None:
    calls = [
        Call(
            "sendMessage",
            {
                "chat_id": 5,
                "text": "a",
                "reply_markup": keyboard({"text": "X", "callback_data": "x"}),
            },
        ),
        Call(
            "sendMessage",
            {
                "chat_id": "1001",
                "text": "b",
                "reply_markup": json.dumps(
                    keyboard(
                        {"text": "Y", "callback_data": "y"}, {"text": "L", "url": "https://e.org"}
                    )
                ),
            },
        ),
        Call("sendMessage", {"chat_id": 5, "text": "c"}),
    ]
    assert last_keyboard(calls, CHAT) == [("Y", "y"), ("L", "")]
    assert last_keyboard(calls, 5) == [("X", "x")]
    assert last_keyboard(calls, 6) == []
    assert texts(calls, 5) == ["a", "c"]


# --- fake Bot API over real HTTP ------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    with FakeBotAPI(token="1:x") as server:
        yield server


async def test_real_http_get_me_updates_and_send(fake: FakeBotAPI) -> None:
    fake.push(Person(CHAT).text("/start") | {"update_id": 41})
    fake.push(Person(CHAT).text("later") | {"update_id": 42})
    async with Bot("1:x", base_url=fake.base_url) as bot:
        me = await bot.get_me()
        assert (me.id, me.username) == (999, "coreflect_test_bot")

        updates = await bot.get_updates(limit=1, timeout=0)
        assert [u.update_id for u in updates] == [41]
        assert updates[0].message is not None and updates[0].message.text == "/start"
        updates = await bot.get_updates(offset=42, timeout=0)
        assert [u.update_id for u in updates] == [42]
        assert fake.confirmed_below == 42
        assert await bot.get_updates(offset=43, timeout=0) == ()
        assert fake.confirmed_below == 43 and fake.pending == []

        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Ok", callback_data="ok")]])
        sent = await bot.send_message(
            CHAT, "<b>Hi</b>\nthere", parse_mode="HTML", reply_markup=markup
        )
        assert sent.text == "Hi\nthere" and sent.message_id == 1 and sent.reply_markup == markup
        doc = await bot.send_document(CHAT, b"abc", filename="n.txt", caption="line 1\r\nline 2")
        assert doc.document is not None and doc.document.file_name == "n.txt"

    methods = ["getMe", "getMe", "getUpdates", "getUpdates", "getUpdates"]
    assert [c.method for c in fake.calls] == [*methods, "sendMessage", "sendDocument"]
    send = next(c for c in fake.calls if c.method == "sendMessage")
    assert send.params == {
        "chat_id": CHAT,
        "text": "<b>Hi</b>\nthere",
        "parse_mode": "HTML",
        "reply_markup": keyboard({"text": "Ok", "callback_data": "ok"}),
    }
    upload = next(c for c in fake.calls if c.method == "sendDocument").params
    assert upload["document"] == Upload("n.txt", 3, "text/plain")
    assert upload["caption"] == "line 1\r\nline 2"
    assert fake.sent_texts(CHAT) == ["<b>Hi</b>\nthere"]
    fake.assert_valid()


async def test_a_polling_application_replies_and_confirms(fake: FakeBotAPI) -> None:
    app = ApplicationBuilder().token("1:x").base_url(fake.base_url).build()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_html("<b>Hello</b>")

    app.add_handler(CommandHandler("start", start))
    fake.push(Person(CHAT).text("/start") | {"update_id": 100})
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(timeout=10)
        await app.start()
        assert await fake.until(lambda calls: bool(fake.sent_texts(CHAT)), timeout=3)
        await app.updater.stop()
        await app.stop()
    assert fake.sent_texts(CHAT) == ["<b>Hello</b>"]
    assert fake.confirmed_below == 101 and fake.pending == []
    fake.assert_valid()


async def test_long_poll_wakes_when_an_update_arrives(fake: FakeBotAPI) -> None:
    threading.Timer(0.2, fake.push, [Person(CHAT).text("hi") | {"update_id": 7}]).start()
    async with Bot("1:x", base_url=fake.base_url) as bot:
        started = time.monotonic()
        updates = await bot.get_updates(timeout=5)
        assert [u.update_id for u in updates] == [7]
        assert time.monotonic() - started < 2
        started = time.monotonic()
        assert await bot.get_updates(offset=8, timeout=1) == ()
        assert 0.9 < time.monotonic() - started < 2


async def test_wrong_token_is_unauthorised(fake: FakeBotAPI) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("2:y", base_url=fake.base_url):
            pass
    assert fake.calls[-1] == Call("getMe", {})


def test_json_bodies_query_strings_and_unknown_paths(fake: FakeBotAPI) -> None:
    base = f"{fake.base_url}1:x"
    with httpx.Client(trust_env=False) as client:
        body = {
            "chat_id": CHAT,
            "text": "json",
            "reply_markup": keyboard({"text": "A", "url": "https://e.org"}),
        }
        assert client.post(f"{base}/sendMessage", json=body).json()["result"]["text"] == "json"
        got = client.get(f"{base}/sendMessage", params={"chat_id": str(CHAT), "text": "query"})
        assert got.json()["result"]["chat"] == {"id": CHAT, "type": "private"}
        assert client.get(f"http://127.0.0.1:{fake.port}/nothing").status_code == 404
        assert (
            client.post(
                f"{base}/editMessageText", json={"chat_id": CHAT, "message_id": 1, "text": "e"}
            ).json()["result"]["text"]
            == "e"
        )
    assert fake.sent_texts(CHAT) == ["json", "query"]
    assert fake.calls[0].params == body
    fake.assert_valid()


async def test_invalid_calls_over_http_are_recorded_or_rejected(fake: FakeBotAPI) -> None:
    async with Bot("1:x", base_url=fake.base_url) as bot:
        await bot.send_message(CHAT, "a < b", parse_mode="HTML")
        assert len(fake.violations) == 1
        fake.reject_invalid = True
        with pytest.raises(BadRequest, match="bare '<'"):
            await bot.send_message(CHAT, "a < b", parse_mode="HTML")


def test_wait_for_and_stop_are_quick() -> None:
    with FakeBotAPI() as server:
        assert not server.wait_for(lambda calls: bool(calls), timeout=0.1)
        threading.Timer(
            0.1, server.handle, ["t", "deleteMessage", {"chat_id": 1, "message_id": 2}]
        ).start()
        assert server.wait_for(lambda calls: any(c.method == "deleteMessage" for c in calls), 2)
        poller = threading.Thread(target=server.handle, args=("t", "getUpdates", {"timeout": 30}))
        poller.start()
        time.sleep(0.05)
        started = time.monotonic()
    poller.join(timeout=2)
    assert not poller.is_alive() and time.monotonic() - started < 1


def test_duplicate_rate_redelivers_a_confirmed_update() -> None:
    server = FakeBotAPI(duplicate_rate=1.0)
    server.push({"update_id": 1})
    server.push({"update_id": 3})
    server.push({"update_id": 2})
    assert [u["update_id"] for u in server.pending] == [1, 2, 3]
    server.handle("t", "getUpdates", {"offset": 2})
    assert [u["update_id"] for u in server.pending] == [1, 2, 3]  # the confirmation was lost
    assert server.confirmed_below == 2
    server.duplicate_rate = 0.0
    server.handle("t", "getUpdates", {"offset": -1})
    assert [u["update_id"] for u in server.pending] == [3]


async def test_until_polls_without_blocking_the_loop() -> None:
    server = FakeBotAPI()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, server.handle, "t", "sendMessage", {"chat_id": 1, "text": "x"})
    assert await server.until(lambda calls: bool(calls), timeout=1)
    assert server.sent_texts(1) == ["x"]
