"""The Telegram side: Updates become engine inputs; the engine's replies become Bot API calls."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    ChatMember,
    InputFile,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    ContextTypes,
    ExtBot,
    JobQueue,
    TypeHandler,
)
from telegram.request import BaseRequest

from bot import logs, transcribe
from bot.alarm import Alarm
from bot.config import Config
from bot.delivery import deliver, keyboard, others
from bot.limits import TelegramLimits
from bot.transcribe import Transcription
from bot.transport import AiohttpRequest
from flows.app import App
from flows.kernel.model import Document, GroupEvent, Input, Outcome, Person, Reply, Voice
from flows.questions.catalogue import Catalogue

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
GROUP_CHATS = {"group", "supergroup"}
SWEEP_EVERY = 60  # seconds between looks for shares past their expiry
CONNECTIONS = 16  # HTTP connections to the Bot API (see build_application)
TELEGRAM_DOWNLOAD_MB = 20  # the largest file Telegram lets a bot fetch with getFile
MB = 1024 * 1024
# Telegram takes files up to 50 MB from a bot; anything larger goes in parts of this size.
DOCUMENT_PART = 45 * 1024 * 1024
_KINDS = (
    ("photo", "photo"),
    ("sticker", "sticker"),
    ("voice", "voice note"),
    ("video_note", "video message"),
    ("video", "video"),
    ("animation", "GIF"),
    ("audio", "audio"),
    ("document", "file"),
    ("location", "location"),
    ("contact", "contact"),
    ("poll", "poll"),
)


class BotData:
    """What every handler reaches through its context, typed (PTB makes one per Application;
    `build_application` fills it)."""

    engine: App
    alarm: Alarm
    voice_max_mb: int  # the largest voice note kept (COREFLECT_VOICE_MAX_MB, at most 20)
    # Local transcription (COREFLECT_TRANSCRIBE_MODEL, bot/transcribe.py), or None: none.
    transcription: Transcription | None
    # Updates whose handling could not begin (a voice note's download failed): the inbox keeps
    # them unhandled, to try again shortly.
    later: set[int]


Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]
TelegramApp = Application[ExtBot[None], Context, Any, Any, BotData, JobQueue[Context]]


def build_application(
    config: Config,
    service: App,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limited: bool = True,
    limits: TelegramLimits | None = None,
) -> TelegramApp:
    """A PTB Application with no Updater: updates come through our durable inbox instead.

    Every Bot API call goes through TelegramLimits (bot/limits.py: Telegram's documented limits,
    replies before reminders, a 429's retry_after waited out). Only the benchmarks of our own
    cost turn it off, to measure the bot rather than Telegram's limits.
    """
    assert config.token, "a bot token is needed for Telegram mode"
    # PTB's builder changes its type parameters with each call; what it builds is a TelegramApp.
    builder: Any = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.api_base_url)
        .base_file_url(config.file_base_url)
        .updater(None)
        .context_types(ContextTypes(bot_data=BotData))
    )
    if rate_limited:
        builder = builder.rate_limiter(limits or TelegramLimits())
    if request is None:
        # aiohttp rather than PTB's httpx: a third of the CPU per call (bot/transport.py).
        # Telegram takes 30 messages a second, which 16 connections carry many times over.
        request = AiohttpRequest(connections=CONNECTIONS)
        get_updates_request = get_updates_request or AiohttpRequest(connections=1)
    builder = builder.request(request).get_updates_request(get_updates_request or request)
    app: TelegramApp = builder.build()
    app.bot_data.engine = service
    app.bot_data.alarm = Alarm(app.bot, service, app.job_queue)
    app.bot_data.voice_max_mb = min(config.voice_max_mb, TELEGRAM_DOWNLOAD_MB)
    app.bot_data.transcription = transcribe.from_setting(config.transcribe_model)
    app.bot_data.later = set()
    app.add_handler(TypeHandler(Update, on_update))
    app.add_error_handler(on_error)
    return app


def to_input(update: Update) -> Input | None:
    """What the person did, or None for updates that are not a person talking to us."""
    if update.callback_query is not None:
        return Input(kind="button", data=update.callback_query.data or "")
    if update.edited_message is not None:
        edited = update.edited_message
        return Input(kind="edited", text=edited.text or "", message_id=edited.message_id)
    message = update.message
    if message is None:
        return None
    if message.text is not None:
        return Input.from_text(message.text, message.message_id)
    if message.voice is not None or message.audio is not None:
        return Input(kind="voice", message_id=message.message_id)  # fetched by _fetch_voice
    what = next((name for attr, name in _KINDS if getattr(message, attr, None)), "")
    return Input(kind="unsupported", what=what)


async def _fetch_voice(context: Context, update: Update) -> Input | None:
    """The voice note's bytes, fetched with getFile into memory (the engine seals them before
    anything is stored). Over the allowance: nothing is fetched, and the engine says so. If the
    download fails (the network), None: the update stays in the inbox to be tried again."""
    message = update.message
    assert message is not None
    media = message.voice or message.audio
    assert media is not None
    limit = context.bot_data.voice_max_mb
    length = media.duration  # seconds, or a timedelta once PTB's timedelta switch is on
    duration = int(length.total_seconds() if isinstance(length, timedelta) else length)
    mime = media.mime_type or "audio/ogg"
    too_big = Input(kind="voice", voice=Voice(duration=duration, too_big_mb=limit))
    if (media.file_size or 0) > limit * MB:
        return too_big
    try:
        found = await context.bot.get_file(media.file_id)
        if (found.file_size or 0) > limit * MB:
            return too_big
        audio = bytes(await found.download_as_bytearray())
    except BadRequest as exc:
        if "too big" in exc.message.lower():
            return too_big
        raise
    except NetworkError as exc:
        log.warning(
            "a voice note could not be fetched yet (%s); it stays in the inbox",
            type(exc).__name__,
            extra=logs.fields(update=update.update_id),
        )
        context.bot_data.later.add(update.update_id)
        return None
    if len(audio) > limit * MB:
        return too_big
    transcription = context.bot_data.transcription
    # Heard here, before the engine's unit of work (which stays short), never sent anywhere.
    words = await transcription.text(audio) if transcription is not None else ""
    voice = Voice(audio, duration, len(audio), mime, transcript=words)
    return Input(kind="voice", message_id=message.message_id, voice=voice)


async def is_admin(bot: Bot, chat_id: int, user_id: int) -> bool:
    """Is this person an administrator (or the owner) of this group, as Telegram says now?"""
    try:
        member = await bot.get_chat_member(chat_id=chat_id, user_id=user_id)
    except TelegramError:  # the bot is not there any more, or the chat is gone
        return False
    return member.status in {ChatMember.ADMINISTRATOR, ChatMember.OWNER}


def group_event(
    update: Update, bot_id: int, bot_username: str | None, group_commands: tuple[str, ...]
) -> GroupEvent | None:
    """The few things in a group the bot acts on; everything else there it ignores."""
    chat = update.effective_chat
    assert chat is not None
    status = update.my_chat_member
    if status is not None:
        if status.new_chat_member.user.id != bot_id:
            return None
        now, before = status.new_chat_member.status, status.old_chat_member.status
        if now in {ChatMember.LEFT, ChatMember.BANNED}:
            return GroupEvent("left", chat.id)
        if before in {ChatMember.LEFT, ChatMember.BANNED}:
            return GroupEvent("added", chat.id)  # somebody has an hour to register it
        return None
    message = update.message
    if message is None:
        return None
    if message.migrate_to_chat_id:
        return GroupEvent("migrated", chat.id, new_chat_id=message.migrate_to_chat_id)
    if message.migrate_from_chat_id:
        return GroupEvent("migrated", message.migrate_from_chat_id, new_chat_id=chat.id)
    if message.left_chat_member is not None and message.left_chat_member.id == bot_id:
        return GroupEvent("left", chat.id)
    head = (message.text or "").split(maxsplit=1)[0] if message.text else ""
    command, _, addressed = head.partition("@")
    if command.lower().removeprefix("/") not in group_commands:
        return None
    if addressed and addressed.lower() != (bot_username or "").lower():
        return None  # another bot's /teamgroup
    # An administrator who "remains anonymous" sends as the group itself: nobody to check.
    anonymous = message.sender_chat is not None and message.sender_chat.id == chat.id
    return GroupEvent("command", chat.id, title=chat.title or "", anonymous=anonymous)


async def on_group(update: Update, context: Context) -> None:
    """In a group the bot reads only its own /teamgroup, and notices joining, leaving and
    migrating. Strangers cost nothing: getChatMember is asked only about a supervisor."""
    user, chat = update.effective_user, update.effective_chat
    assert chat is not None
    service = context.bot_data.engine
    event = group_event(update, context.bot.id, context.bot.username, service.group_commands)
    if event is None:
        return
    if event.kind == "command" and not event.anonymous:
        if user is None:
            return
        event = dataclasses.replace(event, admin=None)  # Telegram is asked only if need be
    person = Person(user.id, user.first_name or "") if user else Person(0)
    outcome = await service.handle_group(person, event, update_id=update.update_id)
    if outcome.ask_admin and user is not None:  # a supervisor: are they an administrator here?
        event = dataclasses.replace(event, admin=await is_admin(context.bot, chat.id, user.id))
        outcome = await service.handle_group(person, event, update_id=update.update_id)
    rows = [(i, chat.id, r) for i, r in zip(outcome.outbox_ids, outcome.replies, strict=True)]
    rows += others(outcome)
    await deliver(context.bot, service, rows)


async def on_update(update: Update, context: Context) -> None:
    """Every private-chat update goes to the engine; its answer is committed before we reply."""
    user, chat = update.effective_user, update.effective_chat
    if chat is not None and chat.type in GROUP_CHATS:
        await on_group(update, context)
        return
    if user is None or chat is None or chat.type != "private":
        return
    inp = to_input(update)
    if inp is not None and inp.kind == "voice":
        inp = await _fetch_voice(context, update)
    if inp is None:
        return
    service = context.bot_data.engine
    service.bot_username = context.bot.username  # for invite links; known once getMe has run
    person = Person(user.id, user.first_name or "", user.language_code, user.username or "")
    if service.needs_admin_checks(inp):  # is the supervisor still a group's administrator?
        checks = await service.admin_checks(user.id, inp)
        admin = {c for c, u in checks if await is_admin(context.bot, c, u)}
        inp = dataclasses.replace(inp, admin_in=frozenset(admin))
    query = update.callback_query
    pressed = (
        query.message.message_id
        if query is not None and isinstance(query.message, Message)
        else None
    )
    outcome = await service.handle(
        person, inp, update_id=update.update_id, outbox_chat=chat.id, pressed=pressed
    )
    try:
        await _answer(context, update, chat.id, outcome)
    finally:
        # Whatever was not sent (answering the press failed, say) is left for the next flush.
        service.store.sending_done(_outbox_ids(outcome))


def _outbox_ids(outcome: Outcome) -> list[int]:
    extra = [] if outcome.replace_id is None else [outcome.replace_id]
    return [*outcome.outbox_ids, *outcome.others_ids, *extra]


async def _answer(context: Context, update: Update, chat_id: int, outcome: Outcome) -> None:
    """Answer the press, then send the saved replies and any files."""
    service = context.bot_data.engine
    query = update.callback_query
    rows: list[tuple[int, int, Reply]] = []
    if query is not None:
        await query.answer(text=outcome.toast)
        if outcome.replace is not None and outcome.replace_id is not None:
            # Saved with the press, so a crash now cannot lose it ("Shared with Sam").
            rows.append((outcome.replace_id, chat_id, outcome.replace))
        elif outcome.clear_buttons and isinstance(query.message, Message):
            # Already without buttons, or too old to edit: nothing to tidy.
            with contextlib.suppress(BadRequest):
                await query.edit_message_reply_markup(reply_markup=None)
    rows += [(i, chat_id, r) for i, r in zip(outcome.outbox_ids, outcome.replies, strict=True)]
    rows += others(outcome)
    if outcome.rearm:
        # Sessions or reminders changed: set the alarm for whatever is now next.
        await context.bot_data.alarm.rearm()
    await deliver(context.bot, service, rows)
    await _set_menus(context.bot, service, outcome.menus)
    for document in outcome.documents:
        # Made in memory for this request and never stored: if sending fails, /export again.
        await send_document(context, update, chat_id, document)
    for voice in outcome.voices:
        # A kept voice note played back from memory: protected, so it cannot be forwarded.
        await context.bot.send_voice(
            chat_id=chat_id,
            voice=InputFile(io.BytesIO(voice.audio), filename="voice.ogg"),
            duration=voice.duration or None,
            protect_content=True,
        )
    for photo in outcome.photos:
        # A chart drawn for this request, with its one line of text and buttons underneath.
        await context.bot.send_photo(
            chat_id=chat_id,
            photo=InputFile(io.BytesIO(photo.content), filename=photo.filename),
            caption=photo.caption or None,
            parse_mode=ParseMode.HTML if photo.caption else None,
            reply_markup=keyboard(photo.buttons),
            protect_content=True,
        )


async def send_document(context: Context, update: Update, chat_id: int, document: Document) -> None:
    """A file, in parts if it is over Telegram's 50 MB upload limit (said so first): each part
    is the next stretch of the file's bytes, so joined in order they are the whole file."""
    content = document.content
    parts = [content[i : i + DOCUMENT_PART] for i in range(0, len(content), DOCUMENT_PART)]
    if len(parts) > 1:
        user = update.effective_user
        cat = context.bot_data.engine.catalogue.for_language(user.language_code if user else None)
        await context.bot.send_message(
            chat_id=chat_id,
            text=cat.say("document_in_parts", filename=document.filename, parts=len(parts)),
            parse_mode=ParseMode.HTML,
        )
    for number, part in enumerate(parts or [b""], start=1):
        name = document.filename if len(parts) <= 1 else f"{document.filename}.part{number}"
        await context.bot.send_document(
            chat_id=chat_id,
            document=InputFile(io.BytesIO(part), filename=name),
            protect_content=True,
        )


