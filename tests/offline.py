"""Run a real PTB Application with no network, and act as a person towards it.

RecordingRequest replaces PTB's HTTP layer: every outgoing call is recorded,
checked against the Bot API spec (tests/botapi.py) and answered plausibly, so
handlers run exactly as in production up to the wire. Person builds the incoming
update dicts a real user's actions would produce.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

from tests import botapi

BOT_ID = 999
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "CoReflect",
    "username": "coreflect_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}
# What Telegram puts in "from" of the bot's own messages: the short form of the user.
BOT_FROM: dict[str, Any] = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}
OFFLINE_FILE = b"offline file contents"  # what a download of an unknown file gives


@dataclass
class Call:
    """One outgoing Bot API call, with parameters decoded to JSON values."""

    method: str
    params: dict[str, Any]


class Responder:
    """Plausible Bot API results, in one place so the in-process and HTTP fakes agree.

    Keeps per-chat message ids and the messages sent, so edits return the edited message.
    Not thread-safe: the HTTP fake calls it under its own lock.
    """

    def __init__(self) -> None:
        self._last_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        # getChatMember: (group chat id, user id) -> status; anyone else is a plain member.
        self.members: dict[tuple[int, int], str] = {}
        # getFile and the download after it: file id -> its bytes (others get a few bytes)
        self.files: dict[str, bytes] = {}

    def answer(self, method: str, params: Mapping[str, Any]) -> Any:
        """The "result" part of the response to one call, shaped by the spec's return type."""
        returns = botapi.spec()["methods"].get(method, {}).get("returns", [])
        if method == "getMe":
            return dict(BOT_USER)
        if method == "getChatMember":
            return self._member(params)
        if method == "getFile":
            file_id = str(params.get("file_id", ""))
            size = len(self.files.get(file_id, OFFLINE_FILE))
            return _file(file_id, file_size=size, file_path=f"voice/{file_id}.oga")
        if method == "sendMediaGroup":
            media = _json(params.get("media")) or []
            return [self._send_media(params.get("chat_id"), item) for item in media]
        if "Message" in returns:
            if "Boolean" not in returns:
                return self._send(method, params)
            return True if "inline_message_id" in params else self._edit(method, params)
        if returns == ["MessageId"]:
            return {"message_id": self._next_id(_chat(params.get("chat_id"))["id"])}
        if returns == ["Array of MessageId"]:
            chat_id = _chat(params.get("chat_id"))["id"]
            return [{"message_id": self._next_id(chat_id)} for _ in params.get("message_ids", [])]
        if returns and returns[0].startswith("Array of"):
            return []  # getUpdates, getMyCommands and the like: nothing to report
        return True

    def _member(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A ChatMember as Telegram shapes it for each status (administrators have rights)."""
        user_id = int(params.get("user_id", 0))
        status = self.members.get((_chat(params.get("chat_id"))["id"], user_id), "member")
        member: dict[str, Any] = {
            "status": status,
            "user": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
        }
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            rights = ["can_manage_chat", "can_delete_messages", "can_manage_video_chats"]
            rights += ["can_restrict_members", "can_promote_members", "can_change_info"]
            rights += ["can_invite_users", "can_post_stories", "can_edit_stories"]
            member |= {"can_be_edited": False, "is_anonymous": False}
            member |= {right: right == "can_delete_messages" for right in rights}
            member["can_delete_stories"] = False
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _next_id(self, chat_id: int) -> int:
        self._last_id[chat_id] = self._last_id.get(chat_id, 0) + 1
        return self._last_id[chat_id]

    def _send(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        chat = _chat(params.get("chat_id"))
        message_id = self._next_id(chat["id"])
        msg: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": dict(BOT_FROM),
        }
        if method == "sendPhoto":
            msg["photo"] = [_file(f"photo-{message_id}", width=1, height=1)]
        elif method == "sendVoice":
            msg["voice"] = _file(f"voice-{message_id}", duration=params.get("duration") or 1)
        elif method == "sendDocument":
            upload = params.get("document")
            name = upload.filename if isinstance(upload, botapi.Upload) else "document"
            msg["document"] = _file(f"doc-{message_id}", file_name=name)
        _apply(msg, params)
        self._messages[(chat["id"], message_id)] = msg
        return msg

    def _send_media(self, chat_id: Any, item: Any) -> dict[str, Any]:
        """One message of an album, shaped like the matching single send."""
        item = _json(item)
        kind = str(item.get("type", "document")) if isinstance(item, dict) else "document"
        extra = {k: item[k] for k in ("caption", "parse_mode") if k in item}
        return self._send(f"send{kind.capitalize()}", {"chat_id": chat_id, **extra})

    def _edit(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        chat = _chat(params.get("chat_id"))
        try:
            message_id = int(params.get("message_id", 0))
        except (TypeError, ValueError):
            message_id = 0  # botapi reports the bad value; answer something parseable
        old = self._messages.get((chat["id"], message_id))
        msg: dict[str, Any] = dict(old) if old else {"message_id": message_id}
        msg.setdefault("date", int(time.time()))
        msg.update(chat=chat, edit_date=int(time.time()))
        msg.setdefault("from", dict(BOT_FROM))
        if method == "editMessageReplyMarkup":
            msg.pop("reply_markup", None)  # no markup in the call removes the keyboard
        _apply(msg, params)
        self._messages[(chat["id"], message_id)] = msg
        return msg


def _chat(chat_id: Any) -> dict[str, Any]:
    try:
        cid = int(chat_id)
    except (TypeError, ValueError):  # "@channelname"
        return {"id": -1001, "type": "channel", "title": str(chat_id)}
    return {"id": cid, "type": "private"} if cid > 0 else {"id": cid, "type": "supergroup"}


def _file(file_id: str, **extra: Any) -> dict[str, Any]:
    return {"file_id": file_id, "file_unique_id": f"u-{file_id}", **extra}


def _apply(msg: dict[str, Any], params: Mapping[str, Any]) -> None:
    """Echo text, caption and an inline keyboard, as Telegram's answer would."""
    for key in ("text", "caption"):
        if isinstance(params.get(key), str):
            msg[key] = _plain(params[key], params.get("parse_mode"))
    markup = _json(params.get("reply_markup"))
    # Telegram only ever returns inline keyboards in Message.reply_markup.
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        msg["reply_markup"] = markup


def _plain(text: str, parse_mode: Any) -> str:
    if parse_mode != "HTML":
        return text
    plain, problems = botapi.parse_html(text)
    return text if problems else plain


def _json(value: Any) -> Any:
    """Accept a JSON string where a structure is expected, as PTB may send either."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def ok(result: Any) -> bytes:
    """A successful Bot API response body."""
    return json.dumps({"ok": True, "result": result}).encode("utf-8")


def params_from_request_data(method: str, request_data: RequestData | None) -> dict[str, Any]:
    """The call's parameters exactly as they would go over the wire, decoded by the spec.

    Built from json_parameters, what HTTPXRequest really sends, rather than
    parameters, whose nested dicts still hold PTB enum members. A file uploaded
    without attach:// is absent from both and appears only in multipart_data,
    under the parameter's own name; it is recorded as botapi.Upload.
    """
    if request_data is None:
        return {}
    params: dict[str, Any] = dict(request_data.json_parameters)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        size = len(content) if isinstance(content, bytes) else -1
        body = content if isinstance(content, bytes) else b""
        params.setdefault(name, botapi.Upload(filename or name, size, mimetype or "", body))
    return drop_attached(botapi.decode_params(method, params))


def drop_attached(params: dict[str, Any]) -> dict[str, Any]:
    """Drop file parts referenced as attach://name from another parameter.

    They belong to that parameter (InputMedia and the like), not to the method,
    so leaving them in would read as unknown fields.
    """
    refs = json.dumps({k: v for k, v in params.items() if not isinstance(v, botapi.Upload)})
    return {
        k: v
        for k, v in params.items()
        if not (isinstance(v, botapi.Upload) and re.search(rf"attach://{re.escape(k)}\b", refs))
    }


class RecordingRequest(BaseRequest):
    """A PTB request layer that records, validates and answers calls in-process.

    Violations are collected rather than raised because PTB would wrap an
    exception in NetworkError and the handler would swallow or retry it.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.responder = responder or Responder()
        self.fail_chats: set[int] = set()  # sends to these chats fail as if the network were down
        self.fail_methods: set[str] = set()  # these calls fail as if the network were down
        self.too_many = 0  # the next this many sendMessage calls get a 429 with retry_after
        self.retry_after = 1
        self.refused: list[Call] = []  # the calls answered with a 429
        self.refuse_chats: set[int] = set()  # Telegram answers 403 (the bot was removed, say)
        # People who allow no voice messages (a Telegram privacy setting): sendVoice gets a 400.
        self.voice_forbidden: set[int] = set()

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to set up: there is no connection pool."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:  # File.download_*: a file the test gave, or a few bytes
            if "download" in self.fail_methods:
                raise NetworkError("the network is down (a test asked for it)")
            file_id = url.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            return 200, self.responder.files.get(file_id, OFFLINE_FILE)
        api_method = url.rstrip("/").rsplit("/", 1)[-1]
        params = params_from_request_data(api_method, request_data)
        if str(params.get("chat_id")) in {str(c) for c in self.fail_chats}:
            raise NetworkError("the network is down (a test asked for it)")
        if api_method in self.fail_methods:
            raise NetworkError("the network is down (a test asked for it)")
        self.violations += botapi.violations(api_method, params)
        if api_method == "sendMessage" and self.too_many > 0:
            self.too_many -= 1
            self.refused.append(Call(api_method, params))
            return 429, json.dumps(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {self.retry_after}",
                    "parameters": {"retry_after": self.retry_after},
                }
            ).encode()
        self.calls.append(Call(api_method, params))
        if api_method == "sendMessage" and str(params.get("chat_id")) in {
            str(c) for c in self.refuse_chats
        }:
            refusal = {"ok": False, "error_code": 403, "description": "Forbidden: bot was kicked"}
            return 403, json.dumps(refusal).encode("utf-8")
        if api_method == "sendVoice" and str(params.get("chat_id")) in {
            str(c) for c in self.voice_forbidden
        }:
            refusal = {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: VOICE_MESSAGES_FORBIDDEN",
            }
            return 400, json.dumps(refusal).encode("utf-8")
        if api_method == "getUpdates":
            await asyncio.sleep(0.01)  # so an Updater polling here cannot starve the loop
        return 200, ok(self.responder.answer(api_method, params))

    def assert_valid(self) -> None:
        """Fail the test with every Bot API violation seen so far."""
        assert not self.violations, "invalid Bot API calls:\n  " + "\n  ".join(self.violations)


