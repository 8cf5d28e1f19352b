"""Long polling through a durable inbox, so no update Telegram considers delivered is ever lost.

PTB's stock Updater confirms updates (moves the offset) as soon as they are queued in memory. Here
the poller writes each batch to the `inbox` table and commits *before* the next getUpdates call
confirms it; the consumer feeds unhandled rows, in order, to `Application.process_update`, and the
engine marks each row handled in the same transaction as the answer it saved. A repeat delivery of
an update already stored is ignored (INSERT OR IGNORE on update_id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut

from bot import health, logs
from bot.delivery import flush_outbox, sweep
from bot.telegram_bot import ALLOWED_UPDATES, SWEEP_EVERY, TelegramApp, menus
from flows.app import App
from flows.store.core import StartupProblem, Store

log = logging.getLogger(__name__)
CONCURRENT_PEOPLE = 64
RETRY_AFTER = 2.0  # seconds before an update left unhandled (a failed download) is tried again
SHUTDOWN_GRACE = 7.0  # seconds to finish what is in hand after SIGTERM, so a stop takes < 10 s


class InboxRunner:
    def __init__(
        self,
        app: TelegramApp,
        service: App,
        poll_timeout: int = 30,
        receive: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """`receive`, if given, brings updates into the inbox instead of long polling (webhook
        mode: bot/webhook.py); it runs until cancelled and calls `wake()` after each store."""
        self.app = app
        self.receive = receive
        self.service = service
        self.store: Store = service.store
        self.poll_timeout = poll_timeout
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENT_PEOPLE)
        self._again = False  # an update was left unhandled to try again (a voice download)

    async def _sweep(self, context: Any) -> None:
        """Expired shares end on time even when nobody is talking to the bot; anything due
        that the nudge alarm somehow missed (a clock jump) goes too."""
        try:
            await sweep(self.app.bot, self.service)
        except Exception as exc:  # a failed sweep is tried again next minute
            log.warning("share expiry sweep failed: %s", type(exc).__name__)
        await self.app.bot_data.alarm.run_due()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """New rows are in the inbox: the consumer looks at once."""
        self._wake.set()

    async def run(self) -> None:
        """Start, poll and consume until `stop()`; then finish the update in hand and shut down."""
        await self._initialize()
        if self._stop.is_set():
            return
        for language, commands in menus(self.service):
            await self.app.bot.set_my_commands(commands, language_code=language)
        if self.receive is None:
            await self.app.bot.delete_webhook()  # getUpdates is refused while a webhook is set
        await self.store.inbox_prune()
        await self.app.start()
        if self.app.job_queue is not None:
            self.app.job_queue.run_repeating(self._sweep, interval=SWEEP_EVERY, first=5)
        # Nudges that fell due while the bot was down go now if still useful (the rest are
        # dropped with a log line); then the alarm is set for the next one.
        catch_up = asyncio.create_task(self.app.bot_data.alarm.run_due(), name="nudges")
        consumer = asyncio.create_task(self._consume(), name="inbox-consumer")
        poller = asyncio.create_task(
            self.receive() if self.receive is not None else self._poll(), name="inbox-receiver"
        )
        stopping = asyncio.create_task(self._stop.wait())
        failure: BaseException | None = None
        try:
            await asyncio.wait({stopping, poller}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            poller.cancel()
            try:
                await poller
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # the receiver could not run (a port in use, say)
                failure = exc
                self._stop.set()
            self._wake.set()
            try:
                # Whatever is cut short here is safe: a unit of work either committed (its
                # replies wait in the outbox for the next start) or never began (its update
                # is still unhandled in the inbox).
                await asyncio.wait_for(consumer, SHUTDOWN_GRACE)
            except TimeoutError:
                log.warning("stopped mid-batch; the rest is kept for the next start")
            catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await catch_up
            await self.app.stop()
            await self.app.shutdown()
        if failure is not None:
            raise StartupProblem(f"Updates cannot be received: {failure}") from failure

    async def _initialize(self) -> None:
        """Reach Telegram (getMe); keep trying while the network is down, fail on a bad token."""
        delay = 1.0
        while not self._stop.is_set():
            try:
                await self.app.initialize()
                return
            except InvalidToken as exc:
                raise StartupProblem(
                    "Telegram did not accept TELEGRAM_BOT_TOKEN; check it with @BotFather."
                ) from exc
            except (TimedOut, NetworkError) as exc:
                log.warning(
                    "cannot reach Telegram yet (%s); retrying in %.0f s", type(exc).__name__, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, 30.0)

    async def _poll(self) -> None:
        offset = await self.store.inbox_next_offset()
        delay = 1.0
        while not self._stop.is_set():
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset,
                    timeout=self.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    read_timeout=self.poll_timeout + 10,
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except (TimedOut, NetworkError, Conflict) as exc:
                log.warning(
                    "getUpdates failed (%s); trying again in %.0f s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            if not updates:
                continue
            await self.store.inbox_add(
                [(u.update_id, json.dumps(u.to_dict()).encode("utf-8")) for u in updates]
            )
            # Only now, with the batch committed, may the next call confirm it.
            offset = max(u.update_id for u in updates) + 1
            self._wake.set()

    async def _consume(self) -> None:
        while True:
            try:
                await flush_outbox(self.app.bot, self.service)
            except (TimedOut, NetworkError) as exc:
                log.warning("could not send saved replies yet (%s)", type(exc).__name__)
                await asyncio.sleep(1.0)
            rows = await self.store.inbox_unhandled(limit=100)
            if not rows:
                await self.store.flush_sent()
                if self._stop.is_set():
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            await self.process_batch(rows)
            if self._again:  # a download failed: give the network a moment before trying again
                self._again = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), RETRY_AFTER)
            if self._stop.is_set():
                await self.store.flush_sent()
                return

    async def process_batch(self, rows: list[tuple[int, bytes]]) -> None:
        """Different people's updates run side by side, each person's strictly in order.

        A reply waiting on the network (or the rate limiter) for one person then never holds up
        everyone else, and one person's database work overlaps another's sending.
        """
        chains: dict[int, asyncio.Task[None]] = {}
        for update_id, raw in rows:
            data = json.loads(raw)
            key = _chat_key(data)
            chains[key] = asyncio.create_task(self._in_turn(chains.get(key), update_id, data))
        await asyncio.gather(*chains.values())

    async def _in_turn(
        self, before: asyncio.Task[None] | None, update_id: int, data: dict[str, Any]
    ) -> None:
        if before is not None:
            await before
        async with self._slots:
            await self.handle_row(update_id, data)

    async def handle_row(self, update_id: int, data: dict[str, Any]) -> None:
        """One stored update through the Application; marked handled here if the engine did not.

        (Updates that are not a person talking to us, or whose handling failed, are marked here:
        a failure has already been logged and apologised for, and retrying it for ever would
        stop everything behind it.)
        """
        started = time.monotonic()
        try:
            await self.app.process_update(Update.de_json(data, self.app.bot))
            health.UPDATES.inc()
            health.LATENCY.observe(time.monotonic() - started)
        except Exception as exc:  # unreadable even to PTB: log its kind, never its content
            log.error(
                "update could not be processed: %s",
                type(exc).__name__,
                extra=logs.fields(update=update_id, person=logs.person(_chat_key(data) or None)),
            )
        else:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "update handled",
                    extra=logs.fields(
                        update=update_id,
                        kind=_kind(data),
                        person=logs.person(_chat_key(data) or None),
                    ),
                )
        if update_id in self.app.bot_data.later:  # it could not begin: left to try again
            self.app.bot_data.later.discard(update_id)
            self._again = True
        elif update_id in self.store.marked:
            self.store.marked.discard(update_id)
        else:
            await self.store.inbox_mark_handled(update_id)


def _chat_key(data: dict[str, Any]) -> int:
    """Whose update this is, so each person's updates keep their order (0: not a person's)."""
    try:
        for kind in ("message", "edited_message", "my_chat_member"):
            if kind in data:
                return int(data[kind]["chat"]["id"])
        if "callback_query" in data:
            return int(data["callback_query"]["from"]["id"])
    except (KeyError, TypeError, ValueError):
        pass
    return 0


def _kind(data: dict[str, Any]) -> str:
    return next((k for k in data if k != "update_id"), "empty")


def _seconds(value: float | timedelta) -> float:
    """RetryAfter.retry_after: seconds, or a timedelta once PTB's timedelta switch is on."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
