"""Sending what the engine saved in the outbox: in order, each row removed once Telegram has it.

Delivery knows no feature by name. A reply may carry a guard (kind, id): the feature that owns
that kind checks it just before it is sent (a summary still shared, a team post still consented,
a reminder still useful), keeps the message id it got, and hears if Telegram refused it.
"""

from __future__ import annotations

import asyncio
import io
import logging

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from bot.limits import bulk
from flows.app import App
from flows.kernel.model import Button, Outcome, Reply, reply_from_json

log = logging.getLogger(__name__)


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows]
    )


def others(outcome: Outcome) -> list[tuple[int, int, Reply]]:
    """(outbox id, chat, reply) of what the gate let through to other people's chats."""
    return [(i, to, r) for i, (to, r) in zip(outcome.others_ids, outcome.others, strict=True)]


async def deliver(bot: Bot, app: App, rows: list[tuple[int, int, Reply]]) -> None:
    """Send saved replies in order, removing each from the outbox once Telegram has it.

    A network failure leaves the rest in the outbox for the next flush. If the process dies
    between Telegram accepting a message and its row being removed, that one message is sent
    again after the restart: a repeat, never a loss.
    """
    sent: list[int] = []
    refused: list[tuple[tuple[str, int], int]] = []
    try:
        for outbox_id, chat_id, reply in rows:
            try:
                await _send(bot, app, chat_id, reply)
            except (Forbidden, BadRequest) as exc:
                # Blocked, or a chat that no longer exists: retrying can never succeed.
                log.warning("dropped a reply Telegram refused: %s", type(exc).__name__)
                if reply.guard is not None:
                    refused.append((reply.guard, chat_id))  # its owner records it
            sent.append(outbox_id)
    finally:
        app.store.mark_sent(sent)
        app.store.sending_done(outbox_id for outbox_id, _, _ in rows)
    for guard, chat_id in refused:
        await deliver(bot, app, others(await app.guard_refused(guard, chat_id)))


async def deliver_side_by_side(
    bot: Bot, app: App, rows: list[tuple[int, int, Reply]], at_once: int = 32
) -> None:
    """Like `deliver`, for many people at once (reminders): each chat's rows in order, up to
    `at_once` chats waiting on Telegram together, all under the one rate limiter."""
    chats: dict[int, list[tuple[int, int, Reply]]] = {}
    for row in rows:
        chats.setdefault(row[1], []).append(row)
    slots = asyncio.Semaphore(at_once)
    failures: list[BaseException] = []

    async def one_chat(chat_rows: list[tuple[int, int, Reply]]) -> None:
        async with slots:
            if failures:  # the network is down: leave the rest in the outbox for a retry
                app.store.sending_done(i for i, _, _ in chat_rows)
                return
            try:
                await deliver(bot, app, chat_rows)
            except Exception as exc:
                failures.append(exc)

    await asyncio.gather(*(one_chat(chat_rows) for chat_rows in chats.values()))
    if failures:
        raise failures[0]


async def _send(bot: Bot, app: App, chat_id: int, reply: Reply) -> None:
    """One outbox row: a message, the new text of a pressed message, or a deletion.

    A guarded message is checked once more just before it goes (a summary withdrawn since it was
    queued is never sent), and its message id is kept so a withdrawal can delete it. If it
    ended while this copy was on its way, the copy is deleted at once.
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
    if reply.guard is not None and not await app.guard_live(reply.guard, chat_id, reply.html):
        return  # withdrawn, unlinked or no longer useful while it waited
    message: Message
    if reply.voice is not None:
        message = await _send_voice(bot, chat_id, reply)
    else:
        message = await bot.send_message(
            chat_id=chat_id,
            text=reply.html,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard(reply.buttons),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            protect_content=True if reply.protect else None,
            disable_notification=True if reply.silent else None,
        )
    if reply.guard is not None and not await app.guard_sent(
        reply.guard, chat_id, message.message_id
    ):
        await bot.delete_message(chat_id=chat_id, message_id=message.message_id)


async def _send_voice(bot: Bot, chat_id: int, reply: Reply) -> Message:
    """A shared voice note, opened from its sealed outbox row into memory only, protected. To
    someone whose Telegram privacy settings allow no voice messages, the same recording as a
    file (Telegram refuses the voice message, never a file)."""
    assert reply.voice is not None
    voice = reply.voice
    common: dict[str, object] = {
        "chat_id": chat_id,
        "caption": reply.html or None,
        "parse_mode": ParseMode.HTML if reply.html else None,
        "protect_content": True if reply.protect else None,
        "disable_notification": True if reply.silent else None,
    }
    try:
        return await bot.send_voice(
            voice=InputFile(io.BytesIO(voice.audio), filename="voice.ogg"),
            duration=voice.duration or None,
            **common,  # type: ignore[arg-type]
        )
    except BadRequest as exc:
        if "VOICE_MESSAGES_FORBIDDEN" not in str(exc.message).upper():
            raise
    return await bot.send_document(
        document=InputFile(io.BytesIO(voice.audio), filename="voice-note.ogg"),
        **common,  # type: ignore[arg-type]
    )


async def sweep(bot: Bot, app: App) -> None:
    """Periodic upkeep (shares past their expiry end, their copies deleted) and its notices,
    sent as bulk: they use only what replies leave of Telegram's limits."""
    with bulk():
        await deliver(bot, app, others(await app.sweep()))


async def flush_outbox(bot: Bot, app: App) -> None:
    """Send whatever was saved but not sent (after a crash, or a network failure)."""
    while rows := await app.store.outbox_pending():
        await deliver(bot, app, [(i, c, reply_from_json(p)) for i, c, p in rows])
