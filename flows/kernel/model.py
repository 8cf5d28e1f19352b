"""What goes into the engine and what comes out: plain data, no transport."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

InputKind = Literal["text", "command", "button", "unsupported", "edited", "voice"]


@dataclass(frozen=True, slots=True)
class Person:
    """Who is talking: a Telegram user id (or the console's local id)."""

    id: int
    first_name: str = ""
    language_code: str | None = None
    username: str = ""  # never stored as such: an anonymous team post must not contain it


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice note (or audio file): as the person sent it (fetched by the bot layer, held in
    memory only until it is sealed), or as it goes back to them when an entry is opened."""

    audio: bytes = field(default=b"", repr=False)
    duration: int = 0  # seconds
    size: int = 0  # bytes
    mime: str = "audio/ogg"
    too_big_mb: int = 0  # over the allowance (in MB): nothing fetched, nothing kept
    # Heard on this machine (COREFLECT_TRANSCRIBE_MODEL, bot/transcribe.py) before the engine
    # runs; kept only if the person says so (journal/voice.py). "" without the setting.
    transcript: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Input:
    """One thing a person did: typed, pressed, sent a command, or sent something we can't keep."""

    kind: InputKind
    text: str = ""
    command: str = ""
    args: str = ""
    data: str = ""
    what: str = ""  # for "unsupported": photo, sticker, voice note…
    message_id: int | None = None  # the message typed text came from, so an edit can follow it
    voice: Voice | None = None  # kind "voice": the recording, fetched before the engine runs
    # Team groups (chat ids) where the supervisor this input concerns is an administrator, as
    # Telegram (getChatMember) said just before: the bot layer asks, flows/ never does.
    admin_in: frozenset[int] = frozenset()

    @staticmethod
    def from_text(text: str, message_id: int | None = None) -> Input:
        """Read a typed line: '/cmd args' becomes a command, anything else is text."""
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            head, _, args = stripped.partition(" ")
            command = head[1:].split("@", 1)[0].lower()
            return Input(
                kind="command",
                command=command,
                args=args.strip(),
                text=stripped,
                message_id=message_id,
            )
        return Input(kind="text", text=text, message_id=message_id)


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


@dataclass(slots=True)
class Reply:
    """One message to send. `html` is Telegram HTML; user text in it is already escaped.

    With `delete_message` it is not a message at all but the removal of an earlier one of ours
    (a withdrawn summary): it travels through the same outbox so a crash cannot lose it. With
    `edit_message` it is the new text of the message whose button was pressed ("Shared with
    Sam"), saved with the press for the same reason.
    """

    html: str
    buttons: list[list[Button]] = field(default_factory=list)
    protect: bool = False  # protect_content: Telegram stops forwarding and saving (summaries)
    # (kind, id): the owning feature's Guard checks it just before it is sent and records the
    # message id it got (a summary, so it can be withdrawn; a team post; a reminder).
    guard: tuple[str, int] | None = None
    delete_message: int | None = None
    edit_message: int | None = None
    # Whose words it carries (a summary: the worker's): sealed with their data key while it waits
    # in the outbox, so their /forget shreds that copy too. Not part of the stored JSON.
    sealed_for: int | None = None
    # To another person: not before this moment (UTC), the end of their quiet hours. Stored on
    # the outbox row itself (its `not_before`), never in the payload.
    not_before: datetime | None = None
    silent: bool = False  # disable_notification: a withdrawal or a deletion arrives quietly
    # A recording sent with sendVoice (`html`, if any, its caption): a voice note the worker
    # shared. In the outbox it is part of the sealed payload, never on disk in the clear.
    voice: Voice | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A file to send (an export, a supervision pack PDF): made in memory, never stored.

    With `make`, the bytes are made after the transaction, off the database's thread.
    """

    filename: str
    content: bytes = b""
    make: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Photo:
    """A picture to send (the /progress chart), sent after the replies: made in memory, never
    stored. `caption` is Telegram HTML (at most 1024 characters); the buttons go under it."""

    filename: str
    caption: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    content: bytes = b""
    make: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class Outcome:
    """Everything a handled input produces: messages, plus what the button press should show."""

    replies: list[Reply] = field(default_factory=list)
    toast: str | None = None  # short answer to a button press
    clear_buttons: bool = False  # remove the keyboard of the pressed message
    outbox_ids: list[int] = field(default_factory=list)  # where the replies wait until sent
    documents: list[Document] = field(default_factory=list)  # sent after the replies
    photos: list[Photo] = field(default_factory=list)  # sent after the documents
    voices: list[Voice] = field(default_factory=list)  # played back (protected), after the photos
    forgot: bool = False  # the person was erased: the store folds its WAL away afterwards
    scrub: bool = False  # words were deleted (an entry, a withdrawal…): the same, afterwards
    # Messages to other people's chats (chat id, reply). Only flows.kernel.gate adds to this list.
    others: list[tuple[int, Reply]] = field(default_factory=list)
    others_ids: list[int] = field(default_factory=list)  # their outbox rows, in order
    replace: Reply | None = None  # new text and buttons for the message whose button was pressed
    rearm: bool = False  # sessions or nudges changed: the scheduler looks again at what is next
    replace_id: int | None = None  # its outbox row, when the pressed message is known
    # Chats whose command menu changes: True, they now supervise someone (their menu gains the
    # supervisor's commands); False, they no longer do (back to everyone's menu).
    menus: dict[int, bool] = field(default_factory=dict)
    # A group event that needs Telegram asked (is this person an administrator there?) before
    # it can be answered: nothing was saved, and the bot layer asks and comes back.
    ask_admin: bool = False
    # Heavy reading (/export, /progress) in short units of work after this one, so others'
    # units interleave: each is called with a fresh unit (and an Outcome for anything it adds:
    # replies, documents, photos) until it returns True. Never stored: a crash between pages
    # loses only the file being made (the person asks again).
    reads: list[Callable[[Any, Outcome], bool]] = field(default_factory=list)
    # Given by a read: slow work (rendering) done in a worker thread before the next read.
    off_thread: list[Callable[[], None]] = field(default_factory=list)


def reply_to_json(reply: Reply) -> bytes:
    rows = [[[b.label, b.data] for b in row] for row in reply.buttons]
    data: dict[str, object] = {"html": reply.html, "buttons": rows}
    if reply.protect:
        data["protect"] = True
    if reply.guard is not None:
        data["guard"] = list(reply.guard)
    if reply.delete_message is not None:
        data["delete"] = reply.delete_message
    if reply.edit_message is not None:
        data["edit"] = reply.edit_message
    if reply.silent:
        data["silent"] = True
    if reply.voice is not None:
        v = reply.voice
        audio = base64.b64encode(v.audio).decode("ascii")
        data["voice"] = {"audio": audio, "duration": v.duration, "size": v.size, "mime": v.mime}
    return json.dumps(data).encode("utf-8")


# Rows written before guards were generic named their kind as a key of its own.
_OLD_GUARDS = {"share": "share", "team": "team_post", "nudge": "nudge"}


def reply_from_json(raw: bytes) -> Reply:
    data = json.loads(raw)
    guard = data.get("guard")
    for key, kind in _OLD_GUARDS.items():
        if data.get(key) is not None:
            guard = [kind, data[key]]
    voice = data.get("voice")
    return Reply(
        data["html"],
        [[Button(label, d) for label, d in row] for row in data["buttons"]],
        protect=bool(data.get("protect", False)),
        guard=None if guard is None else (str(guard[0]), int(guard[1])),
        delete_message=data.get("delete"),
        edit_message=data.get("edit"),
        silent=bool(data.get("silent", False)),
        voice=None
        if voice is None
        else Voice(
            base64.b64decode(voice["audio"]),
            int(voice["duration"]),
            int(voice["size"]),
            str(voice["mime"]),
        ),
    )


@dataclass(frozen=True, slots=True)
class GroupEvent:
    """Something in a group chat the bot cares about (all else there it ignores).

    `command`: a group command (/teamgroup), with `admin` as getChatMember said just before, or
    None when Telegram has not been asked (the feature sets `Outcome.ask_admin` if it must be).
    `added`: the bot was added to the group. `left`: the bot was removed or left.
    `migrated`: the group became a supergroup; `new_chat_id` is its id now.
    """

    kind: Literal["command", "added", "left", "migrated"]
    chat_id: int
    title: str = ""
    admin: bool | None = False
    new_chat_id: int | None = None
    anonymous: bool = False  # sent by an administrator who remains anonymous: nobody to check