async def on_error(update: object, context: Context) -> None:
    """Log the failure (never the person's text) and tell them kindly: saved answers are safe."""
    error = context.error
    if isinstance(error, Forbidden):
        log.info("a person has blocked the bot; nothing sent")
        return
    who = update.effective_user.id if isinstance(update, Update) and update.effective_user else None
    log.error(
        "handling an update failed: %s",
        type(error).__name__,
        exc_info=error,
        extra=logs.fields(
            update=update.update_id if isinstance(update, Update) else "-",
            person=logs.person(who),
        ),
    )
    if (
        isinstance(update, Update)
        and update.effective_chat
        and update.effective_chat.type == "private"
    ):
        try:
            await context.bot.send_message(
                chat_id=update.effective_chat.id,
                text=context.bot_data.engine.cat.say("something_went_wrong"),
                parse_mode=ParseMode.HTML,
            )
        except TelegramError:
            log.warning("could not send the apology either")


def menu(service: App, cat: Catalogue | None = None, supervisor: bool = False) -> list[BotCommand]:
    """Everyone's menu in `cat`'s words; with `supervisor`, the supervisor's commands added (set
    per chat once someone supervises)."""
    cat = cat or service.cat
    commands = [BotCommand(n, cat.commands[n]) for n in service.menu_first if n in cat.commands]
    commands += [BotCommand(f.command, f.menu) for f in cat.flows.values()]
    have = {c.command for c in commands}
    more = [*service.menu, *(service.supervisor_menu if supervisor else ())]
    commands += [
        BotCommand(name, cat.commands[name])
        for name in dict.fromkeys(more)
        if name in cat.commands and name not in have
    ]
    return commands