# --- incoming updates -----------------------------------------------------------------------

# Shared by everyone so update ids stay unique and increasing across people, as in Telegram.
_update_ids = itertools.count(1)
update_ids = _update_ids  # for updates built outside Person (a group's my_chat_member)


@dataclass
class Person:
    """Someone talking to the bot in a private chat; methods return Update dicts."""

    user_id: int = 1001
    first_name: str = "Alex"
    language_code: str = "en"
    username: str | None = None
    # Well above the bot's own message ids, so the two are never confused in a test.
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(10_001), repr=False)

    def user(self) -> dict[str, Any]:
        user = {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }
        if self.username:
            user["username"] = self.username
        return user

    def chat(self) -> dict[str, Any]:
        return {"id": self.user_id, "type": "private", "first_name": self.first_name}

    def in_group(self, group: dict[str, Any], s: str, **extra: Any) -> dict[str, Any]:
        """A message this person sends in a group chat (a /command gets its entity)."""
        if s.startswith("/"):
            length = botapi.utf16_len(s.split(maxsplit=1)[0])
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        message = {**self._message(text=s, **extra), "chat": group}
        return self._update("message", message)

    def text(self, s: str) -> dict[str, Any]:
        """A text message; a leading /command gets the entity that CommandHandler needs."""
        extra: dict[str, Any] = {"text": s}
        if s.startswith("/"):
            command = s.split(maxsplit=1)[0]
            length = botapi.utf16_len(command)
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._update("message", self._message(**extra))

    def press(self, data: str, message_id: int = 1) -> dict[str, Any]:
        """Pressing an inline button with this callback_data under bot message message_id."""
        message = {
            "message_id": message_id,
            "date": int(time.time()),  # non-zero, so PTB sees an accessible Message
            "chat": self.chat(),
            "from": dict(BOT_FROM),
        }
        query = {
            "id": str(next(_update_ids)),
            "from": self.user(),
            "chat_instance": f"ci-{self.user_id}",
            "data": data,
            "message": message,
        }
        return self._update("callback_query", query)

    def service(self, chat: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A service message in `chat` (a supergroup migration, say), from this person."""
        return self._update("message", {**self._message(**extra), "chat": chat})

    def photo(self) -> dict[str, Any]:
        sizes = [_file(f"p{self.user_id}-{n}", width=n, height=n) for n in (90, 320)]
        return self._update("message", self._message(photo=sizes))

    def sticker(self) -> dict[str, Any]:
        sticker = _file(
            f"s{self.user_id}",
            type="regular",
            width=512,
            height=512,
            is_animated=False,
            is_video=False,
            emoji="🙂",
        )
        return self._update("message", self._message(sticker=sticker))

    def voice(
        self, file_id: str | None = None, duration: int = 3, size: int | None = None
    ) -> dict[str, Any]:
        """A voice message; its bytes are whatever the Responder holds for `file_id`."""
        extra = {} if size is None else {"file_size": size}
        voice = _file(file_id or f"v{self.user_id}", duration=duration, mime_type="audio/ogg")
        return self._update("message", self._message(voice={**voice, **extra}))

    def audio(self, file_id: str, duration: int = 3) -> dict[str, Any]:
        """An audio file (a recording shared from another app)."""
        audio = _file(file_id, duration=duration, mime_type="audio/mpeg", file_name="memo.mp3")
        return self._update("message", self._message(audio=audio))

    def document(self) -> dict[str, Any]:
        doc = _file(f"d{self.user_id}", file_name="notes.txt", mime_type="text/plain")
        return self._update("message", self._message(document=doc))

    def edited(self, message_id: int, s: str) -> dict[str, Any]:
        """The person editing their earlier message message_id to read s."""
        now = int(time.time())
        message = {
            "message_id": message_id,
            "date": now - 60,
            "edit_date": now,
            "chat": self.chat(),
            "from": self.user(),
            "text": s,
        }
        return self._update("edited_message", message)

    def _message(self, **extra: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(),
            "from": self.user(),
            **extra,
        }

    @staticmethod
    def _update(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"update_id": next(_update_ids), kind: payload}


# --- reading what the bot sent --------------------------------------------------------------


def _to(call: Call, chat_id: int | str) -> bool:
    return str(call.params.get("chat_id")) == str(chat_id)


def last_keyboard(calls: Sequence[Call], chat_id: int | str) -> list[tuple[str, str]]:
    """(text, callback_data) of the last inline keyboard sent or edited into chat_id.

    Buttons without callback_data (links and the like) give "" as their data;
    an empty list means no inline keyboard was ever sent there.
    """
    for call in reversed(calls):
        markup = _json(call.params.get("reply_markup"))
        if _to(call, chat_id) and isinstance(markup, dict) and "inline_keyboard" in markup:
            return [
                (button.get("text", ""), button.get("callback_data", ""))
                for row in markup["inline_keyboard"]
                for button in row
            ]
    return []


def texts(calls: Sequence[Call], chat_id: int | str, *, edits: bool = False) -> list[str]:
    """Texts the bot sent to chat_id, in order, as written (markup included)."""
    methods = {"sendMessage", "editMessageText"} if edits else {"sendMessage"}
    return [
        str(call.params.get("text", ""))
        for call in calls
        if call.method in methods and _to(call, chat_id)
    ]
