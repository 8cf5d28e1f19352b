"""The Telegram side: Updates become engine inputs; the engine's replies become Bot API calls."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import BaseRequest

from bot import logs
from bot.config import Config
from bot.nudges import Nudger
from bot.transport import AiohttpRequest
from flows.engine import Catalogue
from flows.model import Button, Input, Outcome, Person, Reply, reply_from_json
from flows.service import Service
from flows.team import GROUP_COMMAND, GroupEvent, needs_checks

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
GROUP_CHATS = {"group", "supergroup"}
MENU_BUILTINS = (
    "entries",
    "progress",
    "share",
    "shared",
    "supervisor",
    "supervision",
    "reminders",
    "summaries",
    "teams",
    "support",
    "settings",
    "help",
    "cancel",
    "export",
    "forget",
)
SWEEP_EVERY = 60  # seconds between looks for shares past their expiry
# Messages a second overall. Telegram's limit is about 30; running exactly at it draws the odd
# 429 (two clocks never agree exactly), while 29 draws none and still uses 97% of it
# (bench/nudges.py measures both).
OVERALL_RATE = 29
CONNECTIONS = 16  # HTTP connections to the Bot API (see build_application)
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


def build_application(
    config: Config,
    service: Service,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limited: bool = True,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """A PTB Application with no Updater: updates come through our durable inbox instead.

    Every Bot API call goes through one AIORateLimiter (29 a second overall, 20 a minute per
    group, waiting out a 429's retry_after up to three times). Only the benchmark turns it off,
    to measure our own cost rather than Telegram's limits.
    """
    assert config.token, "a bot token is needed for Telegram mode"
    # Any: the bot's type differs with and without the rate limiter (ExtBot[int] or ExtBot[None]).
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.api_base_url)
        .base_file_url(config.file_base_url)
        .updater(None)
    )
    if rate_limited:
        builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=OVERALL_RATE, max_retries=3))
    if request is None:
        # aiohttp rather than PTB's httpx: a third of the CPU per call (bot/transport.py).
        # Telegram takes 30 messages a second, which 16 connections carry many times over.
        request = AiohttpRequest(connections=CONNECTIONS)
        get_updates_request = get_updates_request or AiohttpRequest(connections=1)
    builder = builder.request(request).get_updates_request(get_updates_request or request)
    app = builder.build()
    app.bot_data["service"] = service
    app.bot_data["nudger"] = Nudger(app.bot, service, app.job_queue)
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
    what = next((name for attr, name in _KINDS if getattr(message, attr, None)), "")
    return Input(kind="unsupported", what=what)


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows]
    )


async def is_admin(bot: Bot, chat_id: int, user_id: int) -> bool:
    """Is this person an administrator (or the owner) of this group, as Telegram says now?"""
    try:
        member = await bot.get_chat_member(chat_id=chat_id, user_id=user_id)
    except TelegramError:  # the bot is not there any more, or the chat is gone
        return False
    return member.status in {ChatMember.ADMINISTRATOR, ChatMember.OWNER}


def group_event(update: Update, bot_id: int, bot_username: str | None) -> GroupEvent | None:
    """The few things in a group the bot acts on; everything else there it ignores."""
    chat = update.effective_chat
    assert chat is not None
    status = update.my_chat_member
    if status is not None:
        if status.new_chat_member.user.id == bot_id and status.new_chat_member.status in {
            ChatMember.LEFT,
            ChatMember.BANNED,
        }:
            return GroupEvent("left", chat.id)
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
    if command.lower() != f"/{GROUP_COMMAND}":
        return None
    if addressed and addressed.lower() != (bot_username or "").lower():
        return None  # another bot's /teamgroup
    # An administrator who "remains anonymous" sends as the group itself: nobody to check.
    anonymous = message.sender_chat is not None and message.sender_chat.id == chat.id
    return GroupEvent("command", chat.id, title=chat.title or "", anonymous=anonymous)


async def on_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a group the bot reads only its own /teamgroup, and notices leaving and migrating."""
    user, chat = update.effective_user, update.effective_chat
    assert chat is not None
    event = group_event(update, context.bot.id, context.bot.username)
    if event is None:
        return
    if event.kind == "command" and not event.anonymous:
        if user is None:
            return
        event = dataclasses.replace(event, admin=await is_admin(context.bot, chat.id, user.id))
    service: Service = context.application.bot_data["service"]
    person = Person(user.id, user.first_name or "") if user else Person(0)
    outcome = await service.handle_group(person, event, update_id=update.update_id)
    rows = [(i, chat.id, r) for i, r in zip(outcome.outbox_ids, outcome.replies, strict=True)]
    rows += [(i, to, r) for i, (to, r) in zip(outcome.others_ids, outcome.others, strict=True)]
    await deliver(context.bot, service, rows)


async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every private-chat update goes to the engine; its answer is committed before we reply."""
    user, chat = update.effective_user, update.effective_chat
    if chat is not None and chat.type in GROUP_CHATS:
        await on_group(update, context)
        return
    if user is None or chat is None or chat.type != "private":
        return
    inp = to_input(update)
    if inp is None:
        return
    service: Service = context.application.bot_data["service"]
    service.bot_username = context.bot.username  # for invite links; known once getMe has run
    person = Person(user.id, user.first_name or "", user.language_code, user.username or "")
    if needs_checks(inp):  # team learning: is the supervisor still an administrator there?
        checks = await service.team_checks(user.id, inp)
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


async def _answer(
    context: ContextTypes.DEFAULT_TYPE, update: Update, chat_id: int, outcome: Outcome
) -> None:
    """Answer the press, then send the saved replies and any files."""
    service: Service = context.application.bot_data["service"]
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
    rows += [(i, to, r) for i, (to, r) in zip(outcome.others_ids, outcome.others, strict=True)]
    if outcome.rearm:
        # Sessions or reminders changed: set the alarm for whatever is now next.
        await context.application.bot_data["nudger"].rearm()
    await deliver(context.bot, service, rows)
    for document in outcome.documents:
        # Made in memory for this request and never stored: if sending fails, /export again.
        await context.bot.send_document(
            chat_id=chat_id,
            document=InputFile(io.BytesIO(document.content), filename=document.filename),
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


async def deliver(bot: Bot, service: Service, rows: list[tuple[int, int, Reply]]) -> None:
    """Send saved replies in order, removing each from the outbox once Telegram has it.

    A network failure leaves the rest in the outbox for the next flush. If the process dies
    between Telegram accepting a message and its row being removed, that one message is sent
    again after the restart: a repeat, never a loss.
    """
    sent: list[int] = []
    later: list[tuple[int, int]] = []
    try:
        for outbox_id, chat_id, reply in rows:
            try:
                await _send(bot, service, chat_id, reply)
            except (Forbidden, BadRequest) as exc:
                # Blocked, or a chat that no longer exists: retrying can never succeed.
                log.warning("dropped a reply Telegram refused: %s", type(exc).__name__)
                if reply.team_post_id is not None and chat_id < 0:
                    # A team post that can't go (the bot is no longer in the group, say):
                    # recorded as not posted, and both people are told.
                    later += [(reply.team_post_id, chat_id)]
            sent.append(outbox_id)
    finally:
        service.store.mark_sent(sent)
        service.store.sending_done(outbox_id for outbox_id, _, _ in rows)
    for post_id, chat_id in later:
        outcome = await service.team_not_posted(post_id, chat_id)
        others = zip(outcome.others_ids, outcome.others, strict=True)
        await deliver(bot, service, [(i, to, r) for i, (to, r) in others])


async def deliver_side_by_side(
    bot: Bot, service: Service, rows: list[tuple[int, int, Reply]], at_once: int = 32
) -> None:
    """Like `deliver`, for many people at once (nudges): each chat's rows in order, up to
    `at_once` chats waiting on Telegram together, all under the one rate limiter."""
    chats: dict[int, list[tuple[int, int, Reply]]] = {}
    for row in rows:
        chats.setdefault(row[1], []).append(row)
    slots = asyncio.Semaphore(at_once)
    failures: list[BaseException] = []

    async def one_chat(chat_rows: list[tuple[int, int, Reply]]) -> None:
        async with slots:
            if failures:  # the network is down: leave the rest in the outbox for a retry
                service.store.sending_done(i for i, _, _ in chat_rows)
                return
            try:
                await deliver(bot, service, chat_rows)
            except Exception as exc:
                failures.append(exc)

    await asyncio.gather(*(one_chat(chat_rows) for chat_rows in chats.values()))
    if failures:
        raise failures[0]


async def _send(bot: Bot, service: Service, chat_id: int, reply: Reply) -> None:
    """One outbox row: a message, or the deletion of a withdrawn summary's copy.

    A summary is checked once more just before it goes (withdrawn or unlinked since it was
    queued: it is never sent), and its message id is kept so a withdrawal can delete it. If
    the share ended while this copy was on its way, the copy is deleted at once.
    """
    if reply.delete_message is not None:
        await bot.delete_message(chat_id=chat_id, message_id=reply.delete_message)
        return
    if reply.edit_message is not None:
        # Sent again after a crash, Telegram answers "message is not modified" (BadRequest):
        # deliver() counts that as done.
        await bot.edit_message_text(
            chat_id=chat_id,
            message_id=reply.edit_message,
            text=reply.html,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard(reply.buttons),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        return
    if reply.share_id is not None and not await service.store.share_live(
        reply.share_id, service.clock()
    ):
        return
    if reply.nudge_id is not None and not await service.nudge_still_useful(reply.nudge_id):
        return  # waited in the outbox (the bot was down) until it was no longer useful
    if reply.team_post_id is not None and not await service.store.team_post_live(
        reply.team_post_id, chat_id, reply.html
    ):
        return
    message = await bot.send_message(
        chat_id=chat_id,
        text=reply.html,
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard(reply.buttons),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        protect_content=True if reply.protect else None,
    )
    if reply.share_id is not None and not await service.store.record_share_message(
        reply.share_id, chat_id, message.message_id, service.clock()
    ):
        await bot.delete_message(chat_id=chat_id, message_id=message.message_id)
    if reply.team_post_id is not None and not await service.store.record_team_message(
        reply.team_post_id, chat_id, message.message_id, service.clock()
    ):
        await bot.delete_message(chat_id=chat_id, message_id=message.message_id)


async def sweep(bot: Bot, service: Service) -> None:
    """Expire shares whose time is up (deleting the supervisor's copies) and send the notices."""
    outcome = await service.sweep()
    await deliver(
        bot,
        service,
        [(i, to, r) for i, (to, r) in zip(outcome.others_ids, outcome.others, strict=True)],
    )


async def flush_outbox(bot: Bot, service: Service) -> None:
    """Send whatever was saved but not sent (after a crash, or a network failure)."""
    while rows := await service.store.outbox_pending():
        await deliver(bot, service, [(i, c, reply_from_json(p)) for i, c, p in rows])


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
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
                text=context.application.bot_data["service"].cat.say("something_went_wrong"),
                parse_mode=ParseMode.HTML,
            )
        except TelegramError:
            log.warning("could not send the apology either")


def menu(service: Service, cat: Catalogue | None = None) -> list[BotCommand]:
    cat = cat or service.cat
    commands = [BotCommand(f.command, f.menu) for f in cat.flows.values()]
    commands += [
        BotCommand(name, cat.commands[name]) for name in MENU_BUILTINS if name in cat.commands
    ]
    return commands


def menus(service: Service) -> list[tuple[str | None, list[BotCommand]]]:
    """The command menu for everyone, then one per locale Telegram can name: its menus are
    per two-letter language, so `cy` (or else the first `pt-…`) stands for its language."""
    found: list[tuple[str | None, list[BotCommand]]] = [(None, menu(service))]
    chosen: dict[str, Catalogue] = {}
    for code, cat in sorted(service.catalogue.locales.items()):
        language = code.split("-", 1)[0]
        if len(language) == 2 and (language not in chosen or code == language):
            chosen[language] = cat
    found += [(language, menu(service, cat)) for language, cat in sorted(chosen.items())]
    return found