async def _set_menus(bot: Bot, service: App, changed: dict[int, bool]) -> None:
    """Someone began (or stopped) supervising: their chat's own command menu follows. A menu
    is a convenience: if Telegram says no, everything still works by typing."""
    for chat_id, supervises in changed.items():
        scope = BotCommandScopeChat(chat_id)
        try:  # in each language, as everyone's menu is: Telegram picks by the person's
            for language, commands in menus(service, supervisor=True):
                if supervises:
                    await bot.set_my_commands(commands, scope=scope, language_code=language)
                else:
                    await bot.delete_my_commands(scope=scope, language_code=language)
        except TelegramError as exc:
            log.info("a chat's command menu was not changed: %s", type(exc).__name__)


def menus(service: App, supervisor: bool = False) -> list[tuple[str | None, list[BotCommand]]]:
    """The command menu for everyone (or a supervisor), then one per locale Telegram can name:
    its menus are per two-letter language, so `cy` (or else the first `pt-…`) stands for it."""
    found: list[tuple[str | None, list[BotCommand]]] = [
        (None, menu(service, supervisor=supervisor))
    ]
    chosen: dict[str, Catalogue] = {}
    for code, cat in sorted(service.catalogue.locales.items()):
        language = code.split("-", 1)[0]
        if len(language) == 2 and (language not in chosen or code == language):
            chosen[language] = cat
    found += [(code, menu(service, cat, supervisor)) for code, cat in sorted(chosen.items())]
    return found
